"""The serving estimate a workload gets: the closed form, or the step-level scheduler model.

The step-level model (checker/planning/performance/batching.py) runs the profile's
`vllm bench serve` recipe - fixed concurrency, Poisson rate or a burst - through vLLM's
continuous batching, one data-parallel engine at a time, with each step costed by
checker/planning/performance/perf.py at both ends of its range (slow, fast). It runs when `plan`
asks for it or the workload states targets, a rate or a prompt count; `check` of any other
profile keeps the cheap closed form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from checker.planning.engine.releases import has_behaviour
from checker.planning.kvcache.state import prefix_caching_default
from checker.planning.performance.batching import (
    Limits,
    Result,
    StepLoad,
    Workload,
    recipe_prompts,
    send_span_s,
    simulate,
)
from checker.planning.performance.lengths import longest, random_prefix_len
from checker.planning.performance.perf import (
    FixedCosts,
    bandwidth_words,
    chat_template_parse_s,
    closed_form,
    compute_efficiency,
    decode_drivers,
    first_token_drivers,
    fixed_costs,
    fused_moe_flops,
    gpu_family,
    kv_pool_tokens,
    overlaps_cpu,
    rate_span_fixed,
    stage_kernels,
    stage_moe_layers,
    step_cost,
    top_k_top_p_cost,
    whole_graph_decode,
)
from checker.planning.rules.base import RuleContext
from checker.planning.rules.scheduler import effective_max_num_seqs
from checker.schemas.outputs import LatencyFigure, PerfEstimate, ThroughputFigure

# Closed-loop and burst workloads of identical requests run in cohorts of requests that
# arrive together and move together, at most this many cohorts in flight: the scheduler sees
# cohorts, the step's cost the requests they stand for (the token budget, max_num_seqs and the
# KV pool shrink by the cohort size). Only chunked prefill and preemption are coarser: a
# cohort's requests finish their prompts in the same step, and leave the pool together.
_COHORTS_IN_FLIGHT = 64
# At a rate, the slow end of the range takes the client's send span at this quantile of its
# random draw and the fast end at 1 - it: the range holds the central 80 % of the spans, the
# share of measured runs issue 16 asks a range to hold.
_SLOW_SPAN_QUANTILE = 0.9


def simulate_workload(
    ctx: RuleContext, work: Workload, end: int, capacity: float | None = None
) -> Result:
    """``work`` through the step-level scheduler model at one end of the range. At a rate,
    ``capacity`` is the requests per second the engine completes when never idle at this end
    (simulated here when not given)."""
    s = ctx.settings
    cost = step_cost(ctx, end)
    in_flight = work.concurrency or work.prompts
    # as many cohorts again fit the KV pool, so preemption stays as fine-grained as vLLM's
    pool = kv_pool_tokens(ctx, work.prompt_tokens + work.output_tokens)
    held = pool // (work.prompt_tokens + work.output_tokens)
    size = max(1, min(in_flight, held) // _COHORTS_IN_FLIGHT)
    if work.request_rate is not None:
        size = 1
    limits = Limits(
        max(1, s.max_num_batched_tokens // size),
        max(1, effective_max_num_seqs(ctx) // size),
        pool // size,
        shared_tokens=-(-work.cached_prefix // size),
        reserve_full_prompt=has_behaviour("scheduler_reserve_full_isl", s.facts.version),
    )
    cohorts = replace(
        work,
        prompts=-(-work.prompts // size),
        concurrency=None if work.concurrency is None else -(-work.concurrency // size),
    )

    def scaled(load: StepLoad) -> float:
        return cost(
            StepLoad(
                size * load.decode_requests,
                size * load.decode_context,
                size * load.prefill_tokens,
                size * load.prefill_requests,
                size * load.prefill_context,
                size * load.prefill_attention,
            )
        )

    # the API server shares its CPU between requests: a cohort is ``size`` requests' work
    front = fixed_costs(ctx.gpu, end).request_s
    if work.chat:
        front += chat_template_parse_s(ctx.model, s.facts.version, end)
    front *= size
    # pipeline parallel keeps its own batch queue (one batch per stage), modelled by step_cost
    ahead = overlaps_cpu(ctx) and s.pp == 1
    result = simulate(cohorts, limits, scaled if size > 1 else cost, front, ahead=ahead)
    if work.request_rate is not None:  # the run's throughput carries the client's random span
        quantile = _SLOW_SPAN_QUANTILE if end == 0 else 1 - _SLOW_SPAN_QUANTILE
        result = result.with_send_span(send_span_s(work, quantile))
        if capacity is None:
            capacity = saturated_rate(ctx, work, end)
        if work.request_rate < capacity:  # the engine keeps up: a queue that stays short
            result = _with_drawn_tail(result, work, end)
    if size == 1:
        return result
    return replace(
        result,
        output_tokens=result.output_tokens * size,
        cohort=size,
    )


def saturated_rate(ctx: RuleContext, work: Workload, end: int) -> float:
    """Requests per second the engine completes with ``work``'s prompts all waiting."""
    return simulate_workload(ctx, replace(work, request_rate=None), end).request_per_s


