"""One verdict: a shortfall's severity follows what it depends on, never its size."""

from __future__ import annotations

import pytest

from checker.planning.verdict import judge, verdict_of
from checker.schemas.enums import FailOn, OOMRisk, Severity, Verdict
from tests.planning.plans import fired, only, plan

GPT_OSS = "openai/gpt-oss-20b"
GEMMA = "google/gemma-2-9b-it"
ON_L4 = {"max_model_len": 131072, "version": "0.19.0", "concurrency": 8}
RISK_RULES = ("VW205", "VW303", "VW304")


def test_a_small_warmup_shortfall_is_the_same_error_as_a_large_one() -> None:
    small = only(plan(GPT_OSS, "L4", util=0.92, **ON_L4), "VW205")  # 0.47 GiB short
    large = only(plan(GEMMA, "L4", util=0.99, version="0.19.0"), "VW205")  # 1.4 GiB short
    assert "0.47 GiB more" in small.message
    for found in (small, large):
        assert found.severity is Severity.ERROR and found.estimated
        assert "warming up sampler with" in found.message


@pytest.mark.parametrize(("model", "gpu", "extra"), [(GPT_OSS, "L4", ON_L4), (GEMMA, "L4", {})])
def test_a_high_risk_fails_and_an_estimated_finding_never_decides_fits(
    model: str, gpu: str, extra: dict[str, object]
) -> None:
    for step in range(80, 100):
        resp = plan(model, gpu, util=step / 100, **extra)
        f = resp.feasibility
        risk_findings = [x for r in RISK_RULES for x in fired(resp, r)]
        assert all(x.estimated for x in risk_findings)
        assert all((x.severity is Severity.ERROR) == (x.rule_id != "VW304") for x in risk_findings)
        if f.oom_risk is OOMRisk.HIGH and f.kv is not None:
            assert f.verdict is Verdict.FAIL and risk_findings, step
        deterministic = [x for x in f.findings if x.severity is Severity.ERROR and not x.estimated]
        assert f.fits == (not deterministic)


def test_a_medium_risk_is_a_warning_finding() -> None:
    resp = plan("Qwen/Qwen2.5-1.5B", "L4", util=0.91, max_model_len=8192, version="0.19.0")
    assert resp.feasibility.oom_risk is OOMRisk.MEDIUM
    found = only(resp, "VW304")
    assert found.severity is Severity.WARNING and found.estimated
    assert resp.feasibility.verdict is Verdict.WARN


def test_fail_on_warning_turns_warnings_into_errors_and_fails() -> None:
    resp = plan("Qwen/Qwen2.5-1.5B", "L4", util=0.91, max_model_len=8192, version="0.19.0")
    strict = judge(resp, FailOn.WARNING)
    assert strict.feasibility.verdict is Verdict.FAIL
    assert {x.severity for x in strict.feasibility.findings} == {Severity.ERROR}
    assert judge(resp, FailOn.ERROR) == resp
    assert verdict_of([]) is Verdict.PASS


def test_a_workload_short_of_kv_headroom_is_one_warning_at_the_concurrency() -> None:
    def at(concurrency: int) -> list[tuple[str, str]]:
        resp = plan(
            "meta-llama/Llama-3.1-8B-Instruct",
            "L4",
            util=0.85,
            max_model_len=8192,
            version="0.19.0",
            concurrency=concurrency,
            prompt_tokens=7000,
            gen_tokens=1000,
        )
        assert resp.feasibility.verdict is Verdict.WARN
        return [(f.rule_id, f.key) for f in resp.feasibility.findings]

    assert at(2) == [("VW304", "workload.concurrency")]  # fits, under the policy's headroom
    assert at(6) == [("VW204", "workload.concurrency")]  # does not fit: VW204 says it once


def test_a_failing_plan_unchanged_by_its_policy_is_returned_as_it_is() -> None:
    # the gate judges every failing pair: its errors are errors under either policy, so
    # neither the findings nor the plan are copied
    resp = plan(GEMMA, "L4", util=0.99, version="0.19.0")
    assert resp.feasibility.verdict is Verdict.FAIL
    assert judge(resp, FailOn.ERROR) is resp
    strict = judge(resp, FailOn.WARNING)
    errors = [f for f in resp.feasibility.findings if f.severity is Severity.ERROR]
    assert errors and all(any(e is s for s in strict.feasibility.findings) for e in errors)
