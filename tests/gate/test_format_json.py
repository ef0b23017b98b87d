from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from checker.gate.formats import report_chunks
from checker.gate.formats.json_report import render_json
from checker.gate.result import PACKED, pack_plan
from checker.schemas.enums import Verdict
from checker.schemas.outputs import Recommendation
from checker.schemas.records import record_json
from tests.gate import factories as f

DATA = Path(__file__).parent / "data"
_ODD_MESSAGE = "No KV cache: \u2014 \u00e9 \u201cquoted\u201d \x1b[31m"


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


def test_the_report_is_the_one_pydantic_wrote_byte_for_byte() -> None:
    """The records' explicit serializer writes what the pydantic models of vllm-wizard before
    issue 17 wrote (tests/gate/data/check-report.golden.json, written by them): key order,
    non-ASCII kept, floats as ``1e-7``/``1e+16``/``0.00001``, inf and nan as null, a packed
    plan written whole."""
    failing = f.pair(verdict=Verdict.FAIL, findings=(f.finding(message=_ODD_MESSAGE),))
    small = f.plan(verdict=Verdict.FAIL, findings=(f.finding(),), concurrency=1e-5, headroom=-1e-7)
    packed = replace(
        failing, plan=None, profile="profiles/packed.yaml", packed_plan=pack_plan(small)
    )
    assert packed.packed_plan is not None
    odd = f.pair(profile='p/\u00fc\n"y.yaml', headroom=float("inf"), concurrency=1e16)
    odd = replace(odd, figures=replace(odd.figures, headroom_gib=float("nan"), targets_met=(1, 2)))
    result = f.result(
        [f.pair(), failing, packed, f.error_pair(), odd], diff=f.diff(f.pair(), failing)
    )
    result = replace(result, notes=['a "note"\n  "pairs": [],'])
    assert render_json(result) == (DATA / "check-report.golden.json").read_text(encoding="utf-8")


def test_written_one_pair_at_a_time_as_the_whole_dump() -> None:
    """A fleet's report is never whole in memory (issue 17), yet reads as the model's dump."""
    failing = f.pair(verdict=Verdict.FAIL, findings=(f.finding(),))
    blob = pack_plan(f.plan(verdict=Verdict.FAIL, findings=(f.finding(),)))
    assert blob is not None
    packed = replace(failing, plan=None, packed_plan=blob)
    pairs = [f.pair(), failing, packed, f.error_pair(), f.pair(profile='p/x\n"y.yaml')]
    result = f.result(pairs, diff=f.diff(f.pair(), failing))
    result = replace(result, notes=['a "note"\n  "pairs": [],'])
    chunks = list(report_chunks(result, "json"))
    assert len(chunks) == len(pairs) + 2
    whole = replace(result, pairs=[p.unpacked() for p in result.pairs])
    dump = record_json(whole, exclude={"pairs": {"__all__": PACKED}})
    assert "".join(chunks) == render_json(result) == dump + "\n"
    assert json.loads(render_json(result))["pairs"][2]["plan"] == json.loads(
        record_json(failing.plan)
    )
    empty = f.result([])
    assert render_json(empty) == record_json(empty) + "\n"


def test_a_packed_plan_comes_back_as_it_was() -> None:
    """A FAIL pair keeps its plan packed (issue 17): an overflowed figure and a free-form value
    of any type come back as they were, and the JSON report writes the plan whole."""
    plan = f.plan(verdict=Verdict.FAIL, findings=(f.finding(),))
    memory = replace(plan.feasibility.memory, total_gib=float("inf"))
    odd = replace(
        plan,
        feasibility=replace(plan.feasibility, memory=memory),
        recommendations=[Recommendation(key="k", value=(1, 2), reason="r")],
    )
    pair = replace(f.pair(verdict=Verdict.FAIL), plan=None, packed_plan=pack_plan(odd))
    assert pair.full_plan() == odd
    assert json.loads(record_json(pair.unpacked(), exclude=PACKED))["plan"] == json.loads(
        record_json(odd)
    )
