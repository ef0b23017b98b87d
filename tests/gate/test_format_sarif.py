from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from checker.gate.formats.sarif import render_sarif
from checker.schemas.enums import Severity, Verdict
from tests.gate import factories as f

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def _sarif(result: Any) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(render_sarif(result))
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    return log


def test_valid_sarif_with_rules_and_lines() -> None:
    warn = f.finding("VW204", severity=Severity.WARNING, key="workload.concurrency")
    pairs = [
        f.pair(verdict=Verdict.FAIL, findings=(f.finding(), warn), line=12),
        f.pair(target="L4:1", verdict=Verdict.FAIL, findings=(f.finding(),), line=12),
        f.error_pair(),
    ]
    (run,) = _sarif(f.result(pairs))["runs"]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == ["VWG00", "VW203", "VW204"]  # errors first, one rule per id
    first = run["results"][1]
    assert first["ruleId"] == "VW203" and first["level"] == "error"
    assert rules[first["ruleIndex"]] == "VW203"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "profiles/llama.yaml"
    assert location["region"] == {"startLine": 12}
    assert first["properties"]["targets"] == ["H100-80GB:1", "L4:1"]  # merged across targets
    assert "Fix: Set model.max_model_len" in first["message"]["text"]
    assert [r["level"] for r in run["results"]] == ["error", "error", "warning"]


def test_odd_paths_are_uri_encoded_and_lines_optional() -> None:
    pair = f.pair("my profiles/a#b.yaml", verdict=Verdict.FAIL, findings=(f.finding(),), line=None)
    (result,) = _sarif(f.result([pair]))["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "my%20profiles/a%23b.yaml"
    assert "region" not in location


def test_a_clean_run_is_valid_and_empty() -> None:
    (run,) = _sarif(f.result([f.pair()]))["runs"]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []


def test_the_text_is_what_json_dumps_writes() -> None:
    # written by our JSON writer, byte for byte as json.dumps(indent=2, ensure_ascii=False)
    odd = 'a "quoted" é\\ message\twith\x1b[31m control \U0001f600 characters\n'
    pair = f.pair(verdict=Verdict.FAIL, findings=(f.finding(message=odd),))
    text = render_sarif(f.result([pair, f.error_pair()]))
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
