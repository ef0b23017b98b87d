"""GitHub workflow-command annotations (``::error file=...,line=N,title=...::message``).

GitHub shows at most 10 errors, 10 warnings and 10 notices per step: the most severe come
first, and one notice says how many more there are. Untrusted text is escaped the way the
runner unescapes it, so a message can never end the command or start another one.
"""

from __future__ import annotations

from checker.gate.formats.common import Located, headline, located, one_line
from checker.gate.result import CheckResult
from checker.render.escape import visible
from checker.schemas.enums import Severity

PER_STEP = 10
_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return visible(escaped)  # ESC or bidi overrides never reach the log or the annotation


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: CheckResult, color: bool = False) -> str:
    by_kind: dict[Severity, list[Located]] = {s: [] for s in _COMMAND}
    for item in located(result):
        by_kind[item.severity].append(item)
    left_out = {s: max(0, len(items) - PER_STEP) for s, items in by_kind.items()}
    if any(left_out.values()):  # the summary notice takes one notice slot
        left_out[Severity.INFO] = max(0, len(by_kind[Severity.INFO]) - (PER_STEP - 1))
    lines = [
        _command(item)
        for severity, items in by_kind.items()
        for item in items[: len(items) - left_out[severity]]
    ]
    if any(left_out.values()):
        parts = ", ".join(f"{n} {_COMMAND[s]}(s)" for s, n in left_out.items() if n)
        message = f"{parts} more not shown (GitHub shows 10 of each per step): see the report"
        lines.append(f"::notice title=vllm-wizard::{escape_data(message)}")
    lines.append(one_line(headline(result)))
    return "\n".join(lines) + "\n"


def _command(item: Located) -> str:
    props = [f"file={escape_property(item.path)}"]
    if item.line:
        props.append(f"line={item.line}")
    on = f" on {', '.join(item.targets)}" if item.targets else ""
    props.append(f"title={escape_property(f'vllm-wizard {item.rule_id}{on}')}")
    message = item.message + (f"\nFix: {item.fix}" if item.fix else "")
    return f"::{_COMMAND[item.severity]} {','.join(props)}::{escape_data(message)}"