def _with_drawn_tail(result: Result, work: Workload, end: int) -> Result:
    """A rate run's duration with the draw its tail depends on. From 0.10.0 the client sends
    the last prompt at exactly the span's end (vllm/benchmarks/serve.py get_request) and stops
    the clock when the last response ends (benchmark(): benchmark_duration), so the duration is
    the span plus that request's end-to-end latency. Which load it meets is the seed's draw:
    a Poisson arrival sees the time-average state (arrivals see time averages), so its latency
    is one draw of the run's, not the one arrival schedule simulated. The slow end takes the
    run's latency at _SLOW_SPAN_QUANTILE, the fast end at 1 - it (the simulated tail where
    that is further out). Only where the engine keeps up with the rate (the caller's check):
    behind it, the backlog the last request waits for, not a draw, sets the tail. Before
    0.10.0 the client sleeps a drawn gap after the last send, which the span's draw already
    holds."""
    if not work.span_fixed or not result.e2e_s:
        return result
    simulated = result.duration_s - result.sent_s
    if end == 0:
        tail = max(simulated, result.percentile_s("e2e_s", 100 * _SLOW_SPAN_QUANTILE))
    else:
        tail = min(simulated, result.percentile_s("e2e_s", 100 * (1 - _SLOW_SPAN_QUANTILE)))
    return replace(result, duration_s=result.sent_s + tail)


def wants_step_model(ctx: RuleContext) -> bool:
    """The workload states targets, a rate or a prompt count: only the step model answers."""
    work = ctx.request.workload
    return work.slo.stated or work.request_rate is not None or work.num_prompts is not None


def engine_workload(ctx: RuleContext) -> Workload:
    """The `vllm bench serve` run of the profile's workload as one data-parallel engine sees
    it: the recipe's prompts, concurrency and rate spread evenly over the engines."""
    s, work = ctx.settings, ctx.request.workload
    prompts = work.num_prompts or recipe_prompts(work.concurrency)
    rate = work.request_rate
    # the cache holds whole blocks of the shared prefix (vllm/v1/core/kv_cache_utils.py
    # hash_request_tokens hashes full blocks only)
    cached = work.shared_prefix_tokens // s.block_size * s.block_size
    caching = prefix_caching(ctx)
    return Workload(
        prompts=s.per_engine(prompts),
        prompt_tokens=work.prompt_tokens,
        output_tokens=work.gen_tokens,
        concurrency=None if rate is not None else s.per_engine(work.concurrency),
        request_rate=None if rate is None else rate / s.dp,
        cached_prefix=cached if caching else 0,
        prefix_caching=caching,
        range_ratio=work.random_range_ratio,
        random_prefix=random_prefix_len(work.prompt_tokens, work.shared_prefix_tokens),
        span_fixed=rate_span_fixed(s.facts.version),
    )


def longest_request(work: Workload) -> int:
    """Tokens of the workload's longest request, prompt and output."""
    random_part = work.prompt_tokens - work.random_prefix
    return longest(random_part, work.output_tokens, work.range_ratio, work.random_prefix)


