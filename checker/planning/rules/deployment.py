"""Deployment rules (VW3xx): the GPUs the profile gives vLLM, and how instances share them.

No rule checks a Kubernetes GPU limit below TP x PP: the profile has no limit of its own, and
the rendered manifests request exactly the plan's tensor x pipeline parallel GPUs
(checker.render.context.RenderContext.gpus), so the limit holds by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from checker.planning.releases import has_behaviour, message
from checker.planning.risk import MEDIUM_MARGIN_GIB, free_margin
from checker.planning.rules.base import GIB, RuleContext, gib, rule
from checker.planning.rules.memory import (
    context_risk,
    sampler_warmup_oom,
    workload_exceeds_concurrency,
)
from checker.planning.rules.scheduler import safe_utilization
from checker.schemas.enums import OOMRisk, Severity
from checker.schemas.outputs import Finding


@rule
def world_size_fits_gpus(ctx: RuleContext) -> Iterator[Finding]:
    world, gpus = ctx.settings.tp * ctx.settings.pp, ctx.request.hardware.gpus
    if world <= gpus:
        return
    yield Finding(
        rule_id="VW301",
        name="world-size-exceeds-gpus",
        severity=Severity.ERROR,
        message=message("world-size", ctx.settings.facts.version, world=world, gpus=gpus),
        key="hardware.gpus",
        fix=f"tensor x pipeline parallel = {ctx.settings.tp} x {ctx.settings.pp} needs {world} "
        f"GPUs: give the instance {world} GPUs, or lower hardware.tp_size / hardware.pp_size.",
        fix_values={"hardware.gpus": world},
    )


def _others_usage(ctx: RuleContext) -> float:
    """What one already-running instance holds: its budget, its CUDA context, and CUDA graphs
    where the version does not count them inside the budget."""
    graphs = 0.0 if ctx.settings.cudagraph_subtracted else ctx.memory.binding.cudagraph
    return ctx.memory.requested + ctx.memory.cuda_context + graphs


@rule
def instances_share_gpu(ctx: RuleContext) -> Iterator[Finding]:
    count = ctx.request.policy.instances_per_gpu
    if count == 1:
        return
    mem, s = ctx.memory, ctx.settings
    # the last instance to start sees the others' usage and its own CUDA context as taken
    free = mem.total - (count - 1) * _others_usage(ctx) - mem.cuda_context
    if free >= mem.requested:
        return
    reserve = mem.cuda_context + (0.0 if s.cudagraph_subtracted else mem.binding.cudagraph)
    fitting = math.floor((mem.total - count * reserve) / (count * mem.total) * 100) / 100
    if has_behaviour("startup_free_memory_check", s.facts.version):
        text = message(
            "free-memory",
            s.facts.version,
            device="cuda:0",
            free=gib(free),
            total=gib(mem.total),
            util=s.gpu_memory_utilization,
            requested=gib(mem.requested),
        )
    else:
        text = (
            f"{count} instances at gpu_memory_utilization {s.gpu_memory_utilization} each "
            f"claim {mem.requested / GIB:.2f} GiB of the {mem.total / GIB:.2f} GiB GPU; this "
            "vLLM does not check free memory at start-up, so the last one runs out of memory "
            "allocating its KV cache."
        )
    yield Finding(
        rule_id="VW302",
        name="instances-exceed-gpu-memory",
        severity=Severity.ERROR,
        message=text,
        key="policy.gpu_memory_utilization",
        fix=f"{count} instances fit one GPU at gpu_memory_utilization {fitting} or less each.",
        fix_values={"policy.gpu_memory_utilization": fitting} if fitting > 0 else {},
    )


@rule
def oom_risk_high(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.memory.has_kv_cache or any(sampler_warmup_oom(ctx)):
        return  # vLLM stops earlier, or VW205 names the shortfall already
    risk, reason = context_risk(ctx)
    if risk is not OOMRisk.HIGH:
        return
    safe = safe_utilization(ctx)
    yield Finding(
        rule_id="VW303",
        name="oom-risk-high",
        severity=Severity.ERROR,
        estimated=True,
        message=f"High risk of CUDA out of memory (estimated): {reason}.",
        key="policy.gpu_memory_utilization",
        fix=f"Lower gpu_memory_utilization to {safe}."
        if safe
        else "Free memory on the GPU: "
        "a smaller max_num_seqs, a quantized checkpoint, or more GPUs.",
        fix_values={"policy.gpu_memory_utilization": safe} if safe else {},
    )


@rule
def oom_risk_medium(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.memory.has_kv_cache:
        return
    risk, reason = context_risk(ctx)
    if risk is not OOMRisk.MEDIUM:
        return
    # ample memory outside the budget: what is short is the workload's KV headroom
    short_kv = free_margin(ctx.memory, ctx.model) >= MEDIUM_MARGIN_GIB * GIB
    if short_kv and any(workload_exceeds_concurrency(ctx)):
        return  # VW204 says the workload does not fit the KV cache already
    safe = None if short_kv else safe_utilization(ctx)
    if short_kv:
        fix = "Lower workload.concurrency or model.max_model_len, or use an fp8 KV cache."
    elif safe:
        fix = f"Lower gpu_memory_utilization to {safe}."
    else:
        fix = "Free memory on the GPU: a smaller max_num_seqs or a quantized checkpoint."
    yield Finding(
        rule_id="VW304",
        name="oom-risk-medium",
        severity=Severity.WARNING,
        estimated=True,
        message=f"Medium risk of CUDA out of memory (estimated): {reason}.",
        key="workload.concurrency" if short_kv else "policy.gpu_memory_utilization",
        fix=fix,
        fix_values={"policy.gpu_memory_utilization": safe} if safe else {},
    )
