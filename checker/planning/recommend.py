"""Recommended settings, each with its reason (shown by --explain), and the safe fixes of
start-up errors applied to the config (fixes.py).

Batching follows workload.mode: latency batches no more than the workload sends at once,
throughput doubles vLLM's batching defaults (as vLLM's own --performance-mode throughput does),
balanced keeps vLLM's defaults; every value stays within what the KV cache holds. Quantization
and an fp8 KV cache are recommended only where the checkpoint, the GPU and the pinned vLLM
allow them; a pre-quantized checkpoint is a different model, so it is only said in words.
"""

from __future__ import annotations

import math

from checker.planning.engine.context_length import rope_flag_costs
from checker.planning.engine.parallel import launch_costs, nodes_spanned, parallel_costs
from checker.planning.engine.releases import has_behaviour, method_facts
from checker.planning.engine.settings import (
    Settings,
    async_scheduling,
    at_tp,
    evolve,
    extensible_kv_off,
    hybrid_model,
    in_flight_batches,
    parallel_at_tp,
    resolved_afresh,
)
from checker.planning.fixes import apply_fixes
from checker.planning.kvcache.attention import stored_kv_dtype
from checker.planning.kvcache.connectors import connector_costs, resolve_connector
from checker.planning.kvcache.kv import GIB, indexer_costs, state_costs
from checker.planning.kvcache.skip_layers import skip_layer_costs
from checker.planning.memory.activation import interconnect_costs, sampler_costs
from checker.planning.memory.all_reduce import all_reduce_costs
from checker.planning.memory.graphs import graph_costs
from checker.planning.memory.lora import lora_costs
from checker.planning.memory.memory import (
    MemoryPlan,
    at_utilization,
    extensible_costs,
    fits_one_request,
    plan_memory,
    weights_take_all,
)
from checker.planning.memory.multimodal import multimodal_costs
from checker.planning.memory.speculative import spec_costs
from checker.planning.risk import assess
from checker.planning.rules import RuleContext, evaluate
from checker.planning.rules.config import valid_tp
from checker.planning.rules.memory import workload_bytes, workload_tokens
from checker.planning.rules.scheduler import (
    HIGH_UTILIZATION,
    SAFE_CEILING,
    chunked_prefill,
    safe_utilization,
)
from checker.schemas.enums import BatchingMode, OOMRisk, Quantization
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import LayerKind
from checker.schemas.outputs import Finding, Recommendation, VLLMConfig

MAX_TP = 64  # how far "it would take N GPUs" searches
LATENCY_TOKEN_CAP = 16384  # latency mode prefills a prompt in one step, up to this many tokens
FOUR_BIT_BITS = 4.25  # 4-bit weights with a 16-bit scale per group of 128 (AWQ/GPTQ)


def _fits(ctx: RuleContext, memory: MemoryPlan) -> bool:
    return fits_one_request(memory, ctx.model)


def _smallest_tp(
    ctx: RuleContext, request: PlanRequest, resolved: Settings, above: int = 0
) -> int | None:
    """Smallest tensor-parallel size over ``above`` (any GPU count) whose plan of ``request``
    fits; ``resolved``: ``request``'s settings at some TP, each size's derive from (at_tp)."""
    for tp in (t for t in valid_tp(ctx.model, MAX_TP) if t > above):
        settings = parallel_at_tp(resolved, request, ctx.model, tp)
        if weights_take_all(ctx.model, settings):
            continue  # no KV cache at all: the whole plan is not needed to know it
        if resolved_afresh(ctx.model):
            settings = at_tp(resolved, request, ctx.model, tp)
        if _fits(ctx, plan_memory(ctx.model, settings)):
            return tp
    return None


def _resolved(settings: Settings) -> Settings:
    """A plan's settings as resolve_settings gave them, before auto-fit shortened
    max_model_len: the TP searches derive each size's from them (at_tp) instead of resolving
    the request afresh."""
    if settings.auto_fit_from is None:
        return settings
    return evolve(settings, max_model_len=settings.auto_fit_from)


def _splits(heads: int) -> str:
    """The heads clause of the TP reason (attention-free models have no heads)."""
    return f"divides the {heads} attention heads and " if heads else ""


