"""Batching limits vLLM's scheduler config refuses, the utilization band (VW115-VW118), and
async scheduling on an executor without it (VW144)."""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour, message
from checker.planning.engine.settings import default_utilization
from checker.planning.memory.memory import at_utilization, plan_memory
from checker.planning.risk import assess, workload_headroom
from checker.planning.rules.base import GIB, RuleContext, per_plan, rule
from checker.schemas.enums import OOMRisk, Severity
from checker.schemas.outputs import Finding

# The seed's [0.5, 0.98] band survives as warnings: vLLM itself accepts (0, 1].
BAND_LOW = 0.5
HIGH_UTILIZATION = 0.97
SAFE_CEILING = 0.95


@per_plan
def safe_utilization(ctx: RuleContext) -> float | None:
    """Largest utilization (at most 0.95, in steps of 0.01) whose plan risk.assess rates LOW,
    else the largest it does not rate HIGH; None if every value down to 0.5 is HIGH."""
    s, policy_headroom = ctx.settings, ctx.request.policy.headroom_gb * GIB
    fallback = None
    # each value is planned from the estimates (a calibration measured its own utilization)
    estimated = ctx.memory if ctx.memory.measured is None else plan_memory(ctx.model, s)
    for step in range(round(min(s.gpu_memory_utilization - 0.01, SAFE_CEILING) * 100), 49, -1):
        util = step / 100
        memory = at_utilization(estimated, util)
        per_request = memory.max_len_bytes
        risk, _ = assess(memory, ctx.request, ctx.model, per_request)
        if risk is OOMRisk.LOW:
            return util
        if risk is OOMRisk.MEDIUM and fallback is None:
            fallback = util
        if workload_headroom(memory, ctx.request, per_request) < policy_headroom:
            break  # lower values only shrink the KV cache further: LOW is out of reach
    return fallback


def chunked_prefill(ctx: RuleContext) -> bool:
    """V1 chunks prefills unless told not to; V0 only when asked, or above a context length."""
    asked = ctx.request.engine.enable_chunked_prefill
    if not ctx.settings.is_v0:
        return asked is not False
    if asked is not None:
        return asked
    auto = ctx.settings.facts.scheduling.get("chunked_prefill_auto_above")
    return auto is not None and ctx.settings.max_model_len > auto


def effective_max_num_seqs(ctx: RuleContext) -> int:
    """max_num_seqs as vLLM's scheduler sees it: newer releases clamp a defaulted value to
    max_num_batched_tokens."""
    s = ctx.settings
    defaulted = ctx.request.engine.max_num_seqs is None
    if defaulted and has_behaviour("default_max_num_seqs_clamped", s.facts.version):
        return min(s.max_num_seqs, s.max_num_batched_tokens)
    return s.max_num_seqs


@rule
def utilization_below_band(ctx: RuleContext) -> Finding | None:
    util = ctx.settings.gpu_memory_utilization
    if util >= BAND_LOW or ctx.request.policy.instances_per_gpu > 1:
        return None
    total = ctx.memory.total / GIB
    return Finding(
        rule_id="VW115",
        name="utilization-below-band",
        severity=Severity.WARNING,
        message=f"gpu_memory_utilization {util} lets this vLLM instance use {util * total:.2f} of "
        f"the {total:.2f} GiB on the {ctx.gpu.name}; below {BAND_LOW} most of the GPU stays idle "
        "unless other processes share it.",
        key="policy.gpu_memory_utilization",
        fix="Raise gpu_memory_utilization, or set policy.instances_per_gpu when several "
        "instances share the GPU on purpose.",
        fix_values={
            "policy.gpu_memory_utilization": default_utilization(
                ctx.settings.facts, ctx.settings.extensible_kv
            )
        },
    )


@rule
def utilization_too_high(ctx: RuleContext) -> Finding | None:
    util = ctx.settings.gpu_memory_utilization
    # an extensible KV cache is sized from measured memory, keeping the activation peak and a
    # margin free whatever the utilization (0.34: 1.0 where none is given)
    if util < HIGH_UTILIZATION or ctx.settings.extensible_kv:
        return None
    outside = ctx.memory.outside_budget / GIB
    safe = safe_utilization(ctx)
    return Finding(
        rule_id="VW116",
        name="utilization-too-high",
        severity=Severity.WARNING,
        message=f"gpu_memory_utilization {util} leaves {outside:.2f} GiB outside vLLM's budget "
        "for the CUDA context, CUDA graphs and the sampler's first large batch: at "
        f"{HIGH_UTILIZATION} or more, start-up or the first busy minute often ends in CUDA out of "
        "memory.",
        key="policy.gpu_memory_utilization",
        fix=f"Lower gpu_memory_utilization to {safe}."
        if safe
        else "Lower gpu_memory_utilization; on this GPU even 0.5 leaves too little outside "
        "vLLM's budget.",
        fix_values={"policy.gpu_memory_utilization": safe} if safe else {},
    )


@rule
def batched_tokens_cover_seqs(ctx: RuleContext) -> Finding | None:
    tokens, seqs = ctx.settings.max_num_batched_tokens, effective_max_num_seqs(ctx)
    if tokens >= seqs:
        return None
    return Finding(
        rule_id="VW117",
        name="batched-tokens-below-max-num-seqs",
        severity=Severity.ERROR,
        message=message("batched-lt-seqs", ctx.settings.facts.version, tokens=tokens, seqs=seqs),
        key="vllm.max_num_batched_tokens",
        fix=f"Raise max_num_batched_tokens to at least {seqs}, or lower max_num_seqs to {tokens}.",
        fix_values={"vllm.max_num_batched_tokens": seqs},
    )


@rule
def batched_tokens_cover_model_len(ctx: RuleContext) -> Finding | None:
    s = ctx.settings
    # vLLM sizes a defaulted max_num_batched_tokens to max_model_len when it does not chunk
    if ctx.request.engine.max_num_batched_tokens is None or chunked_prefill(ctx):
        return None
    if s.max_num_batched_tokens >= s.max_model_len:
        return None
    return Finding(
        rule_id="VW118",
        name="batched-tokens-below-max-model-len",
        severity=Severity.ERROR,
        message=message(
            "batched-lt-model-len",
            s.facts.version,
            tokens=s.max_num_batched_tokens,
            length=s.max_model_len,
        ),
        key="vllm.max_num_batched_tokens",
        fix=f"Raise max_num_batched_tokens to {s.max_model_len}, enable chunked prefill, or "
        "lower max_model_len.",
        fix_values={"vllm.max_num_batched_tokens": s.max_model_len},
    )


@rule
def async_scheduling_supported(ctx: RuleContext) -> Finding | None:
    """--async-scheduling asked for on the Ray executor, which has no async scheduling."""
    eng, version = ctx.request.engine, ctx.settings.facts.version
    if eng.async_scheduling is not True or eng.distributed_executor_backend != "ray":
        return None
    if not has_behaviour("async_scheduling_refused_without_executor_support", version):
        return None
    return Finding(
        rule_id="VW144",
        name="async-scheduling-unsupported",
        severity=Severity.ERROR,
        message=message("async-scheduling-executor", version, backend="ray"),
        key="outputs.vllm_args.async-scheduling",
        fix="Drop --async-scheduling (vLLM then runs without it on Ray), or use the mp executor.",
    )
