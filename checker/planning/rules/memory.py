"""Memory rules: what vLLM raises after profiling, and the OOM risks it does not check."""

from __future__ import annotations

import math

from checker.planning.engine.releases import message
from checker.planning.engine.settings import Settings
from checker.planning.kvcache.kv import bytes_for_length, max_length_for_budget
from checker.planning.memory.memory import at_utilization, fits_one_request
from checker.planning.memory.weights import checkpoint_bytes
from checker.planning.risk import assess, warmup_margin
from checker.planning.rules.base import GIB, RuleContext, gib, per_plan, rule
from checker.schemas.enums import OOMRisk, Severity
from checker.schemas.outputs import Finding


def _weights_util(ctx: RuleContext) -> float:
    """Smallest utilization that leaves a KV budget for one max-length request."""
    mem, s = ctx.memory, ctx.settings
    b = mem.binding
    need = b.weights + b.activation + b.non_torch + (b.cudagraph if s.cudagraph_subtracted else 0)
    need += mem.max_len_bytes
    return min(1.0, need / mem.total)


@rule
def weights_do_not_fit(ctx: RuleContext) -> Finding | None:
    b = ctx.memory.binding
    if ctx.memory.weights_fit:
        return None
    return Finding(
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
def checkpoint_disagrees(ctx: RuleContext) -> Finding | None:
    recorded = ctx.model.safetensors_bytes
    if recorded is None:
        return None
    described = checkpoint_bytes(ctx.model)
    if described <= 0 or abs(recorded - described) <= _CHECKPOINT_TOLERANCE * described:
        return None
    return Finding(
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


# 0.34's own caps on the captured graphs (config/compilation.py CompilationConfig; the
# extensible KV cache is new there, and --max-cudagraph-capture-size deprecated)
_GRAPH_CAPS = (
    "--compilation-config max_prefill_cudagraph_capture_tokens / "
    "max_decode_cudagraph_capture_requests"
)


def _more_memory_hint(ctx: RuleContext, after_warmup: bool) -> str:
    """How vLLM says to make room for the KV cache (0.34.0 v1/core/kv_cache_planning.py
    _more_kv_cache_memory_hint): by whether an extensible KV cache takes it, below or at
    utilization 1.0, and whether it was checked after warm-up and CUDA-graph capture."""
    s = ctx.settings
    if not s.extensible_kv:
        return message("kv-memory-hint", s.facts.version)
    name = "kv-memory-hint-extensible"
    name += "-full" if s.gpu_memory_utilization >= 1.0 else ""
    name += "-after-warmup" if after_warmup else ""
    return message(name, s.facts.version, utilization=s.gpu_memory_utilization)


def _utilization_fix(ctx: RuleContext) -> float | None:
    """The utilization (two decimals) that leaves the KV budget one max-length request needs;
    None where none does: 0.98 or more for a cache sized from the profile's estimate (the
    sampler and CUDA graphs need the rest), or an extensible KV cache that fits no request even
    at 1.0 (it keeps a margin of the free memory: measure_kv_cache_bytes)."""
    util = _weights_util(ctx)
    if not ctx.settings.extensible_kv:
        return round(util + 0.005, 2) if util < 0.98 else None
    fix = min(round(util + 0.005, 2), 1.0)
    return fix if fits_one_request(at_utilization(ctx.memory, fix), ctx.model) else None


@rule
def no_kv_memory(ctx: RuleContext) -> Finding | None:
    b = ctx.memory.binding
    if b.kv_budget > 0 or not ctx.memory.weights_fit:
        return None
    if ctx.settings.auto_fit_from is not None:
        return None  # auto-fit refuses first, in its own words (VW206)
    util = _utilization_fix(ctx)
    if util is not None:
        fix = f"Raise gpu_memory_utilization to at least {util:.2f}"
    elif ctx.settings.extensible_kv:
        fix = (
            "The extensible KV cache already gets all the memory left after the weights, the "
            "activation peak and the captured CUDA graphs: add GPUs (tensor parallel), "
            "quantize, choose a larger GPU, or capture fewer or smaller CUDA graphs "
            f"({_GRAPH_CAPS})."
        )
    else:
        fix = (
            "The weights leave no room for a KV cache on this GPU: add GPUs (tensor "
            "parallel), quantize, or choose a larger GPU."
        )
    # an extensible KV cache whose profiled capacity passes fails after warm-up
    after_warmup = b.capacity_check is not None and b.capacity_check > 0
    return Finding(
        rule_id="VW202",
        name="no-kv-cache-memory",
        severity=Severity.ERROR,
        message=message(
            "no-kv-memory", ctx.settings.facts.version, hint=_more_memory_hint(ctx, after_warmup)
        ),
        key="policy.gpu_memory_utilization",
        fix=fix,
        fix_values={} if util is None else {"policy.gpu_memory_utilization": util},
    )


@rule
def kv_too_small_for_max_len(ctx: RuleContext) -> Finding | None:
    s, b = ctx.settings, ctx.memory.binding
    if b.kv_budget <= 0 or s.auto_fit_from is not None:  # auto-fit fits it, or VW206 refuses
        return None
    length = s.max_model_len
    if s.is_v0:
        if b.kv.tokens >= length:
            return None
        text = (
            f"The model's max seq len ({length}) is larger than the maximum number of "
            f"tokens that can be stored in KV cache ({b.kv.tokens}). Try increasing "
            "`gpu_memory_utilization` or decreasing `max_model_len` when initializing "
            "the engine."
        )
        fit = b.kv.tokens
    else:
        needed = ctx.memory.max_len_bytes
        if needed <= b.check_budget:
            return None
        fit = max_length_for_budget(ctx.model, s, b.kv.layout, b.check_budget)
        # an extensible KV cache: vLLM checks the profiled capacity first, then the cache
        # measured after warm-up
        after_warmup = b.capacity_check is None or needed <= b.capacity_check
        available = b.check_budget if after_warmup else float(b.capacity_check or 0)
        estimate = max_length_for_budget(ctx.model, s, b.kv.layout, available)
        text = message(
            "kv-too-small",
            s.facts.version,
            length=length,
            needed=gib(needed),
            available=gib(available),
            estimated=message("kv-estimated-max-len", s.facts.version, length=estimate)
            if estimate > 0
            else "",
            hint=_more_memory_hint(ctx, after_warmup and s.extensible_kv),
        )
    return Finding(
        rule_id="VW203",
        name="kv-cache-smaller-than-max-model-len",
        severity=Severity.ERROR,
        message=text,
        key="model.max_model_len",
        fix=_kv_too_small_fix(ctx, fit),
        fix_values={"model.max_model_len": fit} if fit > 0 else {},
    )


def _kv_too_small_fix(ctx: RuleContext, fit: int) -> str:
    """VW203's fix: the length the cache holds; with an extensible KV cache, also the
    utilization and the CUDA graphs it is sized after."""
    if not ctx.settings.extensible_kv:
        return f"Set max_model_len to {fit} or less, or free memory for the KV cache."
    util = _utilization_fix(ctx)
    others = [f"raise gpu_memory_utilization to {util:.2f}"] if util is not None else []
    if ctx.settings.cudagraph_sizes:
        others.append(
            f"capture fewer or smaller CUDA graphs ({_GRAPH_CAPS}): the extensible KV cache "
            "is what they leave"
        )
    return f"Set max_model_len to {fit} or less{''.join(', or ' + o for o in others)}."


@rule
def workload_exceeds_concurrency(ctx: RuleContext) -> Finding | None:
    b, s, work = ctx.memory.binding, ctx.settings, ctx.request.workload
    tokens = workload_tokens(ctx)
    per_request = workload_bytes(ctx)
    if b.kv.num_blocks == 0 or per_request <= 0:
        return None
    fits = b.kv_budget / per_request
    wanted = s.per_engine(work.concurrency)
    if fits >= wanted:
        return None
    engine = f" per data-parallel engine ({wanted} of {work.concurrency})" if s.dp > 1 else ""
    return Finding(
        rule_id="VW204",
        name="workload-concurrency-exceeds-kv",
        severity=Severity.WARNING,
        message=f"The KV cache holds {fits:.2f} requests of {tokens} tokens (prompt + "
        f"generation) at once, fewer than the workload's concurrency{engine or ''} "
        f"({wanted}); "
        "the rest wait in the queue.",
        key="workload.concurrency",
        fix=f"Use {_more_kv_cache(s)}; or accept queueing.",
    )


def _more_kv_cache(s: Settings) -> str:
    """The changes that give these settings more KV cache: a quantized cache unless it is
    already one byte or less, a larger cache where a size or utilization below 1 sets it (an
    extensible cache already takes what is free), and more GPUs."""
    options = ["an fp8 KV cache"] if s.kv_bytes > 1 else []
    if s.kv_cache_memory_bytes is not None:
        options.append("a larger --kv-cache-memory-bytes")
    elif s.gpu_memory_utilization < 1 and not s.extensible_kv:
        options.append("a higher gpu_memory_utilization")
    options.append("more GPUs")
    return ", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1 else options[0]


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


@per_plan  # VW205, and VW303 that defers to it
def plan_warmup_margin(ctx: RuleContext) -> float | None:
    return warmup_margin(ctx.memory, ctx.model)


@rule
def sampler_warmup_oom(ctx: RuleContext) -> Finding | None:
    margin = plan_warmup_margin(ctx)
    if margin is None or margin >= 0 or not ctx.memory.weights_fit:
        return None
    s = ctx.settings
    # Lowering max_num_seqs also shrinks the profiled activation that KV would otherwise
    # take, so the dependable fix is the utilization that leaves the shortfall free.
    util = math.floor((s.gpu_memory_utilization + margin / ctx.memory.total) * 100) / 100
    return Finding(
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
