from __future__ import annotations

import json

from checker.gate.formats import report_chunks
from checker.gate.formats.json_report import render_json
from checker.gate.result import CheckResult, pack_plan
from checker.schemas.enums import Verdict
from tests.gate import factories as f


def test_documented_keys_and_round_trip() -> None:
    after = f.pair(verdict=Verdict.FAIL, findings=(f.finding(),))
    result = f.result([after, f.error_pair()], diff=f.diff(f.pair(), after))
    data = json.loads(render_json(result))
    assert list(data) == [
        "schema_version",
        "verdict",
        "exit_code",
        "fail_on",
        "counts",
        "pairs",
        "errors",
        "notes",
        "diff",
        "drift",
    ]
    assert data["schema_version"] == 1 and data["exit_code"] == 2 and data["verdict"] == "FAIL"
    assert data["counts"] == {"pass": 0, "warn": 0, "fail": 1, "error": 1}
    first = data["pairs"][0]
    assert list(first) == [
        "profile",
        "target",
        "gpu",
        "model",
        "verdict",
        "failed",
        "findings",
        "suppressed",
        "figures",
        "error",
        "summary",
        "plan",
    ]
    assert list(first["findings"][0]) == [
        "rule_id",
        "name",
        "severity",
        "estimated",
        "message",
        "key",
        "line",
        "fix",
        "suppressed",
    ]
    assert list(first["figures"]) == [
        "verdict",
        "kv_tokens",
        "max_concurrency",
        "headroom_gib",
        "throughput_toks_per_s",
        "oom_risk",
        "targets_met",
    ]
    assert first["plan"]["feasibility"]["kv"]["tokens"] == 444_464
    assert list(data["diff"]["profiles"][0]) == ["profile", "status", "pairs", "base_error"]
    assert CheckResult.model_validate_json(render_json(result)) == result


def test_written_one_pair_at_a_time_as_the_whole_dump() -> None:
    """A fleet's report is never whole in memory (issue 17), yet reads as the model's dump."""
    failing = f.pair(verdict=Verdict.FAIL, findings=(f.finding(),))
    packed = failing.model_copy(update={"plan": None})
    blob = pack_plan(f.plan(verdict=Verdict.FAIL, findings=(f.finding(),)))
    assert blob is not None
    packed.keep_packed(blob)
    pairs = [f.pair(), failing, packed, f.error_pair(), f.pair(profile='p/x\n"y.yaml')]
    result = f.result(pairs, diff=f.diff(f.pair(), failing))
    result = result.model_copy(update={"notes": ['a "note"\n  "pairs": [],']})
    chunks = list(report_chunks(result, "json"))
    assert len(chunks) == len(pairs) + 2
    assert "".join(chunks) == render_json(result) == result.model_dump_json(indent=2) + "\n"
    empty = f.result([])
    assert render_json(empty) == empty.model_dump_json(indent=2) + "\n"


def test_a_plan_json_would_not_give_back_is_not_packed() -> None:
    """An overflowed figure is null in JSON: such a plan keeps its objects, whole."""
    plan = f.plan(verdict=Verdict.FAIL, findings=(f.finding(),))
    memory = plan.feasibility.memory.model_copy(update={"total_gib": float("inf")})
    broken = plan.model_copy(
        update={"feasibility": plan.feasibility.model_copy(update={"memory": memory})}
    )
    assert pack_plan(plan) is not None and pack_plan(broken) is None
