"""Resolve a request to the concrete settings vLLM would run with (its defaults filled in)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checker.models.config_parser import type_facts
from checker.planning.context_length import default_max_len
from checker.planning.multimodal import MMSettings, mm_settings
from checker.planning.releases import has_behaviour
from checker.planning.state import (
    aligned_block_size,
    kernel_alignment,
    mamba_cache_mode,
    prefill_checkpoint_alignment,
    state_page_bytes,
)
from checker.planning.versions import VersionFacts, version_facts
from checker.schemas.enums import DType, KVCacheDType, Quantization
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import LayerKind, ModelInfo

DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}
_CONFIG_DTYPES = {
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "float32": "float32",
    "float": "float32",
}


@dataclass(frozen=True)
class Settings:
    """Everything the memory arithmetic depends on, after vLLM's defaults."""

    facts: VersionFacts
    gpu: GPUSpec
    dtype: str
    kv_cache_dtype: str
    kv_bytes: float
    quantization: str | None  # effective method: the flag, else the checkpoint's
    tp: int
    pp: int
    gpu_memory_utilization: float
    max_model_len: int
    max_num_batched_tokens: int
    max_num_seqs: int
    block_size: int
    enforce_eager: bool
    hybrid_kv: bool
    cudagraph_subtracted: bool
    kv_cache_memory_bytes: int | None
    cudagraph_sizes: tuple[int, ...] = ()  # batch sizes vLLM captures, largest last
    # max_model_len auto / -1: the length auto-fit starts from (vLLM fits it to the KV cache)
    auto_fit_from: int | None = None
    num_gpu_blocks_override: int | None = None
    cpu_offload_bytes: float = 0.0  # weights per GPU kept in host memory (--cpu-offload-gb)
    # hybrid mamba / linear-attention models (checker.planning.state)
    mamba_cache_mode: str = "none"
    state_page_bytes: int = 0  # one state layer's page on a rank, before padding
    state_checkpoint_blocks: int = 0  # align mode's prefill checkpoint blocks per request
    unaligned_block_size: int = 0  # a hybrid's block size before vLLM raised it
    dp: int = 1  # data-parallel engines, each a full replica with its own KV cache
    dp_local: int = 1  # of them on one node
    nnodes: int = 1
    expert_parallel: bool = False  # routed experts split whole over the dp x tp ranks
    redundant_experts: int = 0  # EPLB's extra expert copies, spread over the EP ranks
    all2all_backend: str = "allgather_reducescatter"
    # LoRA: adapter slots on the GPU (0: LoRA off), their rank and dtype bytes, and how many
    # sets of CUDA graphs are captured (no-LoRA plus each active-adapter count)
    lora_slots: int = 0
    lora_rank: int = 0
    lora_dtype_bytes: int = 2
    lora_fully_sharded: bool = False
    graph_sets: int = 1
    mm: MMSettings = MMSettings()  # multimodal options (checker.planning.multimodal)

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def is_v0(self) -> bool:
        return self.facts.engine == "v0"

    @property
    def world_size(self) -> int:
        """GPUs of one DP engine (config/parallel.py ParallelConfig.world_size = pp x tp)."""
        return self.tp * self.pp

    @property
    def gpus_needed(self) -> int:
        """GPUs of the whole deployment (ParallelConfig.world_size_across_dp)."""
        return self.world_size * self.dp

    def per_engine(self, requests: int) -> int:
        """The workload's requests one data-parallel engine serves (the API server balances
        them over the engines)."""
        return -(-requests // self.dp)

    @property
    def moe_shards(self) -> int:
        """Ranks a MoE layer is split over: vLLM flattens TP across DP for the experts
        (model_executor/layers/fused_moe/config.py FusedMoEParallelConfig.make)."""
        return self.tp * self.dp


def resolve_dtype(requested: DType, model: ModelInfo, gpu: GPUSpec, version: str) -> str:
    """vLLM's --dtype auto: the config dtype; fp32 checkpoints drop to the GPU's preferred
    half type. From 0.9.0 a dtype the GPU lacks falls back too: bf16 to fp16 below compute
    capability 8.0, or to fp32 for models that refuse fp16 (vector
    default-dtype-auto-gemma2-bf16-config-cc75); earlier releases kept bf16 and then failed."""
    if requested is not DType.AUTO:
        return str(requested.value)
    config = _CONFIG_DTYPES.get((model.torch_dtype or "bfloat16").replace("torch.", ""), "bfloat16")
    supported = ["float16", "float32"]
    if gpu.capability >= 80:
        supported.insert(0, "bfloat16")
    if type_facts(model.model_type).get("fp16_unsupported"):
        supported.remove("float16")
    if config == "float32":
        return supported[0]
    if config not in supported and has_behaviour("auto_dtype_fallback", version):
        return supported[0]
    return config


def kv_dtype_bytes(kv_dtype: str, model_dtype: str) -> float:
    if kv_dtype == "auto":
        return DTYPE_BYTES[model_dtype]
    return 2 if kv_dtype in ("float16", "bfloat16") else 1


def effective_quantization(request: PlanRequest, model: ModelInfo) -> str | None:
    if request.model.quantization is not Quantization.NONE:
        return str(request.model.quantization.value)
    return model.quant.method if model.quant else None


def resolve_settings(request: PlanRequest, model: ModelInfo, gpu: GPUSpec, *, tp: int) -> Settings:
    facts = version_facts(request.engine.vllm_version)
    dtype = resolve_dtype(request.model.dtype, model, gpu, facts.version)
    kv_dtype = request.model.kv_cache_dtype
    eng = request.engine
    wanted = request.model.max_model_len
    max_len = (
        wanted
        if isinstance(wanted, int)
        else default_max_len(
            model, facts.version, disable_sliding_window=eng.disable_sliding_window
        )
    )
    tokens, max_seqs = _batching(request, facts, gpu, max_len)
    block = eng.block_size or (facts.mla_block_size if model.uses_mla else 16)
    state_page, mode, checkpoints, unaligned = 0, "none", 0, block
    if model.state is not None and facts.engine == "v1":
        state_page = state_page_bytes(model.state, tp, dtype, facts.version)
        prefix = eng.enable_prefix_caching
        if prefix is None:
            prefix = has_behaviour("hybrid_prefix_caching_default", facts.version)
        mode = mamba_cache_mode(model.state, facts.version, prefix)
        checkpoint = prefill_checkpoint_alignment(model.state, mode, gpu.capability, facts.version)
        checkpoints = 1 if checkpoint else 0
        block = aligned_block_size(
            block,
            attn_page_per_token=attention_page_per_token(model, tp, kv_dtype.value, dtype),
            state_page=state_page,
            alignment=kernel_alignment(model.uses_mla, block, facts.version),
            mode=mode,
            chunk_size=model.state.chunk_size,
            checkpoint_alignment=checkpoint,
        )
    subtract = (
        facts.cudagraph_subtracted
        if eng.cudagraph_memory_profiling is None
        else eng.cudagraph_memory_profiling
    )
    graphs = captures_graphs(request) and facts.engine == "v1"  # V0 captures after sizing KV
    kinds = model.kinds_present - {LayerKind.NONE}
    has_mixed = len(kinds) > 1 or LayerKind.SLIDING in kinds
    return Settings(
        facts=facts,
        gpu=gpu,
        dtype=dtype,
        kv_cache_dtype=KVCacheDType(kv_dtype).value,
        kv_bytes=kv_dtype_bytes(kv_dtype.value, dtype),
        quantization=effective_quantization(request, model),
        tp=tp,
        pp=request.hardware.pipeline_parallel_size,
        gpu_memory_utilization=request.policy.gpu_memory_utilization
        or facts.default_gpu_memory_utilization,
        max_model_len=max_len,
        max_num_batched_tokens=tokens,
        max_num_seqs=max_seqs,
        block_size=block,
        enforce_eager=eng.enforce_eager,
        hybrid_kv=facts.hybrid_kv_cache_manager
        and has_mixed
        and not eng.disable_hybrid_kv_cache_manager,
        cudagraph_subtracted=subtract and graphs,
        kv_cache_memory_bytes=eng.kv_cache_memory_bytes,
        cudagraph_sizes=_graph_sizes(request, model, facts, gpu, max_seqs, tokens)
        if graphs
        else (),
        auto_fit_from=max_len if wanted == "auto" else None,
        num_gpu_blocks_override=eng.num_gpu_blocks_override,
        cpu_offload_bytes=eng.cpu_offload_gb * float(1 << 30),
        mamba_cache_mode=mode,
        state_page_bytes=state_page,
        state_checkpoint_blocks=checkpoints,
        unaligned_block_size=unaligned,
        mm=mm_settings(request),
        **_parallel(request, model, tp),
        **_lora(request, dtype),
    )


def attention_page_per_token(model: ModelInfo, tp: int, kv_dtype: str, dtype: str) -> int:
    """One attention layer's bytes per token on a rank (FullAttentionSpec / MLAAttentionSpec
    with block_size 1, as _align_hybrid_block_size builds them)."""
    size = kv_dtype_bytes(kv_dtype, dtype)
    if model.uses_mla:
        return int(((model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)) * size)
    return int(2 * max(1, model.num_key_value_heads // tp) * model.head_dim * size)


def _lora(request: PlanRequest, dtype: str) -> dict[str, Any]:
    """LoRA settings: buffers in lora_dtype (auto: the model dtype, config/lora.py
    LoRAConfig.verify_with_model_config); graphs for no LoRA plus the captured adapter counts,
    powers of two up to max_loras and max_loras + 1 with specialize_active_lora, else
    max_loras + 1 only (lora/utils.py get_captured_lora_counts,
    v1/cudagraph_dispatcher.py CudagraphDispatcher._get_lora_cases)."""
    eng = request.engine
    if not eng.enable_lora:
        return {}
    n = eng.max_loras
    counts = [k for k in range(1, n + 2) if k & (k - 1) == 0 or k == n + 1]
    return {
        "lora_slots": n,
        "lora_rank": eng.max_lora_rank,
        "lora_dtype_bytes": DTYPE_BYTES[dtype if eng.lora_dtype == "auto" else eng.lora_dtype],
        "lora_fully_sharded": eng.fully_sharded_loras,
        "graph_sets": 1 + (len(counts) if eng.specialize_active_lora else 1),
    }


def _parallel(request: PlanRequest, model: ModelInfo, tp: int) -> dict[str, Any]:
    """Data / expert parallel settings after vLLM's defaults. The DP ranks on one node default
    to all of them, or to an even share over --nnodes (engine/arg_utils.py
    EngineArgs.create_engine_config); expert parallel applies to MoE layers split over more
    than one rank (FusedMoEParallelConfig.make: use_ep); redundant experts exist only with EPLB
    (config/parallel.py ParallelConfig._validate_parallel_config refuses them otherwise)."""
    eng = request.engine
    dp = eng.data_parallel_size
    local = eng.data_parallel_size_local
    if local is None:
        local = max(dp // eng.nnodes, 1) if eng.nnodes > 1 else dp
    redundant = eng.eplb_config.get("num_redundant_experts", 0) if eng.enable_eplb else 0
    return {
        "dp": dp,
        "dp_local": local,
        "nnodes": eng.nnodes,
        "expert_parallel": eng.enable_expert_parallel and model.is_moe and dp * tp > 1,
        "redundant_experts": redundant if isinstance(redundant, int) and redundant > 0 else 0,
        "all2all_backend": eng.all2all_backend or "allgather_reducescatter",
    }


def _batching(
    request: PlanRequest, facts: VersionFacts, gpu: GPUSpec, max_len: int
) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) after vLLM's defaults
    (engine/arg_utils.py EngineArgs._set_default_max_num_seqs_and_batched_tokens_args)."""
    eng = request.engine
    default_tokens, default_seqs = facts.default_batching(gpu.name, gpu.memory_gib)
    default_seqs = facts.scheduling.get("max_num_seqs") or default_seqs
    if _batched_dp_moe(request) and has_behaviour("batched_dp_moe_default_tokens", facts.version):
        default_tokens = int(facts.common["batched_dp_moe_max_num_batched_tokens"])
    if eng.performance_mode == "throughput" and facts.engine == "v1":
        default_tokens, default_seqs = 2 * default_tokens, 2 * default_seqs  # defaults only
    max_seqs = eng.max_num_seqs or default_seqs
    if facts.engine == "v0":
        tokens = eng.max_num_batched_tokens or _v0_batched_tokens(
            facts, max_len, eng.enable_chunked_prefill
        )
    elif eng.enable_chunked_prefill is False:  # V1 without chunking must fit a whole prompt
        tokens = eng.max_num_batched_tokens or max(default_tokens, max_len)
    else:
        tokens = eng.max_num_batched_tokens or default_tokens
    if not eng.max_num_seqs and has_behaviour("default_max_num_seqs_clamped", facts.version):
        max_seqs = min(max_seqs, tokens)
    return tokens, max_seqs


def _batched_dp_moe(request: PlanRequest) -> bool:
    """config/parallel.py ParallelConfig.use_batched_dp_moe: low-latency all2all with expert
    parallel and DP > 1, whose default batch is small."""
    eng = request.engine
    return (
        eng.all2all_backend in ("deepep_low_latency", "nixl_ep")
        and eng.enable_expert_parallel
        and eng.data_parallel_size > 1
    )


def captures_graphs(request: PlanRequest) -> bool:
    """Whether vLLM captures CUDA graphs: not with --enforce-eager, nor with cudagraph_mode
    NONE, which -O0 implies unless the mode is given (config/vllm.py OPTIMIZATION_LEVEL_00)."""
    eng = request.engine
    mode = eng.cudagraph_mode or ("NONE" if eng.optimization_level == 0 else "FULL_AND_PIECEWISE")
    return not eng.enforce_eager and mode != "NONE"


def _graph_sizes(
    request: PlanRequest,
    model: ModelInfo,
    facts: VersionFacts,
    gpu: GPUSpec,
    max_seqs: int,
    tokens: int,
) -> tuple[int, ...]:
    eng = request.engine
    # The Blackwell data-centre family (compute capability 10.x) gets its own default ceiling.
    sm100 = gpu.vendor == "nvidia" and gpu.capability // 10 == 10
    return capture_sizes(
        max_seqs,
        tokens,
        eng.max_cudagraph_capture_size or model_capture_limit(model),
        explicit=eng.cudagraph_capture_sizes,
        default_cap=facts.cudagraph_max_size_sm100 if sm100 else facts.cudagraph_max_size,
        appends=facts.cudagraph_appends,
        interactivity=eng.performance_mode == "interactivity",
    )


def model_capture_limit(model: ModelInfo) -> int | None:
    """A model's own largest CUDA-graph size, where vLLM's model config raises the default
    (gpt-oss logs "Overriding max cuda graph capture size to 1024 for performance")."""
    limit = type_facts(model.model_type).get("max_cudagraph_capture_size")
    return int(limit) if limit else None


def capture_sizes(
    max_num_seqs: int,
    max_num_batched_tokens: int,
    cap: int | None,
    *,
    explicit: tuple[int, ...] | None = None,
    default_cap: int = 512,
    appends: tuple[str, ...] = (),
    interactivity: bool = False,
) -> tuple[int, ...]:
    """vLLM V1's cudagraph_capture_sizes (config/vllm.py VllmConfig._set_cudagraph_sizes).
    Explicit sizes are kept up to max_num_batched_tokens. Otherwise 1, 2, 4 (every size to 32
    in interactivity mode), every 8 below 256 and every 16 from 256, up to ``cap`` (given, or
    min(2 x max_num_seqs, the version's default ceiling)) and max_num_batched_tokens; newer
    releases add max_num_batched_tokens and (without an explicit cap) max_num_seqs when they
    fall within it but off the stride."""
    if explicit is not None:
        return tuple(sorted({n for n in explicit if n <= max_num_batched_tokens}))
    extra = []
    if cap is None:
        cap = min(2 * max_num_seqs, default_cap)
        if "max_num_seqs" in appends and max_num_seqs <= cap:
            extra.append(max_num_seqs)
    largest = min(cap, max_num_batched_tokens)
    if interactivity:
        sizes = list(range(1, min(largest, 32) + 1))
    else:
        sizes = [n for n in (1, 2, 4) if n <= largest]
    sizes += range(8, min(largest + 1, 256), 8)
    sizes += range(256, largest + 1, 16)
    if "max_num_batched_tokens" in appends and max_num_batched_tokens <= largest:
        sizes.append(max_num_batched_tokens)
    sizes += [n for n in extra if n <= max_num_batched_tokens]
    return tuple(sorted(set(sizes)))


def _v0_batched_tokens(facts: VersionFacts, max_len: int, chunked: bool | None) -> int:
    """V0 profiles max(max_model_len, 2048) tokens unless chunked prefill is on, which it
    turns on by itself above a context length in later V0 releases."""
    auto = facts.scheduling.get("chunked_prefill_auto_above")
    if chunked is None:
        chunked = auto is not None and max_len > auto
    if chunked:
        return int(facts.scheduling["chunked_max_num_batched_tokens"])
    return max(max_len, 2048)
