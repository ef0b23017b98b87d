"""vLLM's start-up memory arithmetic for every pipeline stage, and the binding one.

V1 (gpu_worker.determine_available_memory): available KV = total x utilization - (weights +
torch activation peak + non-torch increase) [- CUDA-graph estimate from 0.21]. V0 (0.6+):
the same with the activation peak of max_num_batched_tokens. KV blocks are unified to the
minimum across workers, so the stage with the fewest blocks binds. From 0.34 an extensible KV
cache takes the fewer blocks of that (without the graph estimate) and of the memory measured
after warm-up and CUDA-graph capture (measured_budget).

Measured terms (a calibration, checker.planning.memory.calibration) replace the estimates stage by
stage: the KV budget is then the requested memory less what vLLM measured it took before the
KV cache, so a plan of the logged setup reproduces the log's blocks.
"""

from __future__ import annotations

from typing import NamedTuple

from checker.planning.engine.parallel import all2all_buffer_bytes
from checker.planning.engine.releases import has_behaviour
from checker.planning.engine.settings import Settings, evolve
from checker.planning.kvcache.kv import (
    GIB,
    KVLayout,
    KVResult,
    kv_layout,
    kv_result,
    one_request,
    v0_blocks,
)
from checker.planning.memory.activation import (
    activation_bytes,
    cuda_context_gib,
    cudagraph_bytes,
    non_torch_gib,
)
from checker.planning.memory.draft import draft_outside_budget, draft_weight_bytes
from checker.planning.memory.lora import lora_buffer_bytes
from checker.planning.memory.multimodal import frontend_gpu_bytes
from checker.planning.memory.weights import stage_weight_bytes
from checker.schemas.model_info import ModelInfo


class MeasuredStage(NamedTuple):
    """One stage's terms as a start-up log measured them, bytes per rank (None: not logged)."""

    weights: float | None
    activation: float | None
    non_torch: float | None
    cudagraph: float | None
    non_kv: float  # requested memory less the KV cache: every term vLLM subtracted


class Measured(NamedTuple):
    """Measured terms for every stage, where they came from, and how they were adjusted."""

    stages: tuple[MeasuredStage, ...]
    source: str
    adjusted: str | None = None  # the settings that differ from the log's, and the change


class StageMemory(NamedTuple):
    stage: int
    weights: float  # bytes, per rank
    activation: float
    non_torch: float
    cudagraph: float  # estimate; subtracted only where the version does
    kv_budget: float
    kv: KVResult
    check_budget: float  # what the one-request check and auto-fit compare against
    # an extensible KV cache's first checks, on the profiled capacity before the measured
    # budget (v1/core/kv_cache_planning.py get_kv_cache_configs, then shrink_kv_cache_configs);
    # None where the profile's budget is the cache
    capacity_check: float | None = None


class MemoryPlan(NamedTuple):
    settings: Settings
    total: float  # bytes of the device as CUDA reports it
    requested: float
    stages: tuple[StageMemory, ...]
    binding: StageMemory  # the stage with the fewest blocks
    cuda_context: float
    # KV bytes one request of max_model_len needs on the binding rank (bytes_for_length):
    # the fit checks, rules and recommendations all ask
    max_len_bytes: float
    measured: Measured | None = None
    terms: tuple[StageTerms, ...] = ()  # what the stages were sized from (at_utilization)

    @property
    def first(self) -> StageMemory:
        """Rank 0, whose lines are the ones a user sees in the log."""
        return self.stages[0]

    @property
    def outside_budget(self) -> float:
        return self.total - self.requested

    @property
    def weights_fit(self) -> bool:
        """The binding rank's weights load beside the CUDA context (else CUDA OOM, VW201)."""
        return self.binding.weights <= self.total - self.cuda_context

    @property
    def has_kv_cache(self) -> bool:
        """vLLM gets as far as allocating KV blocks: the weights load and leave a budget."""
        return self.weights_fit and self.binding.kv_budget > 0

    @property
    def free_after_startup(self) -> float:
        """Bytes still free on the binding rank once weights, KV cache and CUDA graphs are
        allocated: what the sampler warm-up (last stage) has to work with."""
        b = self.stages[-1]
        # a KV connector's buffer that vLLM's profile counts in no term is here too
        used = b.weights + b.non_torch + b.kv_budget + b.cudagraph + self.settings.connector_buffer
        return self.total - self.cuda_context - used


class StageTerms(NamedTuple):
    """One stage's memory before its KV cache, bytes per rank (a calibration's measured terms in
    place of the estimates): none of it depends on gpu_memory_utilization."""

    weights: float
    activation: float
    non_torch: float
    cudagraph: float
    frontend: float  # the API servers' GPU media decoding, carved out of the KV cache
    layout: KVLayout
    measured: MeasuredStage | None
    # the blocks and bytes of one request of max_model_len on this rank's layout
    # (kv.one_request): like the terms above, independent of utilization
    request_blocks: int
    max_len_bytes: float


