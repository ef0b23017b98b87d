"""Report formats of the gate, one module each, looked up by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from checker.gate.result import CheckResult

Reporter = Callable[["CheckResult", bool], str]  # (result, colour) -> report text

# name -> (module, function): a run imports only the format it prints (a hook's cold start)
REPORTER_BY_NAME: dict[str, tuple[str, str]] = {
    "text": ("checker.gate.formats.text", "render_text"),
    "json": ("checker.gate.formats.json_report", "render_json"),
    "markdown": ("checker.gate.formats.markdown", "render_markdown"),
    "sarif": ("checker.gate.formats.sarif", "render_sarif"),
    "github": ("checker.gate.formats.github", "render_github"),
}


def render_report(result: CheckResult, name: str, *, color: bool = False) -> str:
    module, function = REPORTER_BY_NAME[name]
    reporter = cast(Reporter, getattr(importlib.import_module(module), function))
    return reporter(result, color)
