from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from checker.gate.formats import report_chunks
from checker.gate.formats.json_report import render_json
from checker.gate.result import pack_plan, record_json
from checker.schemas.enums import Verdict
from checker.schemas.outputs import PlanResponse, Recommendation
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
    assert "".join(chunks) == render_json(result) == record_json(result) + "\n"
    assert json.loads(record_json(packed))["plan"] == json.loads(blob)
    empty = f.result([])
    assert render_json(empty) == record_json(empty) + "\n"


def test_a_plan_json_would_not_give_back_is_not_packed() -> None:
    """An overflowed figure is null in JSON: such a plan keeps its objects, whole."""
    plan = f.plan(verdict=Verdict.FAIL, findings=(f.finding(),))
    memory = plan.feasibility.memory.model_copy(update={"total_gib": float("inf")})
    broken = plan.model_copy(
        update={"feasibility": plan.feasibility.model_copy(update={"memory": memory})}
    )
    assert pack_plan(plan) is not None and pack_plan(broken) is None
    # a free-form value JSON gives back as another type: a tuple comes back a list
    odd = plan.model_copy(
        update={"recommendations": [Recommendation(key="k", value=(1, 2), reason="r")]}
    )
    assert pack_plan(odd) is None


def _any_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Where a plan holds free-form (``Any``) values: attribute paths, [] for a list item."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        path, annotation = prefix + name, field.annotation
        if annotation is Any or Any in get_args(annotation):
            found.add(path)
        union = get_origin(annotation) in (Union, UnionType)
        for arg in get_args(annotation) if union else (annotation,):
            inner, mark = (get_args(arg)[0], "[].") if get_origin(arg) is list else (arg, ".")
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                found |= _any_paths(inner, path + mark)
    return found


def test_a_plan_packs_without_being_built_again_and_its_free_values_are_all_looked_at(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Packing a plain plan (no overflowed figure, free-form values JSON's own) builds no
    objects to compare (issue 17); _free_values reads every free-form field there is."""
    assert _any_paths(PlanResponse) == {
        "feasibility.findings[].fix_values",
        "feasibility.suppressed[].fix_values",
        "config.extra_args",
        "recommendations[].value",
    }
    plan = f.plan(verdict=Verdict.FAIL, findings=(f.finding(),))
    odd = plan.model_copy(
        update={"recommendations": [Recommendation(key="k", value=(1, 2), reason="r")]}
    )

    def refused(*args: object, **kwargs: object) -> PlanResponse:
        raise AssertionError("built again")

    monkeypatch.setattr(PlanResponse, "model_validate_json", refused)
    assert pack_plan(plan) == plan.model_dump_json().encode()
    with pytest.raises(AssertionError, match="built again"):  # a tuple: JSON gives a list
        pack_plan(odd)
