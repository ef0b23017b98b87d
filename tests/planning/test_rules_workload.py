"""VW405: a length spread that sends requests longer than max_model_len warns, with the
largest ratio that fits as its fix."""

from __future__ import annotations

from typing import Any

from checker.planning.performance.lengths import longest
from checker.schemas.enums import Severity
from tests.planning.plans import fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
FITTED: dict[str, Any] = {"max_model_len": 2048, "prompt_tokens": 1200, "gen_tokens": 300}


def test_a_spread_past_max_model_len_warns_with_the_ratio_that_fits() -> None:
    resp = plan(LLAMA, random_range_ratio=0.5, **FITTED)
    finding = only(resp, "VW405")
    assert finding.severity is Severity.WARNING
    assert finding.key == "workload.random_range_ratio"
    # longest: 1800 in + 450 out = 2250 tokens; the corner past 2048 holds 7 of 100 prompts
    assert (
        "reach 2250 tokens" in finding.message
        and "7 of the benchmark's 100 prompts" in finding.message
    )
    fits = finding.fix_values["workload.random_range_ratio"]
    assert 0 < fits < 0.5
    assert longest(1200, 300, fits) <= 2048 < longest(1200, 300, round(fits + 0.01, 2))


def test_no_warning_without_a_spread_within_the_context_or_for_a_mean_already_too_long() -> None:
    assert not fired(plan(LLAMA, **FITTED), "VW405")
    assert not fired(plan(LLAMA, random_range_ratio=0.3, **FITTED), "VW405")
    too_long = {**FITTED, "prompt_tokens": 2000}
    assert not fired(plan(LLAMA, random_range_ratio=0.5, **too_long), "VW405")


def test_a_request_longer_than_max_model_len_warns() -> None:
    # the workload's own request past the context was out of VW405's scope and went unsaid
    finding = only(plan(LLAMA, **{**FITTED, "gen_tokens": 1000}), "VW208")
    assert finding.severity is Severity.WARNING
    assert finding.key == "workload.prompt_tokens"
    assert "reach 2200 tokens (1200 prompt + 1000 output), above max_model_len 2048" in (
        finding.message
    )
    assert "cuts its output to 848 tokens" in finding.message
    assert finding.fix is not None and "max_model_len to 2200" in finding.fix


def test_a_prompt_that_fills_the_context_is_refused_every_time() -> None:
    finding = only(plan(LLAMA, **{**FITTED, "prompt_tokens": 2048}), "VW208")
    assert "prompts alone (2048 tokens) reach max_model_len 2048" in finding.message
    assert "refuses every request" in finding.message


def test_a_request_that_fills_the_context_exactly_is_served() -> None:
    assert not fired(plan(LLAMA, **{**FITTED, "gen_tokens": 848}), "VW208")
    assert not fired(plan(LLAMA, **FITTED), "VW208")