def _parallelism(ctx: RuleContext) -> Recommendation:
    s, gpu, hw = ctx.settings, ctx.gpu.name, ctx.request.hardware
    heads = ctx.model.num_attention_heads
    if _fits(ctx, ctx.memory):
        reason = (
            "as set in the profile (hardware.tp_size)"
            if hw.tensor_parallel_size
            else f"smallest tensor-parallel size that {_splits(heads)}"
            f"leaves KV cache for one {s.max_model_len}-token request on the {gpu}"
        )
        return Recommendation(key="tensor_parallel_size", value=s.tp, reason=reason)
    needed = _smallest_tp(ctx, ctx.request, _resolved(s), above=s.tp)  # s.tp did not fit
    if needed is None:
        return Recommendation(
            key="tensor_parallel_size",
            value=s.tp,
            reason=f"no tensor-parallel size up to {MAX_TP} {gpu} GPUs holds the model and one "
            f"{s.max_model_len}-token request: quantize, shorten max_model_len or use larger GPUs",
        )
    return Recommendation(
        key="tensor_parallel_size",
        value=needed,
        reason=f"{hw.gpus} {gpu} GPU(s) cannot hold the model and one {s.max_model_len}-token "
        f"request; tensor_parallel_size {needed} can: set hardware.tp_size {needed} and "
        f"hardware.gpus {needed * s.pp * s.dp}",
    )


def _quantization(ctx: RuleContext) -> list[Recommendation]:
    s, model = ctx.settings, ctx.model
    if _fits(ctx, ctx.memory) or model.quant or ctx.request.model.quantization.value != "none":
        return []
    recs = []
    fp8 = method_facts("fp8", s.facts.version)
    if (
        fp8 is not None
        and "fp8" in s.facts.quantization_methods
        and ctx.gpu.capability >= fp8.min_capability
        and s.dtype in fp8.act_dtypes
    ):
        request = ctx.request.model_copy(
            update={
                "model": ctx.request.model.model_copy(update={"quantization": Quantization.FP8})
            }
        )
        # the flag changes only the effective method: the settings resolve alike otherwise
        fp8_settings = evolve(_resolved(s), quantization="fp8")
        tp = _smallest_tp(ctx, request, fp8_settings)
        kernels = "on fp8 tensor cores" if ctx.gpu.capability >= 89 else "weight-only (Marlin)"
        if tp is not None:
            gpus = tp * s.pp
            place = "on the GPUs given" if gpus <= ctx.request.hardware.gpus else f"on {gpus} GPUs"
            recs.append(
                Recommendation(
                    key="quantization",
                    value="fp8",
                    reason=f"vLLM quantizes this {s.dtype} checkpoint to fp8 while loading it "
                    f"({kernels} on the {ctx.gpu.name}), halving weight memory; it fits at "
                    f"tensor_parallel_size {tp} {place}",
                )
            )
    full = model.param_count * s.dtype_bytes / GIB
    four_bit = model.param_count * FOUR_BIT_BITS / 8 / GIB
    recs.append(
        Recommendation(
            key="checkpoint",
            value="pre-quantized 4-bit (AWQ or GPTQ)",
            reason=f"a 4-bit AWQ or GPTQ checkpoint of this model keeps its weights in about "
            f"{four_bit:.1f} GiB instead of {full:.1f} GiB; that is a different model id "
            "(model.id), so quantization stays unset for this checkpoint",
        )
    )
    return recs


def _kv_cache_dtype(ctx: RuleContext) -> list[Recommendation]:
    s, kv = ctx.settings, ctx.memory.binding.kv
    wanted = s.per_engine(ctx.request.workload.concurrency)
    if (
        s.kv_cache_dtype != "auto"
        or s.kv_bytes < 2
        or "fp8" not in s.facts.kv_cache_dtypes
        or ctx.gpu.capability < 89  # no fp8 hardware: VW114 explains the trade-off
        or ctx.memory.binding.kv_budget <= 0
        or (kv.max_concurrency >= wanted and _fits(ctx, ctx.memory))
    ):
        return []
    # the cache format follows the dtype (it overrides it in the layout: kv.py target_page)
    stored = stored_kv_dtype(s.mla_backend, "fp8")
    with_fp8 = evolve(s, kv_cache_dtype="fp8", kv_bytes=1.0, kv_storage_dtype=stored)
    fp8 = plan_memory(ctx.model, with_fp8).binding.kv
    return [
        Recommendation(
            key="kv_cache_dtype",
            value="fp8",
            reason=f"the KV cache holds {kv.max_concurrency:.2f} requests of {s.max_model_len} "
            f"tokens, short of the workload's {wanted}; an fp8 cache (fp8 hardware on compute "
            f"capability {ctx.gpu.compute_capability}) holds {fp8.max_concurrency:.2f} "
            f"({fp8.tokens:,} tokens instead of {kv.tokens:,})",
        )
    ]


