"""Memory rules: what vLLM raises after profiling, and the OOM risks it does not check."""

from __future__ import annotations

import math
from collections.abc import Iterator

from checker.planning.kvcache.kv import bytes_for_length, max_length_for_budget
from checker.planning.memory.weights import checkpoint_bytes
from checker.planning.risk import assess, warmup_margin
from checker.planning.rules.base import GIB, RuleContext, gib, per_plan, rule
from checker.schemas.enums import OOMRisk, Severity
from checker.schemas.outputs import Finding

_DOCS = "See https://docs.vllm.ai/en/latest/configuration/conserving_memory/ for more details."


def _weights_util(ctx: RuleContext) -> float:
    """Smallest utilization that leaves a KV budget for one max-length request."""
    mem, s = ctx.memory, ctx.settings
    b = mem.binding
    need = b.weights + b.activation + b.non_torch + (b.cudagraph if s.cudagraph_subtracted else 0)
    need += mem.max_len_bytes
    return min(1.0, need / mem.total)


@rule
def weights_do_not_fit(ctx: RuleContext) -> Iterator[Finding]:
    b = ctx.memory.binding
    if ctx.memory.weights_fit:
        return
    yield Finding(
        rule_id="VW201",
        name="weights-exceed-gpu",
        severity=Severity.ERROR,
        message=f"Model weights need {b.weights / GIB:.2f} GiB per GPU but the "
        f"{ctx.gpu.name} has {ctx.memory.total / GIB:.2f} GiB: loading fails with CUDA out of "
        "memory.",
        key="hardware.tp_size",
        fix="Shard the model over more GPUs (tensor or pipeline parallel), use a quantized "
        "checkpoint, or a GPU with more memory.",
    )


# Checkpoints legitimately hold a little the config does not describe (DeepSeek-V3's MTP
# layer is 2 %); past this the config and the checkpoint are not the same model.
_CHECKPOINT_TOLERANCE = 0.10


@rule
def checkpoint_disagrees(ctx: RuleContext) -> Iterator[Finding]:
    recorded = ctx.model.safetensors_bytes
    if recorded is None:
        return
    described = checkpoint_bytes(ctx.model)
    if described <= 0 or abs(recorded - described) <= _CHECKPOINT_TOLERANCE * described:
        return
    yield Finding(
        rule_id="VW213",
        name="checkpoint-size-mismatch",
        severity=Severity.WARNING,
        message=f"The checkpoint's safetensors headers add up to {recorded / GIB:.2f} GiB but "
        f"its config.json describes {described / GIB:.2f} GiB of weights "
        f"({(recorded - described) / described:+.0%}): the weight and KV figures come from "
        "the config and may not match what vLLM loads.",
        key="model.model",
        fix="Check that the lockfile entry or model directory is the checkpoint of this config "
        "(re-record it with --update-lockfile); a config that names the wrong dtype or "
        "quantization is the usual cause.",
    )


