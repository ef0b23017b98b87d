"""Measured terms from a calibration, matched to a plan and made ready for plan_memory. Pure.

An entry applies when the plan shares its key (model, revision, GPU, vLLM version, TP/PP/DP and
the settings that change the terms, checker.schemas.calibration). At another max_num_seqs the
measured activation and CUDA-graph terms move by the estimate's own change between the two
values (the sampler's logits and the captured sizes grow with it). An entry of the same model
that differs in anything else is ignored, and the plan says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from checker.planning.engine.releases import has_behaviour
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.kvcache.kv import GIB
from checker.planning.memory.activation import activation_bytes, cudagraph_bytes
from checker.planning.memory.memory import Measured, MeasuredStage, MemoryPlan
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import ModelInfo

if TYPE_CHECKING:  # defined only where a calibration is read or written
    from checker.schemas.calibration import (
        Calibration,
        CalibrationEntry,
        CalibrationKey,
        StageTerms,
    )

# GiB a logged figure may be off by: vLLM prints two decimals
_LOG_ROUNDING_GIB = 0.006


def calibration_key(request: PlanRequest, settings: Settings) -> CalibrationKey:
    from checker.schemas.calibration import CalibrationKey, CalibrationSettings

    return CalibrationKey(
        model=request.model.model,
        revision=request.model.revision or "main",
        gpu=settings.gpu.name,
        gpu_memory_gib=settings.gpu.memory_gib,
        vllm_version=settings.facts.version,
        tensor_parallel_size=settings.tp,
        pipeline_parallel_size=settings.pp,
        data_parallel_size=settings.dp,
        settings=CalibrationSettings(
            dtype=settings.dtype,
            quantization=settings.quantization,
            kv_cache_dtype=settings.kv_cache_dtype,
            max_num_batched_tokens=settings.max_num_batched_tokens,
            enforce_eager=settings.enforce_eager,
            cudagraph_subtracted=settings.cudagraph_subtracted,
            lora_slots=settings.lora_slots,
            lora_rank=settings.lora_rank,
            cpu_offload_gib=round(settings.cpu_offload_bytes / GIB, 4),
            expert_parallel=settings.expert_parallel,
            redundant_experts=settings.redundant_experts,
            all2all_backend=settings.all2all_backend,
            prefill_context_parallel_size=settings.pcp,
            decode_context_parallel_size=settings.dcp,
            drafter=_drafter(settings),
        ),
    )


def _drafter(settings: Settings) -> str | None:
    """'method model xN' of the speculative config the plan sized; None without one."""
    spec = settings.spec
    if spec is None:
        return None
    model = spec.config.get("model")
    words = [spec.method or "unknown method", str(model)[:512] if model else None]
    return " ".join(filter(None, [*words, f"x{spec.tokens}" if spec.tokens else None]))


class LoggedTerms(NamedTuple):
    """One stage's figures from a log, GiB (None: not logged)."""

    kv_cache_gib: float
    weights_gib: float | None = None
    activation_gib: float | None = None
    non_torch_gib: float | None = None
    cudagraph_gib: float | None = None


def measured_stages(
    memory: MemoryPlan,
    logged: Sequence[LoggedTerms],
    *,
    gpu_memory_utilization: float,
    gpu_blocks: tuple[int, int] | None,
) -> tuple[StageTerms, ...]:
    """Each stage's terms, with the memory vLLM took before the KV cache to the byte range of
    the logged block count (``gpu_blocks``: the fewest and most blocks the log allows): the
    stage whose logged KV memory holds that many blocks is the binding one, and every other
    stage holds at least as many (vLLM unifies them to the minimum,
    v1/core/kv_cache_utils.py unify_kv_cache_configs)."""
    from checker.schemas.calibration import StageTerms

    requested = memory.total * gpu_memory_utilization
    kv = [t.kv_cache_gib * GIB for t in logged]
    if gpu_blocks is not None:
        fewest, most = gpu_blocks
        rounding = _LOG_ROUNDING_GIB * GIB
        blocks = [_block_bytes(memory, s) for s in range(len(logged))]
        fits = [
            s
            for s, b in enumerate(blocks)
            if b and fewest * b - rounding <= kv[s] < (most + 1) * b + rounding
        ]
        if fits:  # else the block count is not this layout's: the logged GiB stand
            middle = [(fewest + most + 1) / 2 * b for b in blocks]
            kv = [middle[s] if s == fits[0] else max(kv[s], middle[s]) for s in range(len(kv))]
    return tuple(
        StageTerms(
            stage=s,
            weights_gib=t.weights_gib,
            activation_gib=t.activation_gib,
            non_torch_gib=t.non_torch_gib,
            cudagraph_gib=t.cudagraph_gib,
            non_kv_gib=round((requested - kv[s]) / GIB, 6),
        )
        for s, t in enumerate(logged)
    )


def _block_bytes(memory: MemoryPlan, stage: int) -> int:
    layout = memory.stages[stage].kv.layout
    return layout.page_bytes * layout.group_size