def _utilization(ctx: RuleContext) -> Recommendation:
    s, memory = ctx.settings, ctx.memory
    util, b = s.gpu_memory_utilization, memory.binding
    need = memory.max_len_bytes
    risk, _ = assess(memory, ctx.request, ctx.model, need)
    # an extensible KV cache keeps its own headroom (measure_kv_cache_bytes): a utilization
    # near 1.0 is no risk there
    if (util >= HIGH_UTILIZATION and not s.extensible_kv) or risk is OOMRisk.HIGH:
        safe = safe_utilization(ctx)
        if safe is not None:
            return Recommendation(
                key="gpu_memory_utilization",
                value=safe,
                reason=f"{util} leaves too little memory outside vLLM's budget for the CUDA "
                f"context, CUDA graphs and the sampler warm-up; {safe} is the largest value "
                "with a low out-of-memory risk",
            )
    withheld = _withheld_by_utilization(ctx)
    if withheld is not None:
        ext = s.facts.extensible_kv_cache
        assert ext is not None
        return Recommendation(
            key="gpu_memory_utilization",
            value=ext.utilization,
            reason=f"vLLM {s.facts.version}'s extensible KV cache is sized from the memory "
            f"measured after warm-up: {util} keeps {withheld / GIB:.2f} GiB of free memory out "
            f"of it (vLLM warns so); {ext.utilization}, its default, unless other processes "
            "share the GPU",
        )
    if s.kv_cache_memory_bytes is None and 0 < b.kv_budget < need:
        wanted = math.ceil((util + (need - b.kv_budget) / memory.total) * 100) / 100
        if wanted <= SAFE_CEILING:
            return Recommendation(
                key="gpu_memory_utilization",
                value=wanted,
                reason=f"the KV cache is {(need - b.kv_budget) / GIB:.2f} GiB short of one "
                f"{s.max_model_len}-token request; {wanted} is the smallest utilization that "
                "holds one",
            )
    given = ctx.request.policy.gpu_memory_utilization is not None
    kept = (
        "; the extensible KV cache is sized from the memory measured after warm-up and CUDA "
        "graph capture, keeping the activation peak and a margin free"
        if s.extensible_kv
        else f"; {memory.outside_budget / GIB:.2f} GiB stays outside vLLM's budget"
    )
    return Recommendation(
        key="gpu_memory_utilization",
        value=util,
        reason=("as set in the profile" if given else f"vLLM {s.facts.version}'s default") + kept,
    )


def _withheld_by_utilization(ctx: RuleContext) -> float | None:
    """The bytes a given utilization keeps out of an extensible KV cache where vLLM warns of it
    (extensible_kv_cache.py measure_kv_cache_blocks: a utilization in the warning band
    withholding at least the warning's figure); None elsewhere, or where instances share the
    GPU on purpose."""
    s, memory = ctx.settings, ctx.memory
    ext = s.facts.extensible_kv_cache
    given = ctx.request.policy.gpu_memory_utilization is not None
    if not s.extensible_kv or ext is None or not given or ctx.request.policy.instances_per_gpu > 1:
        return None
    low, high = ext.warn_utilization_between
    if not low < s.gpu_memory_utilization < high:
        return None
    full = at_utilization(memory, ext.utilization)
    withheld = full.binding.kv_budget - memory.binding.kv_budget
    return withheld if withheld >= ext.warn_withheld_gib * GIB else None