def prefix_caching(ctx: RuleContext) -> bool:
    """Whether the engine caches prefixes: the profile's choice, else vLLM's default - on in V1
    (vllm/config/cache.py CacheConfig.enable_prefix_caching), off for attention-free models and
    for hybrid models where the version says so, off in V0."""
    chosen = ctx.request.engine.enable_prefix_caching
    if chosen is not None:
        return chosen
    facts = ctx.settings.facts
    if facts.engine != "v1":
        return False
    return prefix_caching_default(ctx.model, facts.version)


def estimate_perf(ctx: RuleContext, *, step_model: bool = False) -> PerfEstimate:
    """The closed form, refined by the step-level scheduler model when ``step_model`` is asked
    for or the workload needs it (targets, a rate) and the KV cache holds one request."""
    closed = closed_form(ctx)
    if not (step_model or wants_step_model(ctx)):
        return closed
    work = engine_workload(ctx)
    length = longest_request(work)
    if kv_pool_tokens(ctx, length) < length:
        note = "step model not run: the KV cache holds less than one request of the workload"
        return closed.model_copy(update={"assumptions": [*closed.assumptions, note]})
    saturated = None
    if work.request_rate is not None:  # what the engine completes when never idle
        saturated = tuple(saturated_rate(ctx, work, end) for end in (0, 1))
    slow, fast = (
        simulate_workload(ctx, work, end, None if saturated is None else saturated[end])
        for end in (0, 1)
    )
    return _stepped(ctx, closed, work, (slow, fast), saturated)


def _latency(
    runs: tuple[Result, Result], values: Callable[[Result, float], float], width: str
) -> LatencyFigure:
    slow, fast = runs

    def rng(q: float) -> tuple[float, float]:
        return (round(values(fast, q) * 1000, 2), round(values(slow, q) * 1000, 2))

    return LatencyFigure(p50_ms=rng(50), p90_ms=rng(90), width=width)


def _sampler_words(ctx: RuleContext) -> str:
    slow, fast = top_k_top_p_cost(ctx, 0), top_k_top_p_cost(ctx, 1)
    if slow is None or fast is None:
        return ""
    torch_us = f"{slow.torch_s * 1e6:.0f}-{fast.torch_s * 1e6:.0f} us"
    draw = (
        f", {slow.random_draw_s(1) * 1e6:.0f}-{fast.random_draw_s(1) * 1e6:.0f} us of the"
        " sampler's random draw (fp32 copy, temperature, softmax, exponential, argmax) a step"
        f" of a few rows, {slow.random_draw_s(100) * 1e6:.0f}-"
        f"{fast.random_draw_s(100) * 1e6:.0f} us at 100"
    )
    if not slow.triton:  # no Triton kernel yet: the torch sort on every step
        return (
            f", {torch_us} of the top-k/top-p sampler's torch sort every step (the model's "
            f"generation defaults; measured below {slow.min_rows} rows, at least that above)" + draw
        )
    torch = (
        f"{torch_us} of the top-k/top-p sampler's torch sort a step below {slow.min_rows} rows "
        "(the model's generation defaults)"
    )
    return (
        f", {slow.pass_s * 1e6:.0f}-{fast.pass_s * 1e6:.0f} us of the top-k/top-p sampler per"
        f" {slow.sms} rows a step samples, from {slow.min_rows}, {torch}{draw}"
    )


def _driver_words(ctx: RuleContext, drivers: list[tuple[str, float]]) -> str:
    """Which sources drive a range's width and how much of it, as the report says them."""
    family = gpu_family(ctx.gpu)
    words = {
        "bandwidth": f"memory bandwidth reached ({bandwidth_words(family)})",
        "compute": f"tensor-core FLOPS reached ({compute_efficiency(family, 0):.0%}-"
        f"{compute_efficiency(family, 1):.0%} of peak)",
        "fixed": "fixed costs (engine CPU per step and request, host launching, MoE floors,"
        " the API server)",
        "link": "all-reduce latency",
        "sampler": "the sampler's kernels",
    }
    if not drivers:
        return ""
    named = ", ".join(f"{words[source]} {share:.0%}" for source, share in drivers)
    return f"width driven by {named}; from "


