"""Plan one request on one GPU: settings -> memory -> rules -> report. Pure: no I/O."""

from __future__ import annotations

from typing import TYPE_CHECKING

from checker.planning.engine.context_length import engine_model
from checker.planning.engine.parallel import nodes_spanned
from checker.planning.engine.releases import message
from checker.planning.engine.settings import Settings, evolve, resolve_settings
from checker.planning.engine.spec_config import SpecDecode, build_spec
from checker.planning.engine.versions import version_facts
from checker.planning.kvcache.connectors import resolve_connector
from checker.planning.kvcache.kv import (
    GIB,
    bytes_for_length,
    max_length_for_budget,
    raised_block_sizes,
)
from checker.planning.memory.calibration import use_calibration
from checker.planning.memory.draft import draft_weight_bytes
from checker.planning.memory.memory import MemoryPlan, fits_one_request, plan_memory
from checker.planning.performance.serving import estimate_perf
from checker.planning.recommend import recommend
from checker.planning.rules import RuleContext, evaluate
from checker.planning.rules.config import valid_tp
from checker.planning.rules.memory import context_risk, workload_bytes
from checker.planning.rules.slo import slo_findings
from checker.planning.suppress import split_suppressed
from checker.planning.verdict import verdict_of
from checker.schemas.enums import Basis, OOMRisk, Severity
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.lazy_dataclass import lazy_dataclass
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import (
    FeasibilityReport,
    KVCacheReport,
    MemoryBreakdown,
    ModelSummary,
    PerfEstimate,
    PlanResponse,
    VLLMConfig,
)

if TYPE_CHECKING:  # its classes are defined only where a calibration file is read
    from checker.schemas.calibration import Calibration


