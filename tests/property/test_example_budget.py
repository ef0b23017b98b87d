"""The property suite generates at least 10,000 profiles per run; lowering a budget fails here."""

from __future__ import annotations

from tests.property import test_engine_invariants, test_plan_or_error, test_profile_text


def test_the_suite_generates_at_least_ten_thousand_profiles() -> None:
    invariant_tests = [name for name in dir(test_engine_invariants) if name.startswith("test_")]
    total = (
        test_profile_text.TEXT_EXAMPLES
        + test_plan_or_error.PIPELINE_EXAMPLES
        + test_engine_invariants.PAIRS * len(invariant_tests)
    )
    assert len(invariant_tests) == 5
    assert total >= 10_000, total