def _step_kernels(ctx: RuleContext, gaps: FixedCosts) -> float:
    """Kernels a decode step launches over all its pipeline stages."""
    return sum(stage_kernels(ctx, moe, gaps) for moe in stage_moe_layers(ctx))


def _span_words(work: Workload) -> str:
    """What the client's send span adds to a rate run's throughput range."""
    if work.request_rate is None:
        return ""
    if work.span_fixed:
        return (
            f"; the client sends over exactly {send_span_s(work, 0.5):g} s (prompts / rate,"
            " vllm bench serve from 0.10.0), then waits for the last response: one draw of a"
            " request's end-to-end latency (10th-90th percentile) beyond the span where the"
            " engine keeps up with the rate, the backlog's end where it does not"
        )
    low = send_span_s(work, 1 - _SLOW_SPAN_QUANTILE)
    high = send_span_s(work, _SLOW_SPAN_QUANTILE)
    return (
        f"; the client's random send span, {low:.1f}-{high:.1f} s (10th-90th percentile of"
        f" {work.prompts} exponential gaps, vllm bench serve before 0.10.0)"
    )


def _steady_words(runs: tuple[Result, Result]) -> str:
    """Where the run was too long to simulate whole, what it followed from."""
    simulated = max(run.steady_from * run.cohort for run in runs)
    if not simulated:
        return ""
    return (
        f"; the first {simulated:,} requests to finish simulated, the rest from their steady"
        " state (the latencies and pace past their first quarter; a queue that grows where the"
        " engine cannot keep up), within 5 % of the whole run simulated"
    )


