"""JSON report: ``CheckResult`` as JSON; its field names are the documented, stable keys."""

from __future__ import annotations

from checker.gate.result import CheckResult


def render_json(result: CheckResult, color: bool = False) -> str:
    return result.model_dump_json(indent=2) + "\n"