def _max_num_seqs(ctx: RuleContext) -> Recommendation:
    s, work, b = ctx.settings, ctx.request.workload, ctx.memory.binding
    default = s.facts.default_batching(ctx.gpu.name, ctx.gpu.memory_gib)[1]
    concurrency = s.per_engine(work.concurrency)  # max_num_seqs is per engine
    if work.batching_mode is BatchingMode.LATENCY:
        value, why = concurrency, "latency mode: no more requests than the workload sends"
    elif work.batching_mode is BatchingMode.THROUGHPUT:
        value = max(2 * default, concurrency)
        why = "throughput mode: twice vLLM's default, as its own throughput mode does"
    else:
        value = max(default, math.ceil(concurrency * 1.25))
        why = "balanced mode: vLLM's default, or a quarter over the workload's concurrency"
    length = workload_tokens(ctx)
    per_request = workload_bytes(ctx)
    capacity = int(b.kv_budget // per_request) if b.kv_budget > 0 and per_request > 0 else 0
    if 0 < capacity < value:
        value = capacity
        why += f"; capped at {capacity}, the {length}-token requests the KV cache holds at once"
    if ctx.request.engine.max_num_seqs is not None:
        why = f"the profile sets {ctx.request.engine.max_num_seqs}; {why}"
    return Recommendation(key="max_num_seqs", value=value, reason=why)


def _max_num_batched_tokens(ctx: RuleContext, seqs: int) -> Recommendation:
    s, work = ctx.settings, ctx.request.workload
    default = s.facts.default_batching(ctx.gpu.name, ctx.gpu.memory_gib)[0]
    if s.is_v0:
        return Recommendation(
            key="max_num_batched_tokens",
            value=s.max_num_batched_tokens,
            reason=f"vLLM {s.facts.version} (V0) schedules whole prompts: its own choice",
        )
    if work.batching_mode is BatchingMode.THROUGHPUT:
        value, why = 2 * default, "throughput mode: twice vLLM's default, larger prefill chunks"
    elif work.batching_mode is BatchingMode.LATENCY:
        value = min(LATENCY_TOKEN_CAP, max(default, -(-work.prompt_tokens // 256) * 256))
        why = "latency mode: a whole prompt prefills in one step (lower time to first token)"
    else:
        value, why = default, f"balanced mode: vLLM {s.facts.version}'s default for the GPU"
    if value < seqs:
        value, why = seqs, why + f"; raised to max_num_seqs ({seqs}), which vLLM requires"
    if not chunked_prefill(ctx) and value < s.max_model_len:
        value, why = s.max_model_len, why + "; raised to max_model_len (no chunked prefill)"
    if value != s.max_num_batched_tokens:
        trial = plan_memory(ctx.model, evolve(s, max_num_batched_tokens=value, max_num_seqs=seqs))
        if not _fits(ctx, trial) and _fits(ctx, ctx.memory):
            value = s.max_num_batched_tokens
            why += "; kept as planned: a larger batch budget leaves no KV cache for one request"
    if ctx.request.engine.max_num_batched_tokens is not None:
        why = f"the profile sets {ctx.request.engine.max_num_batched_tokens}; {why}"
    return Recommendation(key="max_num_batched_tokens", value=value, reason=why)


def recommend(
    ctx: RuleContext, config: VLLMConfig, findings: list[Finding] | None = None
) -> tuple[VLLMConfig, list[Recommendation]]:
    """Explain every setting, recommend better ones where the plan allows, and apply the safe
    fixes of the plan's start-up errors (``findings``, evaluated here when not given)."""
    seqs = _max_num_seqs(ctx)
    recs = [
        _parallelism(ctx),
        *_quantization(ctx),
        *_kv_cache_dtype(ctx),
        _utilization(ctx),
        seqs,
        _max_num_batched_tokens(ctx, int(seqs.value)),
    ]
    fixed, applied = apply_fixes(config, evaluate(ctx) if findings is None else findings)
    # the applied fix is the one value for its setting
    recs = [rec for rec in recs if rec.key not in fixed] + applied
    explanations: dict[str, str] = {}
    if ctx.request.explain:
        for rec in recs:
            current = fixed[rec.key] if rec.key in fixed else getattr(config, rec.key, rec.value)
            reason = rec.reason if current == rec.value else _current_reason(ctx, rec, current)
            explanations[rec.key] = "; ".join(filter(None, [explanations.get(rec.key), reason]))
        explanations.update(parallel_costs(ctx.model, ctx.settings, ctx.memory.binding.kv.tokens))
        nodes = nodes_spanned(ctx.settings, ctx.request.hardware.gpus_per_node)
        backend = ctx.request.engine.distributed_executor_backend
        explanations.update(launch_costs(ctx.settings, backend, nodes))
        explanations.update(lora_costs(ctx.model, ctx.settings, ctx.memory.first.cudagraph))
        explanations.update(
            graph_costs(ctx.request.engine, ctx.settings, ctx.memory.first.cudagraph)
        )
        explanations.update(rope_flag_costs(ctx.request, ctx.model, ctx.settings.facts.version))
        if "num-redundant-experts" in ctx.request.engine.vllm_args and "--eplb-config" in (
            explanations
        ):  # 0.10's deprecated flag set the count over --eplb-config's: its line says it
            explanations["--num-redundant-experts"] = explanations.pop("--eplb-config")
        explanations.update(_connector_costs(ctx))
        off = extensible_kv_off(ctx.request.engine, ctx.settings.facts, ctx.gpu)
        explanations.update(extensible_costs(ctx.memory, off))
        explanations.update(_in_flight_costs(ctx))
        explanations.update(spec_costs(ctx.request, ctx.model, ctx.gpu, ctx.memory))
        explanations.update(multimodal_costs(ctx.model, ctx.settings))
        explanations.update(sampler_costs(ctx.model, ctx.settings))
        explanations.update(interconnect_costs(ctx.settings))
        explanations.update(all_reduce_costs(ctx.settings))
        explanations.update(skip_layer_costs(ctx.model, ctx.settings))
        explanations.update(indexer_costs(ctx.model, ctx.settings))
        explanations.update(state_costs(ctx.model, ctx.settings))
    return config.model_copy(update={**fixed, "explanations": explanations}), recs


def _connector_costs(ctx: RuleContext) -> dict[str, str]:
    """The KV connector's effect, against the same memory with the hybrid KV cache manager."""
    eng, s = ctx.request.engine, ctx.settings
    connector = resolve_connector(eng, s.facts.version, s.world_size)
    if connector is None:
        return {}
    flag = "--kv-offloading-size" if eng.kv_offloading_size is not None else "--kv-transfer-config"
    hybrid = s.facts.hybrid_kv_cache_manager and hybrid_model(ctx.model)
    tokens = ctx.memory.binding.kv.tokens
    on = plan_memory(ctx.model, evolve(s, hybrid_kv=True)).binding.kv.tokens if hybrid else 0
    return connector_costs(connector, flag, hybrid, tokens, on, s.connector_buffer)


def _in_flight_costs(ctx: RuleContext) -> dict[str, str]:
    """What async scheduling costs a model with sliding-window or chunked layers where each
    window keeps every batch in flight (in_flight_batches), against the other setting."""
    s, kv = ctx.settings, ctx.memory.binding.kv
    windowed = {LayerKind.SLIDING, LayerKind.CHUNKED} & set(kv.layout.kinds)
    if not windowed or not has_behaviour("window_keeps_in_flight_batches", s.facts.version):
        return {}
    on = async_scheduling(ctx.request)
    held = (
        f"each window keeps {s.in_flight_batches} batch(es) of {s.max_num_batched_tokens:,} "
        f"tokens in flight beside itself (async scheduling {'on' if on else 'off'}): "
        f"{kv.max_concurrency:.2f}x requests at {s.max_model_len:,} tokens"
    )
    if on or ctx.request.engine.distributed_executor_backend != "ray":
        other = in_flight_batches(s.pp, s.facts.version, not on)
        alt = plan_memory(ctx.model, evolve(s, in_flight_batches=other)).binding.kv
        flag = "--async-scheduling" if not on else "--no-async-scheduling"
        held += f", {alt.max_concurrency:.2f}x with {flag}"
    return {"--async-scheduling": held}


# VLLMConfig field -> where a request sets it (section, field)
_GIVEN = {
    "tensor_parallel_size": ("hardware", "tensor_parallel_size"),
    "gpu_memory_utilization": ("policy", "gpu_memory_utilization"),
    "max_num_seqs": ("engine", "max_num_seqs"),
    "max_num_batched_tokens": ("engine", "max_num_batched_tokens"),
}


def _current_reason(ctx: RuleContext, rec: Recommendation, current: object) -> str:
    """Why the config holds ``current`` where ``rec`` recommends another value: the reason
    given belongs to the recommended value, so it is said as such."""
    section, field = _GIVEN.get(rec.key, ("", ""))
    given = bool(section) and getattr(getattr(ctx.request, section), field) is not None
    if given:
        origin = "as given"
    elif rec.key == "tensor_parallel_size":
        origin = "the largest the GPUs given allow"
    elif rec.key in _GIVEN:
        origin = f"vLLM {ctx.settings.facts.version}'s default"
    else:
        origin = "as given" if current not in (None, "auto", "none") else "vLLM's default"
    return f"{origin}; {rec.value} recommended: {rec.reason}"