def plan_memory(
    model: ModelInfo, settings: Settings, measured: Measured | None = None
) -> MemoryPlan:
    non_torch = non_torch_gib(settings) * GIB + all2all_buffer_bytes(model, settings)
    terms = []
    for stage in range(settings.pp):
        # LoRA buffers and the drafter are allocated while the model loads ("Model loading
        # took" counts them)
        weights = (
            stage_weight_bytes(model, settings, stage)
            + lora_buffer_bytes(model, settings, stage)
            + draft_weight_bytes(settings, stage)
        )
        activation = activation_bytes(model, settings, stage)
        graphs = cudagraph_bytes(model, settings, stage)
        stage_non_torch = non_torch
        m = measured.stages[stage] if measured else None
        if m is not None:
            weights = _or(m.weights, weights)
            activation = _or(m.activation, activation)
            stage_non_torch = _or(m.non_torch, non_torch)
            graphs = _or(m.cudagraph, graphs)
        frontend = frontend_gpu_bytes(model, settings)
        layout = kv_layout(model, settings, stage)
        terms.append(
            StageTerms(
                weights,
                activation,
                stage_non_torch,
                graphs,
                frontend,
                layout,
                m,
                *one_request(model, settings, layout),
            )
        )
    return _sized(settings, tuple(terms), measured)


def at_utilization(memory: MemoryPlan, utilization: float) -> MemoryPlan:
    """``memory`` at another gpu_memory_utilization, as plan_memory gives it: only the
    requested memory and the KV cache it leaves change, so the terms before it are kept."""
    settings = evolve(memory.settings, gpu_memory_utilization=utilization)
    return _sized(settings, memory.terms, memory.measured)


def _sized(
    settings: Settings,
    terms: tuple[StageTerms, ...],
    measured: Measured | None,
) -> MemoryPlan:
    """The KV budget and cache of every stage from its terms, and the binding stage."""
    total = settings.gpu.memory_gib * GIB
    requested = total * settings.gpu_memory_utilization
    cuda_context = cuda_context_gib(settings) * GIB
    stages = []
    for stage, t in enumerate(terms):
        capacity_check = None
        if settings.kv_cache_memory_bytes is not None:
            budget = float(settings.kv_cache_memory_bytes)
        else:
            if t.measured is not None:
                # with an extensible KV cache the log's "Available KV cache memory" is the
                # profile's capacity
                budget = requested - t.measured.non_kv
            else:
                budget = requested - t.weights - t.activation - t.non_torch
                # an extensible KV cache takes no CUDA-graph estimate: it measures the captured
                # graphs (GPUModelRunner.profile_cudagraph_memory returns 0)
                if settings.cudagraph_subtracted and not settings.extensible_kv:
                    budget -= t.cudagraph
                budget += draft_outside_budget(settings, stage)
            if settings.extensible_kv:
                # the cache is what is measured after warm-up (finalize_extensible_kv_cache)
                capacity_check = _kv_memory(settings, t.layout, budget - t.frontend, stage)[1]
                free_at_start = total - cuda_context
                budget = min(budget, measured_budget(settings, t, requested, free_at_start))
        # the API servers' GPU media decoding is carved out of the KV cache, also when
        # kv_cache_memory_bytes is given (Worker.determine_available_memory)
        budget -= t.frontend
        allocated, check = _kv_memory(settings, t.layout, budget, stage)
        stages.append(
            StageMemory(
                stage,
                t.weights,
                t.activation,
                t.non_torch,
                t.cudagraph,
                budget,
                kv_result(settings, t.layout, allocated, stage, t.request_blocks),
                check,
                capacity_check,
            )
        )
    binding = stages[0] if len(stages) == 1 else min(stages, key=_fewest_blocks)
    return MemoryPlan(
        settings,
        total,
        requested,
        tuple(stages),
        binding,
        cuda_context,
        terms[binding.stage].max_len_bytes,
        measured,
        terms,
    )


def _fewest_blocks(stage: StageMemory) -> tuple[int, float]:
    return stage.kv.num_blocks, stage.kv_budget


def extensible_margin(settings: Settings, t: StageTerms) -> tuple[float, float]:
    """(transient, margin): the bytes an extensible KV cache keeps free for the activation
    peak, and beyond it for what the measurement does not show (extensible_kv_cache.py
    measure_kv_cache_bytes). The transient is Worker.peak_activation_memory, the profile's
    activation peak (its CUDA-graph estimate is 0 here; reserved_headroom_bytes: a warm-up
    step with a higher peak, or torch's reservation growth, raises it at run time, not
    modelled); the margin is the larger of a floor and a fraction of it."""
    ext = settings.facts.extensible_kv_cache
    assert ext is not None
    floor = ext.margin_floor_gib.get(settings.gpu.vendor, 0.0) * GIB
    return t.activation, max(floor, ext.margin_fraction * t.activation)


