"""Report formats of the gate, one module each, looked up by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TextIO, cast

if TYPE_CHECKING:
    from checker.gate.result import CheckResult

Reporter = Callable[["CheckResult", bool], str]  # (result, colour) -> report text
Chunks = Callable[["CheckResult"], Iterable[str]]  # result -> the same text in pieces

# name -> (module, function): a run imports only the format it prints (a hook's cold start)
REPORTER_BY_NAME: dict[str, tuple[str, str]] = {
    "text": ("checker.gate.formats.text", "render_text"),
    "json": ("checker.gate.formats.json_report", "render_json"),
    "markdown": ("checker.gate.formats.markdown", "render_markdown"),
    "sarif": ("checker.gate.formats.sarif", "render_sarif"),
    "github": ("checker.gate.formats.github", "render_github"),
}


# the formats that print a failing pair's whole plan (the others: its findings and figures)
PLAN_FORMATS = frozenset({"json", "markdown"})

# name -> (module, function) of the formats written in pieces, the same text as rendered
CHUNKS_BY_NAME: dict[str, tuple[str, str]] = {
    "json": ("checker.gate.formats.json_report", "json_chunks"),
    "markdown": ("checker.gate.formats.markdown", "markdown_chunks"),
}


def render_report(result: CheckResult, name: str, *, color: bool = False) -> str:
    module, function = REPORTER_BY_NAME[name]
    reporter = cast(Reporter, getattr(importlib.import_module(module), function))
    return reporter(result, color)


def report_chunks(result: CheckResult, name: str, *, color: bool = False) -> Iterable[str]:
    """The text of ``render_report``, in pieces where the format streams (json, markdown: a
    fleet's report is written without ever being whole in memory), else in one."""
    if name not in CHUNKS_BY_NAME:
        return [render_report(result, name, color=color)]
    module, function = CHUNKS_BY_NAME[name]
    chunks = cast(Chunks, getattr(importlib.import_module(module), function))
    return chunks(result)


def write_report(result: CheckResult, name: str, out: TextIO, *, color: bool = False) -> None:
    for chunk in report_chunks(result, name, color=color):
        out.write(chunk)
