"""The step-level continuous-batching model behaves like vLLM's V1 scheduler."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from checker.planning.performance.batching import (
    STEADY_AFTER,
    Limits,
    Result,
    StepCost,
    StepLoad,
    Workload,
    percentile,
    send_span_s,
    simulate,
)
from tests.planning import batching_reference

ROOMY = Limits(max_num_batched_tokens=2048, max_num_seqs=256, kv_tokens=1_000_000)


def fixed_step(load: StepLoad) -> float:
    """10 ms a step, plus 1 ms per 1000 prefill tokens: memory bound decode, compute bound
    prefill."""
    return 0.010 + load.prefill_tokens / 1_000_000


def test_one_request_at_a_time_gets_its_first_token_after_one_prefill_step() -> None:
    work = Workload(prompts=5, prompt_tokens=500, output_tokens=11, concurrency=1)
    result = simulate(work, ROOMY, fixed_step, request_s=0.02)
    assert math.isclose(result.median_ttft_s(), 0.02 + 0.0105)
    assert math.isclose(result.median_tpot_s(), 0.010)


def test_a_long_prompt_is_prefilled_in_chunks_of_the_token_budget() -> None:
    work = Workload(prompts=1, prompt_tokens=5000, output_tokens=2)
    result = simulate(work, ROOMY, fixed_step)
    assert result.steps == math.ceil(5000 / 2048) + 1  # three chunks, then one decode step


def test_throughput_at_fixed_concurrency_obeys_littles_law() -> None:
    work = Workload(prompts=64, prompt_tokens=100, output_tokens=200, concurrency=8)
    result = simulate(work, ROOMY, fixed_step)
    per_request_s = result.median_ttft_s() + 199 * result.median_tpot_s()
    assert math.isclose(result.output_tok_s, 8 * 200 / per_request_s, rel_tol=0.05)


def test_a_burst_queues_prefill_behind_max_num_seqs_and_the_token_budget() -> None:
    few = simulate(Workload(prompts=4, prompt_tokens=1000, output_tokens=50), ROOMY, fixed_step)
    many = simulate(Workload(prompts=400, prompt_tokens=1000, output_tokens=50), ROOMY, fixed_step)
    assert many.median_ttft_s() > 10 * few.median_ttft_s()
    capped = Limits(max_num_batched_tokens=2048, max_num_seqs=16, kv_tokens=1_000_000)
    slow = simulate(Workload(prompts=64, prompt_tokens=100, output_tokens=50), capped, fixed_step)
    fast = simulate(Workload(prompts=64, prompt_tokens=100, output_tokens=50), ROOMY, fixed_step)
    assert slow.output_tok_s < fast.output_tok_s


def test_a_full_kv_cache_preempts_and_recomputes_the_latest_request() -> None:
    tight = Limits(max_num_batched_tokens=4096, max_num_seqs=64, kv_tokens=3000)
    work = Workload(prompts=8, prompt_tokens=500, output_tokens=400)
    result = simulate(work, tight, fixed_step)
    assert result.preemptions > 0
    assert result.output_tokens == 8 * 400
    roomy = simulate(work, ROOMY, fixed_step)
    assert result.duration_s > roomy.duration_s


def test_a_poisson_rate_is_reproducible_and_light_load_sees_no_queue() -> None:
    work = Workload(prompts=50, prompt_tokens=200, output_tokens=20, request_rate=0.5)
    first, again = simulate(work, ROOMY, fixed_step), simulate(work, ROOMY, fixed_step)
    assert first.ttft_s == again.ttft_s
    assert max(first.ttft_s) < 0.05  # one request every 2 s finishes in ~0.2 s


def test_a_shared_prefix_is_computed_once_and_held_once_in_the_pool() -> None:
    work = Workload(prompts=8, prompt_tokens=2000, output_tokens=20, concurrency=1)
    shared = Workload(**{**work.__dict__, "cached_prefix": 1600})

    def prefill_heavy(load: StepLoad) -> float:
        return 0.010 + load.prefill_tokens / 100_000

    cold = simulate(work, ROOMY, prefill_heavy)
    warm = simulate(shared, ROOMY, prefill_heavy)
    assert warm.median_ttft_s() < 0.7 * cold.median_ttft_s()
    # a pool for 8 requests without sharing holds far more of them with the prefix held once
    pool = Limits(max_num_batched_tokens=16384, max_num_seqs=256, kv_tokens=8 * 2020)
    burst = Workload(prompts=40, prompt_tokens=2000, output_tokens=20)
    alone = simulate(burst, pool, fixed_step)
    together = simulate(
        Workload(**{**burst.__dict__, "cached_prefix": 1600}),
        Limits(**{**pool.__dict__, "shared_tokens": 1600}),
        fixed_step,
    )
    assert together.duration_s < alone.duration_s / 2


def test_with_prefix_caching_a_preempted_request_resumes_from_its_surviving_blocks() -> None:
    # long prompts over a pool for about two: a request admitted on its first chunk is
    # preempted when the pool fills; with prefix caching its blocks outlive the preemption
    tight = Limits(max_num_batched_tokens=2048, max_num_seqs=64, kv_tokens=20_000)
    work = Workload(prompts=12, prompt_tokens=8000, output_tokens=50)
    recompute = simulate(work, tight, fixed_step)
    resume = simulate(replace(work, prefix_caching=True), tight, fixed_step)
    assert resume.preemptions > 0
    assert resume.duration_s < recompute.duration_s  # its blocks are found, not recomputed


def test_a_step_that_preempts_admits_no_one() -> None:
    # Scheduler.schedule admits waiting requests only `if not preempted_reqs`: the victim is
    # not readmitted into the blocks it just gave back, so recompute does not thrash
    tight = Limits(max_num_batched_tokens=2048, max_num_seqs=64, kv_tokens=20_000)
    work = Workload(prompts=12, prompt_tokens=8000, output_tokens=50)
    result = simulate(work, tight, fixed_step)
    assert 0 < result.preemptions < work.prompts


def test_the_chat_endpoint_shares_the_api_server_so_a_burst_meets_the_engine_at_once() -> None:
    # 100 chat requests sent together, 10 ms of API-server CPU each, the chat template rendered
    # turn by turn on one event loop: none reaches the engine before all 100 x 10 ms are spent
    burst = Workload(prompts=100, prompt_tokens=100, output_tokens=10, chat=True)
    result = simulate(burst, ROOMY, fixed_step, request_s=0.01)
    assert min(result.ttft_s) >= 1.0
    assert result.duration_s < 1.0 + simulate(burst, ROOMY, fixed_step).duration_s + 0.02
    # one at a time, each waits only for its own
    alone = simulate(replace(burst, concurrency=1), ROOMY, fixed_step, request_s=0.01)
    assert max(alone.ttft_s) < 0.01 + 0.02


def test_the_completions_endpoint_tokenizes_a_burst_first_come_first_served() -> None:
    # the same burst to /v1/completions: the k-th request reaches the engine after k x 10 ms,
    # so the first is served early and the engine never sees the whole burst at once
    burst = Workload(prompts=100, prompt_tokens=100, output_tokens=10)
    result = simulate(burst, ROOMY, fixed_step, request_s=0.01)
    assert min(result.ttft_s) < 0.05
    assert max(result.ttft_s) >= 1.0
    assert (
        result.median_tpot_s()
        < simulate(replace(burst, chat=True), ROOMY, fixed_step, request_s=0.01).median_tpot_s()
        + 1e-9
    )


def test_poisson_sends_end_at_prompts_over_rate_as_vllm_bench_serve_rescales_them() -> None:
    work = Workload(prompts=50, prompt_tokens=200, output_tokens=20, request_rate=0.5)
    result = simulate(work, ROOMY, fixed_step)
    latency = max(result.e2e_s)
    assert 50 / 0.5 <= result.duration_s <= 50 / 0.5 + latency


def test_spread_lengths_keep_the_mean_output_but_stretch_the_slowest_requests() -> None:
    fixed = Workload(prompts=200, prompt_tokens=1000, output_tokens=100, concurrency=16)
    spread = replace(fixed, range_ratio=0.9)
    a, b = simulate(fixed, ROOMY, fixed_step), simulate(spread, ROOMY, fixed_step)
    assert abs(b.output_tokens - a.output_tokens) <= 0.01 * a.output_tokens
    ttft_a = sorted(a.ttft_s)
    ttft_b = sorted(b.ttft_s)
    # a long prompt takes more prefill chunks, a short one fewer: the first tokens spread out
    assert ttft_b[-1] > ttft_a[-1] and ttft_b[0] < ttft_a[0]
    assert max(b.e2e_s) > 1.5 * max(a.e2e_s)


def slow_prefill(load: StepLoad) -> float:
    """10 ms a step, plus 5 ms per 1000 prefill tokens: a 2048-token chunk doubles a step."""
    return 0.010 + load.prefill_tokens / 200_000


def test_a_burst_of_long_prompts_slows_the_early_requests_decode_by_its_prefill_chunks() -> None:
    # Scheduler.schedule gives the running requests their decode tokens first and the rest of
    # the budget to the next prompt's chunk: the first requests decode in steps that carry the
    # later prompts' chunks, the last one decodes alone
    work = Workload(prompts=10, prompt_tokens=8000, output_tokens=50)
    result = simulate(work, ROOMY, slow_prefill)
    first, last = result.tpot_s[0], result.tpot_s[-1]
    assert first > 1.5 * last
    assert math.isclose(last, 0.010, rel_tol=0.05)


def test_tpot_is_each_requests_decode_time_over_its_tokens_as_vllm_bench_serve_computes_it() -> (
    None
):
    # vllm/benchmarks/serve.py calculate_metrics: (latency - ttft) / (output_len - 1) per
    # request, then the median over requests - not the duration of a decode-only step
    work = Workload(prompts=10, prompt_tokens=8000, output_tokens=50)
    result = simulate(work, ROOMY, slow_prefill)
    per_request = [(e2e - ttft) / 49 for e2e, ttft in zip(result.e2e_s, result.ttft_s, strict=True)]
    assert all(math.isclose(a, b) for a, b in zip(result.tpot_s, per_request, strict=True))
    assert result.median_tpot_s() > slow_prefill(StepLoad(10, 80_000, 0, 0, 0, 0.0))


def test_from_0_19_a_prompt_waits_until_the_pool_holds_all_of_it() -> None:
    # two 8000-token prompts fill most of a 20000-token pool: admitting a third on its first
    # chunk (through 0.18) ends in preemption; reserving its whole prompt (0.19's
    # can_fit_full_sequence) keeps it waiting instead
    tight = Limits(max_num_batched_tokens=2048, max_num_seqs=64, kv_tokens=20_000)
    work = Workload(prompts=12, prompt_tokens=8000, output_tokens=50)
    chunked = simulate(work, tight, fixed_step)
    reserved = simulate(work, replace(tight, reserve_full_prompt=True), fixed_step)
    assert chunked.preemptions > 0
    assert reserved.preemptions == 0
    assert reserved.output_tokens == chunked.output_tokens


def test_a_closed_loop_of_varied_lengths_sends_its_requests_apart_not_in_lockstep() -> None:
    # 4 clients, chat requests of 10 ms API-server CPU each. Requests of one length finish and
    # are replaced together, so every new request shares the API server with three others;
    # a ShareGPT run's lengths vary, its slots free at different times and each new request
    # meets the API server alone - modelled with the mean output kept
    same = Workload(prompts=40, prompt_tokens=100, output_tokens=50, concurrency=4, chat=True)
    varied = replace(same, varied_lengths=True)
    lockstep = simulate(same, ROOMY, fixed_step, request_s=0.01)
    apart = simulate(varied, ROOMY, fixed_step, request_s=0.01)
    assert lockstep.median_ttft_s() >= 4 * 0.01
    assert apart.median_ttft_s() < 0.01 + 2 * fixed_step(StepLoad(4, 0, 100, 1, 0, 0.0))
    assert apart.output_tokens == lockstep.output_tokens
    # a burst or a single client has no lockstep to break
    alone = replace(same, concurrency=1)
    assert simulate(alone, ROOMY, fixed_step) == simulate(
        replace(alone, varied_lengths=True), ROOMY, fixed_step
    )


def test_with_async_scheduling_a_request_reaching_a_busy_engine_waits_one_step_more() -> None:
    # two requests sent together reach the engine 25 and 50 ms in (the completions endpoint's
    # one tokenizer); steps take 10 ms. The first finds the engine idle and is scheduled at once
    # either way; the second arrives while the first decodes: without async scheduling it joins
    # the next step (at 55 ms), with it the next step was already chosen while the one before
    # ran, so it joins the step after (at 65 ms)
    def step(load: StepLoad) -> float:
        return 0.010

    work = Workload(prompts=2, prompt_tokens=100, output_tokens=20)
    plain = simulate(work, ROOMY, step, request_s=0.025)
    ahead = simulate(work, ROOMY, step, request_s=0.025, ahead=True)
    assert math.isclose(plain.ttft_s[0], 0.035) and math.isclose(ahead.ttft_s[0], 0.035)
    assert math.isclose(plain.ttft_s[1], 0.065)
    assert math.isclose(ahead.ttft_s[1], plain.ttft_s[1] + 0.010)
    # the decode pace is the same: the engine only chose each step earlier
    assert math.isclose(ahead.median_tpot_s(), plain.median_tpot_s())


def test_an_older_clients_random_send_span_is_held_at_its_central_80_percent() -> None:
    rng = random.Random(1)
    widths = {}
    for prompts in (20, 200):
        work = Workload(
            prompts=prompts, prompt_tokens=200, output_tokens=20, request_rate=4.0, span_fixed=False
        )
        low, high = send_span_s(work, 0.1), send_span_s(work, 0.9)
        # the span the client's drawn gaps add up to, as vllm bench serve 0.9.2 sleeps them
        spans = [sum(rng.expovariate(4.0) for _ in range(prompts)) for _ in range(2000)]
        inside = sum(low <= s <= high for s in spans) / len(spans)
        assert 0.77 <= inside <= 0.83
        widths[prompts] = (high - low) / (prompts / 4.0)
        fixed = replace(work, span_fixed=True)
        assert send_span_s(fixed, 0.1) == send_span_s(fixed, 0.9) == prompts / 4.0
    # sd sqrt(N) / rate over a mean of N / rate: fewer prompts, a wider relative spread
    assert widths[20] > 2.5 * widths[200]


def test_an_older_client_sends_at_once_and_a_longer_span_keeps_the_runs_tail() -> None:
    work = Workload(
        prompts=50, prompt_tokens=200, output_tokens=20, request_rate=0.5, span_fixed=False
    )
    result = simulate(work, ROOMY, fixed_step)
    # the first prompt goes out at 0 and meets an idle engine; the loop sleeps a gap after the
    # last, so the clock runs at least the mean span
    assert result.sent_s == 100.0 and result.duration_s >= 100.0
    newer = simulate(replace(work, span_fixed=True), ROOMY, fixed_step)
    tail = newer.duration_s - newer.sent_s
    assert tail > 0  # the last prompt goes out at 100 s and is answered after
    longer = newer.with_send_span(110.0)
    assert math.isclose(longer.duration_s, 110.0 + tail)
    assert longer.output_tok_s < newer.output_tok_s


def context_step(load: StepLoad) -> float:
    """A step whose decode reads every request's KV cache: 6 ms, 20 us a request, 10 ns per
    context token, 40 us per prefill token."""
    return (
        0.006
        + 2e-5 * load.decode_requests
        + 1e-8 * load.decode_context
        + 4e-5 * load.prefill_tokens
        + 1e-11 * load.prefill_attention
    )


STEADY_CASES = {
    "closed loop of varied lengths": Workload(4000, 1000, 300, concurrency=32, range_ratio=0.5),
    "burst": Workload(4000, 1000, 300),
    "rate the engine keeps up with": Workload(4000, 1000, 300, request_rate=8.0, range_ratio=0.5),
    "rate above what the engine completes": Workload(4000, 1000, 300, request_rate=100.0),
}


@pytest.mark.parametrize("work", STEADY_CASES.values(), ids=STEADY_CASES.keys())
def test_a_long_run_follows_from_its_steady_state_within_5_percent_of_the_full_run(
    work: Workload,
) -> None:
    limits = Limits(max_num_batched_tokens=2048, max_num_seqs=256, kv_tokens=60_000)
    full = simulate(work, limits, context_step, 0.001, steady_after=None)
    steady = simulate(work, limits, context_step, 0.001)
    assert full.steady_from == 0
    assert STEADY_AFTER <= steady.steady_from < work.prompts
    assert len(steady.ttft_s) == len(steady.e2e_s) == work.prompts
    assert steady.output_tokens == full.output_tokens
    for figure in (
        lambda r: r.output_tok_s,
        lambda r: r.request_per_s,
        *(lambda r, q=q, f=f: percentile(f(r), q) for q in (50, 90) for f in SERIES),
    ):
        assert figure(steady) == pytest.approx(figure(full), rel=0.05)
    # ITL's percentiles can sit on the edge between decode-only and prefill steps, where a
    # share of a per cent moves them: held within 5 % of the full run's two percentile points
    # either side
    for q in (50, 90):
        low, high = full.itl_percentile_s(q - 2), full.itl_percentile_s(q + 2)
        assert 0.95 * low <= steady.itl_percentile_s(q) <= 1.05 * high


SERIES = (
    lambda r: r.ttft_s,
    lambda r: r.tpot_s,
    lambda r: r.e2e_s,
)


def test_a_run_below_the_steady_state_threshold_is_simulated_whole() -> None:
    work = Workload(STEADY_AFTER, 200, 20, concurrency=8)
    result = simulate(work, ROOMY, context_step)
    assert result.steady_from == 0
    assert result == simulate(work, ROOMY, context_step, steady_after=None)


def test_a_runs_percentiles_sort_each_series_once_and_read_as_numpys() -> None:
    work = Workload(prompts=300, prompt_tokens=500, output_tokens=40, request_rate=20.0)
    result = simulate(work, ROOMY, context_step, steady_after=50)
    assert result.steady_from  # a long series, completed from the steady state
    for series in ("ttft_s", "tpot_s", "e2e_s"):
        for q in (0, 37.5, 50, 90, 100):
            assert result.percentile_s(series, q) == percentile(getattr(result, series), q)
    # a result derived from another sorts its own series
    later = replace(result, ttft_s=[t + 1.0 for t in result.ttft_s])
    assert later.percentile_s("ttft_s", 50) == pytest.approx(result.percentile_s("ttft_s", 50) + 1)


def test_each_distinct_step_load_is_costed_once() -> None:
    seen: list[StepLoad] = []

    def counted(load: StepLoad) -> float:
        seen.append(load)
        return fixed_step(load)

    work = Workload(prompts=200, prompt_tokens=100, output_tokens=50, concurrency=1)
    result = simulate(work, ROOMY, counted)
    assert len(seen) == len(set(seen)) < result.steps


def _random_run(seed: int) -> tuple[Workload, Limits, StepCost, float, bool, int | None]:
    """A random workload, engine and step cost: lengths fixed or spread, a closed loop, a
    burst or a rate, a shared prefix, a KV pool from barely one request to roomy (preemption),
    async scheduling, a run cut short by its steady state."""
    rng = random.Random(seed)
    seqs = rng.choice([1, 2, 4, 16, 64, 256])
    budget = max(seqs, rng.choice([16, 256, 2048, 8192]))  # vLLM: budget >= max_num_seqs
    prompt, output = rng.choice([1, 5, 200, 1000, 3000]), rng.choice([1, 3, 50, 300])
    ratio = rng.choice([0.0, 0.3, 0.9])
    prefix = rng.randint(0, prompt - 1) if rng.random() < 0.3 else 0
    cached = rng.randint(0, prompt - 1) if rng.random() < 0.3 else 0
    concurrency = rng.choice([None, 1, 4, 64])
    rate = rng.choice([None, 5.0, 1000.0]) if concurrency is None else None
    work = Workload(
        prompts=rng.choice([2, 20, 100, 300]),
        prompt_tokens=prompt,
        output_tokens=output,
        concurrency=concurrency,
        request_rate=rate,
        cached_prefix=cached,
        prefix_caching=rng.random() < 0.5,
        chat=rng.random() < 0.3,
        range_ratio=ratio,
        random_prefix=prefix,
        varied_lengths=rng.random() < 0.3,
        span_fixed=rng.random() < 0.7,
    )
    longest = math.ceil(prompt * (1 + ratio)) + math.ceil(output * (1 + ratio)) + 2
    pool = rng.choice([longest + rng.randint(0, 50), 2 * longest, 4 * longest, 30 * longest])
    limits = Limits(
        max_num_batched_tokens=budget,
        max_num_seqs=seqs,
        kv_tokens=pool,
        shared_tokens=rng.choice([0, cached]),
        reserve_full_prompt=rng.random() < 0.5,
    )
    fixed, per_request, per_token = rng.uniform(0.001, 0.02), rng.uniform(0, 1e-4), 1e-7

    def cost(load: StepLoad) -> float:
        attention = max(load.prefill_tokens * 1e-6, load.prefill_attention * 1e-10)
        return (
            fixed + per_request * load.decode_requests + per_token * load.decode_context + attention
        )

    steady = rng.choice([None, STEADY_AFTER, 30])
    return work, limits, cost, rng.choice([0.0, 0.002]), rng.random() < 0.5, steady


@pytest.mark.parametrize("seed", range(60))
def test_the_batch_totals_give_exactly_what_the_request_by_request_scheduler_gives(
    seed: int,
) -> None:
    work, limits, cost, request_s, ahead, steady = _random_run(seed)

    def run(model: Callable[..., Result]) -> Result | str:
        try:
            return model(work, limits, cost, request_s, ahead=ahead, steady_after=steady)
        except RuntimeError as error:  # a pool too small for one prompt: the same refusal
            return str(error)

    assert run(simulate) == run(batching_reference.simulate)