@rule
def no_kv_memory(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.memory.binding.kv_budget > 0 or not ctx.memory.weights_fit:
        return
    if ctx.settings.auto_fit_from is not None:
        return  # auto-fit refuses first, in its own words (VW206)
    util = _weights_util(ctx)
    fix_values = {"policy.gpu_memory_utilization": round(util + 0.005, 2)} if util < 0.98 else {}
    yield Finding(
        rule_id="VW202",
        name="no-kv-cache-memory",
        severity=Severity.ERROR,
        message="No available memory for the cache blocks. Try increasing "
        f"`gpu_memory_utilization` when initializing the engine. {_DOCS}",
        key="policy.gpu_memory_utilization",
        fix=(
            f"Raise gpu_memory_utilization to at least {util + 0.005:.2f}"
            if fix_values
            else "The weights leave no room for a KV cache on this GPU: add GPUs (tensor "
            "parallel), quantize, or choose a larger GPU."
        ),
        fix_values=fix_values,
    )


@rule
def kv_too_small_for_max_len(ctx: RuleContext) -> Iterator[Finding]:
    s, b = ctx.settings, ctx.memory.binding
    if b.kv_budget <= 0 or s.auto_fit_from is not None:  # auto-fit fits it, or VW206 refuses
        return
    length = s.max_model_len
    if s.is_v0:
        if b.kv.tokens >= length:
            return
        message = (
            f"The model's max seq len ({length}) is larger than the maximum number of "
            f"tokens that can be stored in KV cache ({b.kv.tokens}). Try increasing "
            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing "
            "the engine."
        )
        fit = b.kv.tokens
    else:
        needed = ctx.memory.max_len_bytes
        if needed <= b.check_budget:
            return
        fit = max_length_for_budget(ctx.model, s, b.kv.layout, b.check_budget)
        message = (
            f"To serve at least one request with the models's max seq len ({length}), "
            f"({gib(needed)} GiB KV cache is needed, which is larger than the available "
            f"KV cache memory ({gib(b.check_budget)} GiB). Based on the available memory, "
            f"the estimated maximum model length is {fit}. Try increasing "
            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing "
            f"the engine. {_DOCS}"
        )
    yield Finding(
        rule_id="VW203",
        name="kv-cache-smaller-than-max-model-len",
        severity=Severity.ERROR,
        message=message,
        key="model.max_model_len",
        fix=f"Set max_model_len to {fit} or less, or free memory for the KV cache.",
        fix_values={"model.max_model_len": fit} if fit > 0 else {},
    )


@rule
def workload_exceeds_concurrency(ctx: RuleContext) -> Iterator[Finding]:
    b, s, work = ctx.memory.binding, ctx.settings, ctx.request.workload
    tokens = workload_tokens(ctx)
    per_request = workload_bytes(ctx)
    if b.kv.num_blocks == 0 or per_request <= 0:
        return
    fits = b.kv_budget / per_request
    wanted = s.per_engine(work.concurrency)
    if fits >= wanted:
        return
    engine = f" per data-parallel engine ({wanted} of {work.concurrency})" if s.dp > 1 else ""
    yield Finding(
        rule_id="VW204",
        name="workload-concurrency-exceeds-kv",
        severity=Severity.WARNING,
        message=f"The KV cache holds {fits:.2f} requests of {tokens} tokens (prompt + "
        f"generation) at once, fewer than the workload's concurrency{engine or ''} "
        f"({wanted}); "
        "the rest wait in the queue.",
        key="workload.concurrency",
        fix="Use an fp8 KV cache, a higher gpu_memory_utilization, or more GPUs; or accept "
        "queueing.",
    )


def workload_tokens(ctx: RuleContext) -> int:
    """Tokens one workload request holds in the KV cache at its end."""
    work = ctx.request.workload
    return min(work.prompt_tokens + work.gen_tokens, ctx.settings.max_model_len)


@per_plan  # the plan, a rule, the risk and the recommendations ask
def workload_bytes(ctx: RuleContext) -> float:
    """KV bytes one workload request holds at its end on the binding rank."""
    b = ctx.memory.binding
    return bytes_for_length(ctx.model, ctx.settings, b.kv.layout, workload_tokens(ctx))


@per_plan
def context_risk(ctx: RuleContext) -> tuple[OOMRisk, str]:
    """The plan's OOM risk with the workload's own requests (what the report shows)."""
    return assess(ctx.memory, ctx.request, ctx.model, workload_bytes(ctx))


@rule
def sampler_warmup_oom(ctx: RuleContext) -> Iterator[Finding]:
    margin = warmup_margin(ctx.memory, ctx.model)
    if margin is None or margin >= 0 or not ctx.memory.weights_fit:
        return
    s = ctx.settings
    # Lowering max_num_seqs also shrinks the profiled activation that KV would otherwise
    # take, so the dependable fix is the utilization that leaves the shortfall free.
    util = math.floor((s.gpu_memory_utilization + margin / ctx.memory.total) * 100) / 100
    yield Finding(
        rule_id="VW205",
        name="sampler-warmup-oom",
        severity=Severity.ERROR,
        estimated=True,  # the warm-up and CUDA-graph sizes are estimates: a HIGH risk
        message=f"High risk of CUDA out of memory (estimated): the sampler warm-up needs "
        f"{gib(-margin)} GiB more than is free after the KV cache and CUDA graphs, where vLLM "
        f'stops with "CUDA out of memory occurred when warming up sampler with '
        f"{s.max_num_seqs} dummy requests. Please try lowering `max_num_seqs` or "
        '`gpu_memory_utilization` when initializing the engine."',
        key="policy.gpu_memory_utilization",
        fix=f"Lower gpu_memory_utilization to {util:.2f} (or max_num_seqs) to leave the "
        f"warm-up its {gib(-margin)} GiB.",
        fix_values={"policy.gpu_memory_utilization": util} if util > 0 else {},
    )