def _stepped(
    ctx: RuleContext,
    closed: PerfEstimate,
    work: Workload,
    runs: tuple[Result, Result],
    saturated: tuple[float, ...] | None,
) -> PerfEstimate:
    s = ctx.settings
    slow, fast = runs
    low, high, family = fixed_costs(ctx.gpu, 0), fixed_costs(ctx.gpu, 1), gpu_family(ctx.gpu)
    physics = (
        f"{bandwidth_words(family)}, "
        f"{compute_efficiency(family, 0):.0%} to {compute_efficiency(family, 1):.0%} of peak"
        f" FLOPS, {high.decode_step_s * 1000:g}-{low.decode_step_s * 1000:g} ms of CPU per"
        f" engine step and {high.step_request_s * 1e6:g}-{low.step_request_s * 1e6:g} us per"
        " request it schedules"
        + (
            " (beside the GPU's step: async scheduling"
            + (
                ", which also picks a step's requests while the step before it runs, so one"
                " reaching a busy engine waits a step more"
                if s.pp == 1
                else ""
            )
            + ")"
            if overlaps_cpu(ctx)
            else " (after the GPU's step: no async scheduling)"
        )
        + (
            f", {high.moe_layer_s * 1e6:g}-{low.moe_layer_s * 1e6:g} us per fused MoE layer"
            " beyond its expert bytes"
            if ctx.model.is_moe and low.moe_layer_s
            else ""
        )
        + (
            f", the routed experts' matmuls at {fused_moe_flops(ctx, 0) / 1e12:g} TFLOPS at the"
            " slow end (vLLM's fused-MoE kernel at prefill sizes)"
            if fused_moe_flops(ctx, 0)
            else ""
        )
        + f", {high.host_layer_s[0] * 1e6:g}-{low.host_layer_s[1] * 1e6:g} us of host time per"
        " layer of a step that is not one whole CUDA graph ("
        + ("steps with prefill" if whole_graph_decode(ctx) else "every step: no full decode graph")
        + ")"
        + (
            f", a step's ~{_step_kernels(ctx, high):.0f}-{_step_kernels(ctx, low):.0f} kernel"
            " boundaries"
            if high.graph_kernel_s
            else ""
        )
        + _sampler_words(ctx)
        + (
            f"; the sparse indexer scores every earlier key in fp8 on every rank, the attention"
            f" reads its top {ctx.model.index_topk:,}"
            if ctx.model.index_topk
            else ""
        )
    )
    path = (
        f"{high.request_s * 1000:g}-{low.request_s * 1000:g} ms of the API server per request,"
        " one request at a time"
    )
    preempted = (
        f"; the KV cache fills: {slow.preemptions} preemptions (recomputed) at the slow end"
        if slow.preemptions
        else ""
    )
    queue = (
        "; p90 above p50: requests wait for the running batch"
        f" (max_num_seqs {effective_max_num_seqs(ctx)}, {s.max_num_batched_tokens} batched tokens)"
        if slow.percentile_s("ttft_s", 90) > 1.2 * slow.percentile_s("ttft_s", 50)
        else ""
    )

    decode = _driver_words(ctx, decode_drivers(ctx))
    first = _driver_words(ctx, first_token_drivers(ctx))

    def rate(per_engine: tuple[float, float], unit: int) -> ThroughputFigure:
        deployment = (round(per_engine[0] * s.dp, unit), round(per_engine[1] * s.dp, unit))
        gpus = s.gpus_needed
        return ThroughputFigure(
            deployment=deployment,
            per_gpu=(round(deployment[0] / gpus, unit), round(deployment[1] / gpus, unit)),
            width=decode + physics + preempted + _span_words(work),
        )

    ttft = _latency(
        runs, lambda r, q: r.percentile_s("ttft_s", q), f"{first}{physics}, {path}{queue}"
    )
    tpot = _latency(runs, lambda r, q: r.percentile_s("tpot_s", q), decode + physics + preempted)
    itl = _latency(
        runs, Result.itl_percentile_s, decode + physics + "; a step with prefill is longer"
    )
    e2e = _latency(
        runs, lambda r, q: r.percentile_s("e2e_s", q), f"{decode}{physics}, {path}{preempted}"
    )
    output = rate((slow.output_tok_s, fast.output_tok_s), 0)
    if work.request_rate is None:
        shape = f"{work.concurrency} requests in flight"
    else:
        shape = f"Poisson arrivals at {work.request_rate:g} requests/s"
    lengths = (
        f"{work.prompt_tokens} tokens, {work.output_tokens} out"
        if not work.range_ratio
        else f"{work.prompt_tokens} tokens, {work.output_tokens} out on average (uniform within"
        f" ±{work.range_ratio:.0%})"
    )
    described = (
        f"{work.prompts} prompts of {lengths}, {shape}"
        + (f" on each of {s.dp} data-parallel engines" if s.dp > 1 else "")
        + (
            f"; {work.cached_prefix} prompt tokens from the prefix cache"
            if work.cached_prefix
            else ""
        )
        + _steady_words(runs)
    )
    return closed.model_copy(
        update={
            "model": "step-level",
            "workload": described,
            "ttft_ms_range": ttft.p50_ms,
            "tpot_ms_range": tpot.p50_ms,
            "throughput_toks_per_s_range": output.deployment,
            "throughput_per_gpu_toks_per_s_range": output.per_gpu,
            "ttft": ttft,
            "tpot": tpot,
            "itl": itl,
            "e2e": e2e,
            "output_throughput": output,
            "request_throughput": rate((slow.request_per_s, fast.request_per_s), 2),
            "max_request_rate": None
            if saturated is None
            else (round(saturated[0] * s.dp, 2), round(saturated[1] * s.dp, 2)),
            "assumptions": [
                closed.assumptions[0],
                f"step-level model of vLLM's scheduler: {described}; continuous batching, "
                f"chunked prefill under max_num_batched_tokens {s.max_num_batched_tokens}, "
                f"max_num_seqs {effective_max_num_seqs(ctx)}, a KV pool of "
                f"{kv_pool_tokens(ctx, work.prompt_tokens + work.output_tokens):,} tokens "
                "of such requests with preemption",
                *closed.assumptions[2:3],
                "TTFT, TPOT, ITL and end-to-end latency at p50 and p90 as `vllm bench serve`"
                " prints them; throughput for the whole deployment and per GPU",
            ],
        }
    )
