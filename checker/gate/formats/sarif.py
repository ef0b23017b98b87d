"""SARIF 2.1.0 for code scanning: one rule per finding id, one result per finding and line."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from checker import __version__
from checker.gate.formats.common import Located, located
from checker.gate.result import CheckResult
from checker.schemas.enums import Severity
from checker.schemas.json_text import json_text

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render_sarif(result: CheckResult, color: bool = False) -> str:
    items = located(result)
    rules: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.rule_id not in rules:  # the first item of each rule describes it
            rules[item.rule_id] = _rule(item)
    index = {rule_id: i for i, rule_id in enumerate(rules)}
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "vllm-wizard",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the checkout"}}},
                "results": [_result(item, index[item.rule_id]) for item in items],
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    # the text of json.dumps(log, indent=2, ensure_ascii=False), in half its time
    return json_text(log, indent=2) + "\n"


def _rule(item: Located) -> dict[str, Any]:
    words = item.name.replace("-", " ")
    return {
        "id": item.rule_id,
        "name": "".join(w.capitalize() for w in words.split()) or item.rule_id,
        "shortDescription": {"text": words.capitalize() or item.rule_id},
        "defaultConfiguration": {"level": _LEVEL[item.severity]},
        "properties": {"tags": ["vllm", "serving-profile"]},
    }


def _result(item: Located, rule_index: int) -> dict[str, Any]:
    on = f" [{', '.join(item.targets)}]" if item.targets else ""
    text = f"{item.message}{on}" + (f" Fix: {item.fix}" if item.fix else "")
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": quote(item.path), "uriBaseId": "%SRCROOT%"}
    }
    if item.line:
        physical["region"] = {"startLine": item.line}
    result: dict[str, Any] = {
        "ruleId": item.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[item.severity],
        "message": {"text": text},
        "locations": [{"physicalLocation": physical}],
        "properties": {"targets": list(item.targets)},
    }
    if item.suppressed is not None:  # code scanning lists it as dismissed, with the reason
        result["suppressions"] = [{"kind": "inSource", "justification": item.suppressed}]
    return result