def measured_budget(
    settings: Settings, t: StageTerms, requested: float, free_at_start: float
) -> float:
    """An extensible KV cache's bytes after warm-up and CUDA-graph capture: the requested
    memory, capped by what was free at start (total less the CUDA context) less the margin,
    less what the engine then holds (weights, non-torch, the captured graphs) and the
    transient peak (measure_kv_cache_bytes; the blocks are the fewer of these and the profile's
    capacity: kv_cache_planning.py finalize_extensible_kv_cache)."""
    transient, margin = extensible_margin(settings, t)
    used = t.weights + t.non_torch + t.cudagraph
    return min(requested, free_at_start - margin) - used - transient


def extensible_costs(memory: MemoryPlan, off_reason: str | None) -> dict[str, str]:
    """How the KV cache was sized where the release has the extensible KV cache, for
    --explain: the measured budget's terms on the binding stage, or why vLLM keeps it off."""
    s = memory.settings
    if s.facts.extensible_kv_cache is None:
        return {}
    flag = "--enable-extensible-kv-cache"
    if not s.extensible_kv:
        return {flag: f"off ({off_reason}): the KV cache is sized from the profile's estimate"}
    if memory.measured is not None or not memory.terms:
        return {flag: "on: the KV cache is sized from memory measured after warm-up"}
    t = memory.terms[memory.binding.stage]
    transient, margin = extensible_margin(s, t)
    free = memory.total - memory.cuda_context
    used = t.weights + t.non_torch + t.cudagraph

    def gib(value: float) -> str:
        return f"{value / GIB:.2f}"

    return {
        flag: f"on: the KV cache is sized after warm-up and CUDA-graph capture, "
        f"{gib(memory.binding.kv_budget)} GiB = min(requested {gib(memory.requested)}, free at "
        f"start {gib(free)} - margin {gib(margin)}) - weights, non-torch and CUDA graphs "
        f"{gib(used)} - activation peak {gib(transient)} GiB (at most the profile's capacity); "
        "--no-enable-extensible-kv-cache sizes it from the profile at utilization "
        f"{s.facts.default_gpu_memory_utilization}"
    }


def _or(value: float | None, estimate: float) -> float:
    return estimate if value is None else value


def fits_one_request(memory: MemoryPlan, model: ModelInfo) -> bool:
    """KV memory for at least one request at max_model_len on the binding rank."""
    b = memory.binding
    return b.kv_budget > 0 and memory.max_len_bytes <= b.check_budget


def weights_take_all(model: ModelInfo, settings: Settings) -> bool:
    """Whether some stage's weights alone take all the requested memory, so that no request
    fits (fits_one_request is false): that stage's KV budget is at most zero whatever the
    other terms, none of them negative, and the binding stage is one without blocks and with
    the smallest budget. Cheaper than the whole plan, for the searches over TP sizes; never
    when kv_cache_memory_bytes sets the budget or a block override sizes the cache."""
    if settings.kv_cache_memory_bytes is not None or settings.num_gpu_blocks_override is not None:
        return False
    requested = settings.gpu.memory_gib * GIB * settings.gpu_memory_utilization
    return any(stage_weight_bytes(model, settings, i) >= requested for i in range(settings.pp))


def _kv_memory(
    settings: Settings, layout: KVLayout, budget: float, stage: int
) -> tuple[float, float]:
    """(bytes the KV cache is allocated from, bytes the checks plan against) for one rank.
    --num-gpu-blocks-override allocates exactly that many blocks; from 0.21 the checks use it
    too, and from 0.33 they hold one block back for the null block
    (v1/core/kv_cache_planning.py get_kv_cache_configs). A V0 draft model's share: the checks
    see the blocks left after the split (Worker.raise_if_cache_size_invalid runs on them)."""
    block = float(layout.group_block_bytes)
    version = settings.facts.version
    allocated = budget
    overridden = settings.num_gpu_blocks_override is not None
    if settings.is_v0 and settings.spec is not None and budget > 0 and not overridden:
        return budget, v0_blocks(settings, layout, budget, stage) * block
    if settings.num_gpu_blocks_override is not None and block:
        allocated = settings.num_gpu_blocks_override * block
    check = allocated if has_behaviour("kv_check_uses_block_override", version) else budget
    if block and has_behaviour("kv_check_reserves_null_block", version):
        check -= block
    return allocated, check
