"""Plain records (issue 17): what the planner and the gate compute, with no pydantic model to
build at a cold start, written as JSON the way pydantic wrote it."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import FrozenInstanceError

import pytest

from checker.gate.result import Figures, PairResult
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding, PerfEstimate, SLOStatus
from checker.schemas.records import Record, record, record_json


def test_a_whole_number_in_a_float_field_is_kept_as_a_float() -> None:
    """As pydantic did: the JSON writes 969.0 for a figure that happens to be whole."""
    perf = PerfEstimate(decode_toks_per_s_range=(969, 1455), max_request_rate=(1, 2.5))
    assert perf.decode_toks_per_s_range == (969.0, 1455.0)
    assert all(type(v) is float for v in perf.decode_toks_per_s_range)
    slo = SLOStatus(target="workload.slo.ttft_p90_ms", limit=200, estimate=(1, 2), status="met")
    assert type(slo.limit) is float
    copied = perf.model_copy(update={"ttft_ms_range": (3, 4)})
    assert json.loads(record_json(copied))["ttft_ms_range"] == [3.0, 4.0]
    assert '"decode_toks_per_s_range": [\n    969.0,' in record_json(perf)
    # whole-number and text fields are left as they are
    figures = Figures(verdict="PASS", kv_tokens=10, targets_met=(1, 2), max_concurrency=3)
    assert figures.kv_tokens == 10 and figures.targets_met == (1, 2)
    assert type(figures.max_concurrency) is float


def test_json_keeps_field_order_and_writes_overflow_as_null() -> None:
    finding = Finding(
        rule_id="VW203",
        name="kv-too-small",
        severity=Severity.ERROR,
        message="caf\u00e9 \u2014 \x1b[31m",
        key="model.max_model_len",
        fix_values={"gpu_memory_utilization": float("inf"), "n": float("nan"), "t": (1, 2)},
    )
    text = record_json(finding, indent=None)
    assert text == (
        '{"rule_id":"VW203","name":"kv-too-small","severity":"error","estimated":false,'
        '"message":"caf\u00e9 \u2014 \\u001b[31m","key":"model.max_model_len","fix":"",'
        '"fix_values":{"gpu_memory_utilization":null,"n":null,"t":[1,2]},"suppressed":null}'
    )


@pytest.mark.parametrize("value", [1e-5, 1e-7, 1e16, 1.5e20, -0.0, 0.1 + 0.2])
def test_floats_are_written_as_pydantic_wrote_them(value: float) -> None:
    from pydantic import BaseModel

    class Old(BaseModel):
        x: float

    new = SLOStatus(target="t", limit=value, estimate=(value, value), status="met")
    assert json.dumps(json.loads(record_json(new, indent=None))["limit"]) == json.dumps(value)
    assert record_json(new.limit, indent=None) == Old(x=value).model_dump_json()[5:-1]


def test_a_pair_result_survives_a_worker_process() -> None:
    """audit --jobs N sends each pair back from a worker: records pickle."""
    pair = PairResult(
        profile="p.yaml",
        target="L4:1",
        gpu=None,
        model="m",
        verdict="ERROR",
        failed=True,
        figures=Figures(verdict="ERROR"),
    )
    assert pickle.loads(pickle.dumps(pair)) == pair


def test_a_cold_check_builds_no_pydantic_model_for_its_results() -> None:
    """``check`` validates the profile with pydantic; the plan and the gate result are records,
    so importing them builds (and defines) no pydantic model."""
    code = (
        "import sys\n"
        "import checker.gate.check, checker.gate.formats.json_report, checker.gate.audit.run\n"
        "from pydantic import BaseModel\n"
        "def every(c):\n"
        "    for s in c.__subclasses__():\n"
        "        yield s\n"
        "        yield from every(s)\n"
        "mods = ('checker.schemas.outputs', 'checker.gate.result', 'checker.gate.audit.run',\n"
        "        'checker.gate.audit.cost', 'checker.gate.audit.readout')\n"
        "print(sorted(c.__qualname__ for c in every(BaseModel) if c.__module__.startswith(mods)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_record_is_frozen_compared_by_its_fields_and_copies_whole() -> None:
    """What pydantic's frozen models gave: no assignment, equality and hash by value, a copy
    with fields replaced (built afresh: its floats kept), and a readable repr."""
    one = SLOStatus(target="t", limit=1.5, estimate=(1.0, 2.0), status="met")
    same = SLOStatus(target="t", limit=1.5, estimate=(1.0, 2.0), status="met")
    assert one == same and hash(one) == hash(same) and one != one.model_copy(update={"limit": 2})
    assert one.model_copy(update={"limit": 2}).limit == 2.0
    with pytest.raises(FrozenInstanceError):
        one.limit = 3.0  # type: ignore[misc]
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        SLOStatus(target="t", limit=1.5, estimate=(1.0, 2.0), status="met", bogus=1)  # type: ignore[call-arg]
    assert repr(one) == "SLOStatus(target='t', limit=1.5, estimate=(1.0, 2.0), status='met')"
    assert pickle.loads(pickle.dumps(one)) == one


@record
class _OneField(Record):
    value: float


def test_a_one_field_record_reads_compares_and_pickles_its_field() -> None:
    """A record's values are read as a tuple whatever its width (a single name read alone
    would give the bare value)."""
    one = _OneField(value=2)
    assert one == _OneField(value=2.0) and hash(one) == hash(_OneField(value=2.0))
    assert repr(one) == "_OneField(value=2.0)"
    back = pickle.loads(pickle.dumps(one))
    assert back == one and type(back.value) is float
