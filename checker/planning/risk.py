"""OOM risk: what vLLM's budget does not cover, against what still has to fit outside it.

vLLM allocates ``total x utilization`` for weights, activations and KV cache. Outside that
budget the device must still hold the CUDA context (and NCCL buffers with TP/PP), the CUDA
graph pool in versions that do not subtract it, and room for allocator fragmentation.

* HIGH   - the outside memory is smaller than context + CUDA graphs, or (V1) what is left
           free after the KV cache and CUDA graphs is smaller than the sampler warm-up needs:
           start-up runs out of memory (the "utilization >= 0.97" failures).
* MEDIUM - less than 1 GiB is left after those, or the workload's own KV need (times the
           policy's fragmentation factor) leaves less than the policy's headroom.
* LOW    - otherwise.

Every one of these depends on an estimated term (CUDA graphs, sampler warm-up, activation
peak), so a HIGH risk is an *estimated* error finding (VW205, VW303) whatever the size of the
shortfall; only vLLM's deterministic arithmetic (weights, KV blocks against one request) makes
a plain start-up error.
"""

from __future__ import annotations

from checker.planning.memory.activation import sampler_warmup_bytes
from checker.planning.memory.draft import draft_outside_budget
from checker.planning.memory.memory import MemoryPlan
from checker.schemas.enums import OOMRisk
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import ModelInfo

GIB = float(1 << 30)
MEDIUM_MARGIN_GIB = 1.0


def outside_margin(memory: MemoryPlan) -> float:
    """Bytes left outside vLLM's budget after the context, (unsubtracted) CUDA graphs and a KV
    connector's GPU buffer. An extensible KV cache is sized from the memory measured after
    warm-up, not inside a budget: what it leaves free beyond the activation peak."""
    s = memory.settings
    if s.extensible_kv:
        return memory.free_after_startup - memory.stages[-1].activation
    graphs = 0.0 if s.cudagraph_subtracted else memory.binding.cudagraph
    draft = draft_outside_budget(s, s.pp - 1)
    return memory.outside_budget - memory.cuda_context - graphs - s.connector_buffer - draft


def warmup_margin(memory: MemoryPlan, model: ModelInfo) -> float | None:
    """Free bytes left after the V1 sampler warm-up; None where vLLM does no such warm-up, or
    runs it before an extensible KV cache is sized (0.34 gpu_worker.py
    Worker._compile_or_warm_up_model: the cache then keeps its transient and margin free)."""
    s = memory.settings
    if s.is_v0 or s.extensible_kv or memory.binding.kv_budget <= 0:
        return None
    return memory.free_after_startup - sampler_warmup_bytes(model, memory.settings)


def free_margin(memory: MemoryPlan, model: ModelInfo) -> float:
    """Bytes left outside the budget after the context, CUDA graphs and (V1) the warm-up."""
    return _free_margin(memory, warmup_margin(memory, model))


def _free_margin(memory: MemoryPlan, warmup: float | None) -> float:
    """``free_margin`` with the warm-up margin already known (``assess`` has it)."""
    return outside_margin(memory) if warmup is None else min(outside_margin(memory), warmup)


def workload_headroom(
    memory: MemoryPlan, request: PlanRequest, kv_bytes_per_request: float
) -> float:
    """KV bytes left when the workload's concurrent requests hold their prompt and output."""
    requests = memory.settings.per_engine(request.workload.concurrency)
    need = kv_bytes_per_request * requests * request.policy.fragmentation_factor
    return memory.binding.kv_budget - need


def _outside_terms(memory: MemoryPlan, warmup: bool) -> str:
    """What ``outside_margin``/``warmup_margin`` took from the memory outside vLLM's budget."""
    terms = ["the CUDA context"]
    if memory.settings.connector_buffer:
        terms.append("the KV connector's GPU buffer")
    if draft_outside_budget(memory.settings, memory.settings.pp - 1):
        terms.append("the draft model's weights")
    if not memory.settings.cudagraph_subtracted and memory.binding.cudagraph:
        terms.append("CUDA graphs")
    if warmup:
        terms.append("the sampler warm-up")
    return ", ".join(terms[:-1]) + " and " + terms[-1] if len(terms) > 1 else terms[0]


def assess(
    memory: MemoryPlan, request: PlanRequest, model: ModelInfo, kv_bytes_per_request: float
) -> tuple[OOMRisk, str]:
    """The risk and its reason; every figure named is the one the memory table shows."""
    warmup = warmup_margin(memory, model)
    if warmup is not None and warmup < 0:
        return OOMRisk.HIGH, (
            f"the sampler warm-up with {memory.settings.max_num_seqs} requests needs "
            f"{-warmup / GIB:.2f} GiB more than is free after the KV cache and CUDA graphs"
        )
    outside = memory.outside_budget / GIB
    margin = _free_margin(memory, warmup)
    if margin < 0:
        return OOMRisk.HIGH, (
            f"only {outside:.2f} GiB is left outside vLLM's budget, less than "
            f"the CUDA context and CUDA graphs need ({outside - margin / GIB:.2f} "
            "GiB): lower gpu_memory_utilization"
        )
    headroom = workload_headroom(memory, request, kv_bytes_per_request)
    left = (
        f"{outside:.2f} GiB outside vLLM's budget leaves {margin / GIB:.2f} GiB after "
        f"{_outside_terms(memory, warmup is not None)}"
    )
    if memory.settings.extensible_kv:
        left = (
            f"the extensible KV cache leaves {margin / GIB:.2f} GiB free beyond the activation "
            "peak (and the sampler warm-up)"
        )
    if margin < MEDIUM_MARGIN_GIB * GIB:
        return OOMRisk.MEDIUM, (
            f"{left} (under {MEDIUM_MARGIN_GIB:.0f} GiB): sampler warm-up or fragmentation "
            "may run out"
        )
    if headroom < request.policy.headroom_gb * GIB:
        return OOMRisk.MEDIUM, (
            f"the workload's {memory.settings.per_engine(request.workload.concurrency)} "
            f"concurrent requests{' per engine' if memory.settings.dp > 1 else ''} leave "
            f"{headroom / GIB:.2f} GiB of KV cache "
            f"(policy asks for {request.policy.headroom_gb} GiB)"
        )
    return OOMRisk.LOW, f"{left}; the workload fits the KV cache"
