"""Serving targets (VW401-VW404): a target the estimate's slow end meets passes, one only its
fast end meets warns, one not even the fast end meets fails, each with a fix."""

from __future__ import annotations

from typing import Any

from checker.hardware.catalog import find_gpu
from checker.planning.planner import run_plan
from checker.schemas.enums import Severity
from checker.schemas.outputs import PlanResponse, SLOStatus
from checker.schemas.slo import SLOTargets
from tests.planning.plans import catalog_model, fired, make_request, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SHORT: dict[str, Any] = {"max_model_len": 8192, "prompt_tokens": 1000, "gen_tokens": 200}


def _plan(concurrency: int = 16, **targets: float) -> PlanResponse:
    return plan(LLAMA, concurrency=concurrency, slo=SLOTargets(**targets), **SHORT)


def _status(resp: PlanResponse, target: str) -> SLOStatus:
    return next(s for s in resp.performance.slos if s.target == target)


def test_generous_targets_are_met_and_fire_nothing() -> None:
    resp = _plan(ttft_p90_ms=5000, tpot_p50_ms=100, min_output_toks_per_s=100)
    assert resp.performance.model == "step-level"
    assert [s.status for s in resp.performance.slos] == ["met", "met", "met"]
    assert not [f for f in resp.feasibility.findings if f.rule_id.startswith("VW4")]


def test_a_ttft_target_below_the_fast_end_fails_with_more_tensor_parallel_as_a_fix() -> None:
    resp = _plan(ttft_p90_ms=1)
    finding = only(resp, "VW401")
    assert finding.severity is Severity.ERROR and finding.estimated
    assert finding.key == "workload.slo.ttft_p90_ms"
    assert finding.fix_values["hardware.tp_size"] == 2
    assert _status(resp, "workload.slo.ttft_p90_ms").status == "missed"
    assert resp.feasibility.verdict.value == "FAIL"


def _stepped_tpot(concurrency: int) -> tuple[float, float]:
    """The step-level model's TPOT range, the one a plan with targets states."""
    p = plan(LLAMA, concurrency=concurrency, step_model=True, **SHORT).performance
    return p.tpot_ms_range or (0.0, 0.0)


def test_a_target_inside_the_range_is_at_risk_a_warning() -> None:
    fast, slow = _stepped_tpot(16)
    resp = _plan(tpot_p50_ms=(fast + slow) / 2)
    finding = only(resp, "VW402")
    assert finding.severity is Severity.WARNING
    assert _status(resp, "workload.slo.tpot_p50_ms").status == "at risk"


def test_a_missed_tpot_target_suggests_a_max_num_seqs_that_meets_it() -> None:
    fast, slow = _stepped_tpot(256)
    resp = _plan(concurrency=256, tpot_p50_ms=fast * 0.8)
    finding = only(resp, "VW402")
    seqs = finding.fix_values["vllm.max_num_seqs"]
    assert 1 <= seqs < 256
    capped = plan(LLAMA, concurrency=256, max_num_seqs=seqs, step_model=True, **SHORT)
    assert (capped.performance.tpot_ms_range or (0, 0))[1] < slow


def test_a_throughput_floor_above_the_estimate_asks_for_replicas() -> None:
    resp = _plan(min_output_toks_per_s=1_000_000)
    finding = only(resp, "VW403")
    assert finding.severity is Severity.ERROR and "replicas" in finding.fix


def test_a_request_rate_the_deployment_cannot_complete_fails() -> None:
    light = plan(LLAMA, request_rate=1.0, **SHORT)
    assert light.performance.max_request_rate is not None
    assert not fired(light, "VW404")
    assert _status(light, "workload.request_rate").status == "met"
    heavy = plan(LLAMA, request_rate=1000.0, **SHORT)
    finding = only(heavy, "VW404")
    assert finding.severity is Severity.ERROR and finding.key == "workload.request_rate"
    # the queue grows: the requests of a rate past capacity wait far longer for a first token
    assert heavy.performance.ttft and light.performance.ttft
    assert heavy.performance.ttft.p90_ms[0] > 10 * light.performance.ttft.p90_ms[1]


def test_a_suppressed_target_no_longer_fails_the_plan() -> None:
    request = make_request(LLAMA, concurrency=16, slo=SLOTargets(ttft_p90_ms=1), **SHORT)
    request = request.model_copy(update={"ignore": {"VW401": "batch jobs"}})
    ignored = run_plan(request, catalog_model(LLAMA), find_gpu("H100-80GB")).feasibility
    assert ignored.verdict.value == "PASS"
    assert [f.rule_id for f in ignored.suppressed] == ["VW401"]


def test_without_targets_or_a_rate_the_cheap_closed_form_answers() -> None:
    resp = plan(LLAMA, concurrency=16, **SHORT)
    assert resp.performance.model == "closed-form" and resp.performance.ttft is None
    assert resp.performance.slos == []
