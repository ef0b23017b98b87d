"""Every generated profile text either plans on each of its GPU targets or fails with our error.

This is the path ``vllm-wizard plan --profile`` and the gate take: text -> profile -> one request
per target -> model metadata (offline: catalog) -> GPU -> plan. Any exception that is not a
CheckerError would reach the user as an internal error, so it fails the test.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from checker.errors import CheckerError
from checker.pipeline import plan_request
from checker.planning.engine.releases import has_behaviour
from checker.schemas.enums import OOMRisk, Severity, Verdict
from checker.schemas.profile_io import load_profile_text, profile_targets, profile_to_request
from tests.property.engine_helpers import has_linear_state, model_info
from tests.property.strategies import profile_texts

# Part of the suite's 10,000 generated profiles per run (see test_example_budget.py).
PIPELINE_EXAMPLES = 6000


@settings(
    max_examples=PIPELINE_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(profile_texts())
def test_every_profile_plans_or_fails_with_a_checker_error(text: str) -> None:
    try:
        profile = load_profile_text(text, "p.yaml").profile
        targets = profile_targets(profile)
    except CheckerError:
        return
    for target in targets:
        try:
            plan = plan_request(profile_to_request(profile, target), offline=True)
        except CheckerError as exc:
            assert str(exc) and "\n" not in str(exc)
            continue
        feasibility = plan.feasibility
        # fits: no start-up error; FAIL: that, or a high OOM risk (an estimated error)
        high = [f for f in feasibility.findings if f.estimated and f.severity is Severity.ERROR]
        assert (feasibility.verdict is Verdict.FAIL) == (not feasibility.fits or bool(high))
        assert bool(high) <= (feasibility.oom_risk is OOMRisk.HIGH)
        assert feasibility.memory.requested_gib <= feasibility.memory.total_gib
        assert feasibility.num_gpus_used == (
            feasibility.tensor_parallel_size * feasibility.pipeline_parallel_size
        )
        kv = feasibility.kv
        if kv is None:
            continue
        if has_behaviour("kv_tokens_from_concurrency", plan.config.vllm_version):
            # as 0.33.0 reports it: concurrency x max_model_len (concurrency shown rounded)
            length = feasibility.max_model_len
            assert abs(kv.tokens - kv.max_concurrency * length) <= 0.005 * length + 1
        elif not has_linear_state(model_info(plan.model.model_id)):
            assert kv.tokens == kv.num_blocks // kv.num_groups * kv.block_size  # as reported
