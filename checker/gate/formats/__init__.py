"""Report formats of the gate, one module each, looked up by name."""

from __future__ import annotations

from collections.abc import Callable

from checker.gate.formats.github import render_github
from checker.gate.formats.json_report import render_json
from checker.gate.formats.markdown import render_markdown
from checker.gate.formats.sarif import render_sarif
from checker.gate.formats.text import render_text
from checker.gate.result import CheckResult

Reporter = Callable[[CheckResult, bool], str]  # (result, colour) -> report text

REPORTER_BY_NAME: dict[str, Reporter] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
    "sarif": render_sarif,
    "github": render_github,
}


def render_report(result: CheckResult, name: str, *, color: bool = False) -> str:
    return REPORTER_BY_NAME[name](result, color)
