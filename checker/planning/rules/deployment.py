"""Deployment rules (VW3xx): the GPUs the profile gives vLLM, and how instances share them.

No rule checks a Kubernetes GPU limit below the GPUs needed: the profile has no limit of its
own, and the rendered manifests request exactly the plan's GPUs
(checker.render.context.RenderContext.gpus), so the limit holds by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from checker.planning.engine.parallel import gpus_per_node
from checker.planning.engine.releases import has_behaviour, message
from checker.planning.memory.memory import extensible_margin
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
def world_size_fits_gpus(ctx: RuleContext) -> Finding | None:
    """GPUs needed = DP x TP x PP x PCP. On one node vLLM first compares TP x PP x PCP with the
    node's GPUs (config/parallel.py ParallelConfig.__post_init__), then each DP rank's workers
    take local GPU indices rank + DP local rank x world size (get_local_gpu_index), and the
    first index past the node's GPUs fails (v1/worker/gpu_worker.py Worker.init_device)."""
    s, hw = ctx.settings, ctx.request.hardware
    version = s.facts.version
    node = min(hw.gpus_per_node or hw.gpus, hw.gpus)
    ray = ctx.request.engine.distributed_executor_backend == "ray"
    per_node = gpus_per_node(s)
    if s.world_size > node and s.nnodes == 1 and not ray:
        text = message("world-size", version, world=s.world_size, gpus=node)
    elif per_node > node and not ray:
        text = message("dp-local-rank", version, rank=node, gpus=node)
    elif s.gpus_needed > hw.gpus:
        text = (
            f"data x tensor x pipeline x prefill context parallel = {s.dp} x {s.tp} x {s.pp} x "
            f"{s.pcp} needs {s.gpus_needed} GPUs; the deployment has {hw.gpus}."
        )
    else:
        return None
    sizes = [("data", s.dp), ("tensor", s.tp), ("pipeline", s.pp), ("prefill context", s.pcp)]
    used = [(n, v) for n, v in sizes if v > 1 or n in ("tensor", "pipeline")]
    shape = " x ".join(str(v) for _, v in used)
    names = " x ".join(n for n, _ in used)
    return Finding(
        rule_id="VW301",
        name="world-size-exceeds-gpus",
        severity=Severity.ERROR,
        message=text,
        key="hardware.gpus",
        fix=f"{names} parallel = {shape} needs {s.gpus_needed} GPUs"
        + (f" ({per_node} per node)" if per_node < s.gpus_needed else "")
        + ": give the deployment that many GPUs (several nodes need --nnodes and "
        "hardware.gpus_per_node, or the Ray backend), or lower the parallel sizes.",
        fix_values={"hardware.gpus": s.gpus_needed},
    )


@rule
def parallel_config_valid(ctx: RuleContext) -> Iterator[Finding]:
    """vLLM's ParallelConfig checks of the data / expert parallel flags
    (config/parallel.py ParallelConfig._validate_parallel_config, __post_init__)."""
    eng, version = ctx.request.engine, ctx.settings.facts.version
    redundant = eng.eplb_config.get("num_redundant_experts", 0)
    local = eng.data_parallel_size_local
    problems = []
    if local is not None and local > eng.data_parallel_size:
        problems.append(
            (
                message("dp-local-above-dp", version, local=local, dp=eng.data_parallel_size),
                "outputs.vllm_args.data-parallel-size-local",
            )
        )
    if eng.enable_eplb and not eng.enable_expert_parallel:
        problems.append((message("eplb-without-ep", version), "outputs.vllm_args.enable-eplb"))
    if not eng.enable_eplb and redundant:
        problems.append(
            (
                message("redundant-without-eplb", version, count=redundant),
                "outputs.vllm_args.eplb-config",
            )
        )
    if eng.nnodes > 1 and eng.distributed_executor_backend not in (None, "mp", "uni"):
        problems.append((message("nnodes-backend", version), "outputs.vllm_args.nnodes"))
    for text, key in problems:
        yield Finding(
            rule_id="VW305",
            name="parallel-config-invalid",
            severity=Severity.ERROR,
            message=text,
            key=key,
            fix="Make the data / expert parallel flags agree as vLLM requires.",
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
    if s.extensible_kv:
        yield from _extensible_instances(ctx, count, free, fitting)
        return
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


def _extensible_instances(
    ctx: RuleContext, count: int, free: float, fitting: float
) -> Iterator[Finding]:
    """The last of ``count`` instances with an extensible KV cache: vLLM skips the free-memory
    check there (v1/worker/utils.py request_memory) and sizes the cache from what is free
    (measure_kv_cache_bytes), so it starts with a smaller cache, or none that holds a request."""
    mem, s = ctx.memory, ctx.settings
    t = mem.terms[mem.binding.stage]
    transient, margin = extensible_margin(s, t)
    used = t.weights + t.non_torch + t.cudagraph
    left = min(mem.binding.kv_budget, min(mem.requested, free - margin) - used - transient)
    short = left < mem.max_len_bytes
    yield Finding(
        rule_id="VW302",
        name="instances-exceed-gpu-memory",
        severity=Severity.ERROR if short else Severity.WARNING,
        message=f"{count} instances at gpu_memory_utilization {s.gpu_memory_utilization} each "
        f"claim {gib(mem.requested)} GiB of the {gib(mem.total)} GiB GPU; vLLM "
        f"{s.facts.version}'s extensible KV cache does not check free memory at start-up, so "
        f"the last one sizes its KV cache from the {gib(max(free, 0.0))} GiB left: "
        f"{gib(max(left, 0.0))} GiB instead of {gib(mem.binding.kv_budget)} GiB"
        + (f", too little for one {s.max_model_len}-token request." if short else "."),
        key="policy.gpu_memory_utilization",
        fix=f"{count} instances fit one GPU at gpu_memory_utilization {fitting} or less each.",
        fix_values={"policy.gpu_memory_utilization": fitting} if fitting > 0 else {},
    )


@rule
def oom_risk_high(ctx: RuleContext) -> Finding | None:
    if not ctx.memory.has_kv_cache or sampler_warmup_oom(ctx) is not None:
        return None  # vLLM stops earlier, or VW205 names the shortfall already
    risk, reason = context_risk(ctx)
    if risk is not OOMRisk.HIGH:
        return None
    safe = safe_utilization(ctx)
    return Finding(
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
def oom_risk_medium(ctx: RuleContext) -> Finding | None:
    if not ctx.memory.has_kv_cache:
        return None
    risk, reason = context_risk(ctx)
    if risk is not OOMRisk.MEDIUM:
        return None
    # ample memory outside the budget: what is short is the workload's KV headroom
    short_kv = free_margin(ctx.memory, ctx.model) >= MEDIUM_MARGIN_GIB * GIB
    if short_kv and workload_exceeds_concurrency(ctx) is not None:
        return None  # VW204 says the workload does not fit the KV cache already
    safe = None if short_kv else safe_utilization(ctx)
    if short_kv:
        fix = "Lower workload.concurrency or model.max_model_len, or use an fp8 KV cache."
    elif safe:
        fix = f"Lower gpu_memory_utilization to {safe}."
    else:
        fix = "Free memory on the GPU: a smaller max_num_seqs or a quantized checkpoint."
    return Finding(
        rule_id="VW304",
        name="oom-risk-medium",
        severity=Severity.WARNING,
        estimated=True,
        message=f"Medium risk of CUDA out of memory (estimated): {reason}.",
        key="workload.concurrency" if short_kv else "policy.gpu_memory_utilization",
        fix=fix,
        fix_values={"policy.gpu_memory_utilization": safe} if safe else {},
    )