def blocks_from_tokens(memory: MemoryPlan, tokens: int) -> tuple[int, int] | None:
    """The block counts behind "GPU KV cache size: N tokens", printed as blocks // groups x
    block_size (checker.planning.kvcache.kv size_kv): with G KV cache groups the count is one of G
    values. None where the tokens are not whole blocks of every group: a state layer's or a
    release that prints them from the concurrency."""
    s, layout = memory.settings, memory.binding.kv.layout
    if layout.state_layers or has_behaviour("kv_tokens_from_concurrency", s.facts.version):
        return None
    size, groups = s.block_size, 1 if s.is_v0 else max(1, len(layout.kinds))
    if tokens % size:
        return None
    fewest = tokens // size * groups
    return fewest, fewest + groups - 1


class CalibrationUse(NamedTuple):
    """What a calibration gives one plan: measured terms, or why its entry was ignored."""

    measured: Measured | None = None
    ignored: str | None = None


def use_calibration(
    calibration: Calibration | None,
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    settings: Settings,
) -> CalibrationUse:
    if calibration is None or not calibration.entries:
        return CalibrationUse()
    key = calibration_key(request, settings)
    same_model = [
        e
        for e in calibration.entries
        if e.key.model.lower() == key.model.lower() and e.key.revision == key.revision
    ]
    if not same_model:
        return CalibrationUse()
    found = next((e for e in same_model if _same(e.key, key)), None)
    if found is None:
        closest = min(same_model, key=lambda e: len(_differences(e.key, key)))
        changed = "; ".join(_differences(closest.key, key))
        return CalibrationUse(
            ignored=f"the calibration in {calibration.source or 'the calibration file'} for "
            f"{key.model} does not match this plan ({changed}): its measured terms are not "
            "used"
        )
    where = f"{calibration.source or 'calibration'} ({', '.join(found.logs) or 'logs'})"
    stages = tuple(_bytes(t) for t in found.stages)
    if found.max_num_seqs == settings.max_num_seqs:
        return CalibrationUse(measured=Measured(stages, where))
    return CalibrationUse(measured=_adjusted(found, stages, where, request, model, gpu, settings))


def _same(a: CalibrationKey, b: CalibrationKey) -> bool:
    return not _differences(a, b)


def same_version(a: str, b: str) -> bool:
    """Whether two vLLM versions name one release ("0.19" is "0.19.0"; a suffix is dropped)."""

    def release(text: str) -> tuple[int, ...]:
        parts = tuple(int(p) for p in text.split(".")[:3] if p.isdigit())
        return parts + (0,) * (3 - len(parts))

    return release(a) == release(b)


def _differences(recorded: CalibrationKey, planned: CalibrationKey) -> list[str]:
    """'field: recorded X, this plan Y' for each key field that differs."""
    found = []
    a = {**recorded.model_dump(exclude={"settings"}), **recorded.settings.model_dump()}
    b = {**planned.model_dump(exclude={"settings"}), **planned.settings.model_dump()}
    for name in a:
        if name == "model":  # matched case-insensitively above
            continue
        same = same_version(a[name], b[name]) if name == "vllm_version" else a[name] == b[name]
        if not same:
            found.append(f"{name}: recorded {a[name]}, this plan {b[name]}")
    return found


def _bytes(t: StageTerms) -> MeasuredStage:
    def b(gib: float | None) -> float | None:
        return None if gib is None else gib * GIB

    return MeasuredStage(
        b(t.weights_gib),
        b(t.activation_gib),
        b(t.non_torch_gib),
        b(t.cudagraph_gib),
        t.non_kv_gib * GIB,
    )


def _adjusted(
    entry: CalibrationEntry,
    stages: tuple[MeasuredStage, ...],
    where: str,
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    settings: Settings,
) -> Measured:
    """The entry's terms moved by the estimate's change from its max_num_seqs to the plan's."""
    engine = request.engine.model_copy(update={"max_num_seqs": entry.max_num_seqs})
    logged = resolve_settings(
        request.model_copy(update={"engine": engine}),
        model,
        gpu,
        tp=settings.tp,
        spec=settings.spec,
    )
    moved = []
    change = 0.0
    for stage, m in enumerate(stages):
        act = activation_bytes(model, settings, stage) - activation_bytes(model, logged, stage)
        graphs = cudagraph_bytes(model, settings, stage) - cudagraph_bytes(model, logged, stage)
        subtracted = act + (graphs if settings.cudagraph_subtracted else 0.0)
        change = max(change, abs(subtracted))
        moved.append(
            MeasuredStage(
                m.weights,
                None if m.activation is None else m.activation + act,
                m.non_torch,
                None if m.cudagraph is None else max(0.0, m.cudagraph + graphs),
                m.non_kv + subtracted,
            )
        )
    note = (
        f"measured at max_num_seqs {entry.max_num_seqs}, planned at {settings.max_num_seqs}: "
        f"the estimate's change for it moves the terms before the KV cache by up to "
        f"{change / GIB:.2f} GiB"
    )
    return Measured(tuple(moved), where, note)