def tp_candidates(model: ModelInfo, gpus: int, pp: int) -> list[int]:
    """Tensor-parallel sizes vLLM can build the model with on ``gpus`` GPUs, ``pp`` GPUs apart
    (pipeline stages x data-parallel engines)."""
    return valid_tp(model, max(1, gpus // pp)) or [1]


def plan_settings(
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    *,
    tp: int,
    calibration: Calibration | None = None,
    spec: SpecDecode | None = None,
) -> tuple[Settings, MemoryPlan]:
    """Settings and memory as vLLM ends up with them, max_model_len auto-fit included, with
    the terms a matching calibration measured in place of the estimates."""
    settings = resolve_settings(request, model, gpu, tp=tp, spec=spec)
    use = use_calibration(calibration, request, model, gpu, settings)
    memory = plan_memory(model, settings, use.measured)
    if settings.auto_fit_from is not None:
        fitted = auto_fit_length(memory, model)
        if 0 < fitted < settings.max_model_len:
            settings = evolve(settings, max_model_len=fitted)
            memory = plan_memory(model, settings, use.measured)
    return settings, memory


def auto_fit_length(memory: MemoryPlan, model: ModelInfo) -> int:
    """vLLM's auto-fit (max_model_len -1): the longest length, up to the derived maximum, whose
    one request fits every rank's KV memory; 0 when not even one token does
    (v1/core/kv_cache_planning.py _auto_fit_max_model_len, _estimate_max_model_len_from_groups)."""
    s = memory.settings
    lengths = [
        max_length_for_budget(model, s, stage.kv.layout, stage.check_budget)
        for stage in memory.stages
        if stage.kv.layout.page_bytes
    ]
    return min(lengths, default=s.max_model_len)


def choose_tp(
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    calibration: Calibration | None = None,
    spec: SpecDecode | None = None,
) -> int:
    """The profile's TP, else the smallest accepted TP whose plan fits (else the largest)."""
    if request.hardware.tensor_parallel_size:
        return request.hardware.tensor_parallel_size
    return plan_at_chosen_tp(request, model, gpu, calibration, spec)[0].tp


def plan_at_chosen_tp(
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    calibration: Calibration | None = None,
    spec: SpecDecode | None = None,
) -> tuple[Settings, MemoryPlan]:
    """plan_settings at choose_tp's TP: the plan of the TP that fits is the one the search
    made, not planned again."""
    if request.hardware.tensor_parallel_size:
        tp = request.hardware.tensor_parallel_size
        return plan_settings(request, model, gpu, tp=tp, calibration=calibration, spec=spec)
    # each data-parallel engine and prefill-context-parallel rank gets its share of the GPUs
    eng = request.engine
    per_engine = (
        request.hardware.pipeline_parallel_size
        * eng.data_parallel_size
        * eng.prefill_context_parallel_size
    )
    *smaller, largest = tp_candidates(model, request.hardware.gpus, per_engine)
    for tp in smaller:
        plan = plan_settings(request, model, gpu, tp=tp, calibration=calibration, spec=spec)
        if fits_one_request(plan[1], model):
            return plan
    return plan_settings(request, model, gpu, tp=largest, calibration=calibration, spec=spec)


def log_lines(memory: MemoryPlan, model: ModelInfo) -> list[str]:
    """The start-up lines vLLM prints, with our predicted figures, up to where it stops: none
    when the weights do not load, and (V1) nothing after the KV check that raises."""
    s, first, kv = memory.settings, memory.first, memory.binding.kv
    if not memory.weights_fit:
        return []
    if s.is_v0:
        # a draft model's runner logs its own load (ModelRunner.load_model, one per worker)
        draft = draft_weight_bytes(s, 0)
        loads = [first.weights - draft, draft] if draft else [first.weights]
        reason = s.facts.fallback_message  # a V1 release that fell back to V0 says why
        return [
            *([message(reason, s.facts.version)] if reason else []),
            *(f"Loading model weights took {w / GIB:.4f} GB" for w in loads),
            f"# GPU blocks: {kv.num_blocks}",
            f"Maximum concurrency for {s.max_model_len} tokens per request: "
            f"{kv.max_concurrency:.2f}x",
        ]
    lines = [s.kv_dtype_log] if s.kv_dtype_log else []
    lines += backend_lines(memory) + hybrid_lines(memory)
    lines.append(f"Model loading took {first.weights / GIB:.2f} GiB memory")
    if memory.binding.kv_budget > 0:  # below, vLLM logs a negative figure and raises
        lines.append(f"Available KV cache memory: {first.kv_budget / GIB:.2f} GiB")
    fitted = auto_fit_line(memory, model)
    lines += [fitted] if fitted else []
    if fits_one_request(memory, model):
        lines += [
            f"GPU KV cache size: {kv.tokens:,} tokens",
            f"Maximum concurrency for {s.max_model_len:,} tokens per request: "
            f"{kv.max_concurrency:.2f}x",
        ]
    return lines


def backend_lines(memory: MemoryPlan) -> list[str]:
    """The block size an MLA backend forced (Platform.update_block_size_for_backend), and the
    cache format a sparse MLA backend stores the KV dtype in."""
    s = memory.settings
    if s.mla_backend is None or s.state_page_bytes:
        return []
    lines = []
    if s.block_size != s.facts.default_block_size:
        lines.append(
            message(
                "backend-block-size", s.facts.version, block=s.block_size, backend=s.mla_backend
            )
        )
    if s.kv_storage_dtype != s.kv_cache_dtype:
        lines.append(
            message(
                "sparse-mla-kv-format",
                s.facts.version,
                format=s.kv_storage_dtype,
                backend=s.mla_backend,
            )
        )
    return lines


def hybrid_lines(memory: MemoryPlan) -> list[str]:
    """A hybrid model's config lines: the raised attention block size, the state padding."""
    s, page = memory.settings, memory.first.kv.layout.page_bytes
    if not s.state_page_bytes:
        return []
    lines = []
    if s.block_size > s.unaligned_block_size:
        lines.append(message("hybrid-block-size", s.facts.version, block=s.block_size))
    if page > s.state_page_bytes:
        pct = 100 * (page - s.state_page_bytes) / s.state_page_bytes
        lines.append(message("hybrid-state-padding", s.facts.version, pct=f"{pct:.2f}"))
    return lines


def auto_fit_line(memory: MemoryPlan, model: ModelInfo) -> str | None:
    """vLLM's auto-fit log line, in the pinned release's words; None without auto-fit or when
    it refuses (VW206)."""
    s, b = memory.settings, memory.binding
    if s.auto_fit_from is None or bytes_for_length(model, s, b.kv.layout, 1) > (b.check_budget):
        return None
    reduced = s.max_model_len < s.auto_fit_from
    return message(
        "auto-fit-reduced" if reduced else "auto-fit-full",
        s.facts.version,
        original=s.auto_fit_from,
        fitted=s.max_model_len,
        gib=round(memory.binding.check_budget / GIB, 2),
    )


# how each figure of a plan without a calibration's terms was obtained
_BASIS = {
    "total_gib": Basis.DERIVED,
    "requested_gib": Basis.EXACT,
    "weights_gib": Basis.DERIVED,
    "activation_gib": Basis.ESTIMATED,
    "non_torch_gib": Basis.ESTIMATED,
    "cudagraph_gib": Basis.ESTIMATED,
    "kv_cache_gib": Basis.DERIVED,
    "kv_cache_tokens": Basis.EXACT,
    "max_concurrency": Basis.EXACT,
}


def _basis(memory: MemoryPlan) -> dict[str, Basis]:
    """How each figure was obtained: a calibration's terms are measured, and so is the KV
    memory they leave."""
    if memory.measured is None or memory.settings.kv_cache_memory_bytes is not None:
        return dict(_BASIS)  # each plan's own: a caller may change it
    m = memory.measured.stages[0]
    logged = {
        "weights_gib": m.weights,
        "activation_gib": m.activation,
        "non_torch_gib": m.non_torch,
        "cudagraph_gib": m.cudagraph,
        "kv_cache_gib": m.non_kv,
    }
    return _BASIS | {k: Basis.MEASURED for k, v in logged.items() if v is not None}


def _breakdown(memory: MemoryPlan) -> MemoryBreakdown:
    s, first = memory.settings, memory.first
    return MemoryBreakdown(
        total_gib=round(memory.total / GIB, 2),
        gpu_memory_utilization=s.gpu_memory_utilization,
        requested_gib=round(memory.requested / GIB, 2),
        weights_gib=round(first.weights / GIB, 2),
        activation_gib=round(first.activation / GIB, 2),
        non_torch_gib=round(first.non_torch / GIB, 2),
        cudagraph_gib=round(first.cudagraph / GIB, 2),
        cudagraph_subtracted=s.cudagraph_subtracted,
        kv_cache_gib=round(max(0.0, first.kv_budget) / GIB, 2),
        outside_budget_gib=round(memory.outside_budget / GIB, 2),
        basis=_basis(memory),
    )


def _max_context_at(memory: MemoryPlan, model: ModelInfo, concurrency: int) -> int:
    """Longest context at which ``concurrency`` requests fit the KV cache together."""
    b = memory.binding
    if b.kv_budget <= 0:
        return 0
    return max_length_for_budget(model, memory.settings, b.kv.layout, b.kv_budget / concurrency)


def _no_kv_reason(memory: MemoryPlan) -> str:
    b = memory.binding
    if not memory.weights_fit:
        return (
            f"the weights need {b.weights / GIB:.2f} GiB of the GPU's {memory.total / GIB:.2f} "
            "GiB: loading runs out of memory"
        )
    return "no memory is left for the KV cache: vLLM stops at start-up"


def _config(request: PlanRequest, s: Settings) -> VLLMConfig:
    return VLLMConfig(
        model=request.model.model,
        revision=request.model.revision,
        vllm_version=s.facts.version,
        tensor_parallel_size=s.tp,
        pipeline_parallel_size=s.pp,
        dtype=request.model.dtype.value,
        gpu_memory_utilization=s.gpu_memory_utilization,
        max_model_len=s.max_model_len,
        max_model_len_auto=s.auto_fit_from is not None,
        kv_cache_dtype=s.kv_cache_dtype,
        quantization=request.model.quantization.value
        if request.model.quantization.value != "none"
        else None,
        enforce_eager=s.enforce_eager,
        max_num_seqs=s.max_num_seqs,
        max_num_batched_tokens=s.max_num_batched_tokens,
        block_size=request.engine.block_size,
        enable_prefix_caching=request.engine.enable_prefix_caching,
        enable_chunked_prefill=request.engine.enable_chunked_prefill,
        trust_remote_code=request.model.trust_remote_code,
        tokenizer=request.model.tokenizer,
        disable_hybrid_kv_cache_manager=request.engine.disable_hybrid_kv_cache_manager,
        kv_cache_memory_bytes=request.engine.kv_cache_memory_bytes,
        cudagraph_memory_profiling=request.engine.cudagraph_memory_profiling,
        allow_long_max_model_len=request.engine.allow_long_max_model_len or None,
        install=request.engine.install,
        extra_args=request.engine.vllm_args,
    )


def _offload_host_gib(request: PlanRequest, s: Settings) -> float | None:
    connector = resolve_connector(request.engine, s.facts.version, s.world_size)
    if connector is None or connector.host_bytes is None:
        return None
    return round(connector.host_bytes / GIB, 2)


def engine_setup(
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    calibration: Calibration | None = None,
    draft: ModelInfo | None = None,
) -> tuple[ModelInfo, Settings, MemoryPlan]:
    """The model as the engine builds it, its settings and memory: the one path from a request
    to what vLLM sets up, for the plan and for a calibration from a log of that setup (the
    drafter of a speculative config included: its weights, KV layers and CUDA-graph sizes)."""
    model = engine_model(model, request)
    version = version_facts(request.engine.vllm_version).version
    spec = build_spec(request.engine, model, draft, version)
    settings, memory = plan_at_chosen_tp(request, model, gpu, calibration, spec)
    return model, settings, memory


@lazy_dataclass(frozen=True, slots=True)
class Assessment:
    """A plan up to its verdict, without the recommendations: the gate completes only the
    plans a report prints (a failing pair's), and the recommendations cost a third of a plan."""

    context: RuleContext
    summary: ModelSummary
    feasibility: FeasibilityReport
    performance: PerfEstimate


def run_plan(
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    calibration: Calibration | None = None,
    draft: ModelInfo | None = None,
) -> PlanResponse:
    """The plan; ``calibration`` (read by the caller) gives measured terms where it matches;
    ``draft``: the metadata of the speculative config's draft model or EAGLE head."""
    return complete(assess(request, model, gpu, calibration, draft))


def complete(assessment: Assessment, judged: FeasibilityReport | None = None) -> PlanResponse:
    """The whole plan of ``assessment``: its recommendations, and the config they fix;
    ``judged``: its feasibility under the caller's fail_on (verdict.judge_feasibility), which
    the plan reports (the recommendations answer the findings as the rules raised them)."""
    context, feasibility = assessment.context, assessment.feasibility
    config = _config(context.request, context.settings)
    config, recommendations = recommend(context, config, feasibility.findings)
    return PlanResponse(
        model=assessment.summary,
        feasibility=feasibility if judged is None else judged,
        config=config,
        performance=assessment.performance,
        recommendations=recommendations,
    )


def assess(
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    calibration: Calibration | None = None,
    draft: ModelInfo | None = None,
) -> Assessment:
    """``run_plan`` up to the verdict: the figures and findings, no recommendations."""
    model, settings, memory = engine_setup(request, model, gpu, calibration, draft)
    ignored = use_calibration(calibration, request, model, gpu, settings).ignored
    context = RuleContext(request, model, gpu, settings, memory, ignored)
    performance = estimate_perf(context, step_model=request.step_model)
    missed, slos = slo_findings(context, performance)
    findings, suppressed = split_suppressed(evaluate(context, missed), request.ignore)
    if slos:
        performance = performance.model_copy(update={"slos": slos})
    b = memory.binding
    has_kv = memory.has_kv_cache
    risk, reason = context_risk(context) if has_kv else (OOMRisk.HIGH, _no_kv_reason(memory))
    per_request = workload_bytes(context)
    concurrency = settings.per_engine(request.workload.concurrency)
    headroom = b.kv_budget - per_request * concurrency * request.policy.fragmentation_factor
    layout = b.kv.layout
    kv = (
        KVCacheReport(
            block_size=settings.block_size,
            num_blocks=b.kv.num_blocks,
            tokens=b.kv.tokens,
            bytes_per_token=layout.bytes_per_token,
            page_bytes=layout.page_bytes,
            num_groups=max(1, len(layout.kinds)),
            group_block_sizes=raised_block_sizes(layout, settings.block_size),
            state_bytes_per_request=layout.linear_state_bytes,
            max_concurrency=round(b.kv.max_concurrency, 2),
            kv_cache_dtype=settings.kv_cache_dtype,
        )
        if layout.page_bytes and has_kv
        else None
    )
    feasibility = FeasibilityReport(
        fits=not any(f.severity is Severity.ERROR and not f.estimated for f in findings),
        verdict=verdict_of(findings),
        oom_risk=risk,
        oom_risk_reason=reason,
        gpu=gpu.name,
        num_gpus_used=settings.gpus_needed,
        num_gpus_given=request.hardware.gpus,
        weights_fit=memory.weights_fit,
        tensor_parallel_size=settings.tp,
        pipeline_parallel_size=settings.pp,
        data_parallel_size=settings.dp,
        expert_parallel=settings.expert_parallel,
        nodes=nodes_spanned(settings, request.hardware.gpus_per_node),
        max_model_len=settings.max_model_len,
        memory=_breakdown(memory),
        kv=kv,
        max_concurrency_at_context=round(b.kv.max_concurrency, 2),
        max_context_at_concurrency=_max_context_at(memory, model, concurrency),
        deployment_kv_tokens=kv.tokens * settings.dp if kv else None,
        kv_offload_host_gib=_offload_host_gib(request, settings),
        headroom_gib=round(headroom / GIB, 2) if has_kv else None,
        log_lines=log_lines(memory, model),
        findings=findings,
        suppressed=suppressed,
    )
    summary = ModelSummary(
        model_id=model.model_id,
        source=model.source,
        architecture=(model.architectures or (model.model_type,))[0],
        param_count=model.param_count,
        num_layers=model.num_hidden_layers,
        dtype=settings.dtype,
        quantization=settings.quantization,
    )
    return Assessment(context, summary, feasibility, performance)
