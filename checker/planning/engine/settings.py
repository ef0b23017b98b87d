"""Resolve a request to the concrete settings vLLM would run with (its defaults filled in)."""

from __future__ import annotations

import functools
from dataclasses import fields
from typing import Any

from checker.models.config_parser import type_facts
from checker.planning.engine.context_length import default_max_len
from checker.planning.engine.releases import has_behaviour, release
from checker.planning.engine.runner import Runner, model_runner, v2_estimates_cudagraphs
from checker.planning.engine.spec_config import SpecDecode, falls_back_to_v0
from checker.planning.engine.split_graphs import (
    GraphSizes,
    SplitShape,
    model_ceiling,
    split_graph_sizes,
)
from checker.planning.engine.versions import VersionFacts, version_facts
from checker.planning.kvcache.attention import (
    default_block_size,
    smallest_kernel_block,
    stored_kv_dtype,
)
from checker.planning.kvcache.connectors import (
    IMEX_REFUSAL,
    extensible_kv_refusal,
    hma_off,
    staging_bytes,
)
from checker.planning.kvcache.deepseek_v4 import preferred_block_size as deepseek_v4_block_size
from checker.planning.kvcache.kv_dtypes import (
    DTYPE_BYTES,
    element_bytes,
    head_token_bytes,
    mla_token_bytes,
    skip_layers_block_size,
    skipped_layers,
)
from checker.planning.kvcache.state import (
    aligned_block_size,
    kernel_alignment,
    mamba_cache_mode,
    prefill_checkpoint_alignment,
    prefix_caching_default,
    state_page_bytes,
)
from checker.planning.memo import ByIdentity
from checker.planning.memory.multimodal import MMSettings, mm_settings
from checker.schemas.enums import DType, Interconnect, KVCacheDType, Quantization
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import EngineInput, PlanRequest
from checker.schemas.lazy_dataclass import lazy_dataclass
from checker.schemas.model_info import LayerKind, ModelInfo

_CONFIG_DTYPES = {
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "float32": "float32",
    "float": "float32",
}


@lazy_dataclass(frozen=True)
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
    # the KV cache is sized from memory measured after warm-up and CUDA-graph capture
    # (VersionFacts.extensible_kv_cache; extensible_kv_off says why not where the release has it)
    extensible_kv: bool = False
    install: str = "image"  # the build that runs: its kernel packages (data/vllm_builds.yaml)
    runner: Runner = Runner(False, "")  # the GPU model runner (checker.planning.engine.runner)
    # batches scheduled but not settled, whose tokens sliding-window and chunked layers keep
    # beside their window (in_flight_batches)
    in_flight_batches: int = 1
    # tokens a sliding window keeps below itself for a drafter that reads ahead
    # (SlidingWindowSpec.extra_retained_tokens, 0.33: multi-module MTP's tokens - 1)
    window_retained_tokens: int = 0
    # bytes of a KV connector's GPU buffer vLLM's profile counts in no term (LMCache's staging)
    connector_buffer: float = 0.0
    cudagraph_sizes: tuple[int, ...] = ()  # batch sizes vLLM captures, largest last
    # 0.34: the drafter's one-token decode graphs (split_graphs.GraphSizes.draft_decode)
    draft_decode_graph_sizes: tuple[int, ...] = ()
    # V0: the longest sequence a decode step runs in a CUDA graph (max_seq_len_to_capture
    # clamped to max_model_len); None: V1, whose graphs do not depend on sequence length
    graph_max_seq_len: int | None = None
    # max_model_len auto / -1: the length auto-fit starts from (vLLM fits it to the KV cache)
    auto_fit_from: int | None = None
    num_gpu_blocks_override: int | None = None
    cpu_offload_bytes: float = 0.0  # weights per GPU kept in host memory (--cpu-offload-gb)
    # hybrid mamba / linear-attention models (checker.planning.kvcache.state)
    mamba_cache_mode: str = "none"
    state_page_bytes: int = 0  # one state layer's page on a rank, before padding
    state_checkpoint_blocks: int = 0  # align mode's prefill checkpoint blocks per request
    state_speculative_blocks: int = 0  # MambaSpec.num_speculative_blocks per request
    unaligned_block_size: int = 0  # a hybrid's block size before vLLM raised it
    mla_backend: str | None = None  # the MLA backend whose kernel set the default block size
    kv_storage_dtype: str = ""  # the cache format the MLA backend stores it in; "": the dtype
    kv_dtype_log: str = ""  # the line vLLM's model config logs where it chose the KV dtype
    kv_skip_layers: frozenset[int] = frozenset()  # layers whose KV stays in the model dtype
    block_before_skip: int = 0  # the block size before skipped layers raised it (0: not raised)
    dp: int = 1  # data-parallel engines, each a full replica with its own KV cache
    dp_local: int = 1  # of them on one node
    nnodes: int = 1
    expert_parallel: bool = False  # routed experts split whole over the dp x tp ranks
    redundant_experts: int = 0  # EPLB's extra expert copies, spread over the EP ranks
    all2all_backend: str = "allgather_reducescatter"
    # context parallel: PCP ranks multiply the engine's world size; DCP reuses TP ranks. Each
    # request's attention KV is split over kv_shards ranks (DCP, with PCP through 0.24)
    pcp: int = 1
    dcp: int = 1
    # the profile's interconnect, or PCIe where the profile leaves it unknown and the catalog
    # says the TP group is not fully NVLinked (resolve_interconnect); from_catalog says which
    interconnect: Interconnect = Interconnect.UNKNOWN
    interconnect_from_catalog: bool = False
    disable_custom_all_reduce: bool = False  # checker.planning.memory.all_reduce
    kv_shards: int = 1
    # LoRA: adapter slots on the GPU (0: LoRA off), their rank and dtype bytes, and how many
    # sets of CUDA graphs are captured (no-LoRA plus each active-adapter count)
    lora_slots: int = 0
    lora_rank: int = 0
    lora_dtype_bytes: int = 2
    lora_fully_sharded: bool = False
    lora_target_modules: tuple[str, ...] | None = None  # None: every module LoRA supports
    lora_bias: bool = False  # --enable-lora-bias (0.6 .. 0.10): a bias buffer per B output
    graph_sets: int = 1
    # speculative decoding (checker.planning.engine.spec_config); the length max_model_len had
    # before the V2 model runner lowered it to the draft model's
    spec: SpecDecode | None = None
    draft_limited_from: int | None = None
    mm: MMSettings = MMSettings()  # multimodal options (checker.planning.memory.multimodal)

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def is_v0(self) -> bool:
        return self.facts.engine == "v0"

    @property
    def world_size(self) -> int:
        """GPUs of one DP engine (config/parallel.py ParallelConfig.__post_init__: world_size =
        pp x tp x prefill context parallel)."""
        return self.tp * self.pp * self.pcp

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
        """Ranks a MoE layer is split over: vLLM flattens TP across DP and PCP for the experts
        (model_executor/layers/fused_moe/config.py flatten_tp_across_dp_and_pcp)."""
        return self.tp * self.pcp * self.dp


_FIELDS = frozenset(f.name for f in fields(Settings))


def evolve(settings: Settings, **changes: Any) -> Settings:
    """dataclasses.replace(settings, **changes), at a twentieth of its cost: replace runs the
    frozen __init__, one object.__setattr__ for each of the fifty-odd fields, and the TP
    searches and utilization trials ask for it thousands of times. Settings computes nothing
    at init, so its fields copied are the same object."""
    if not changes.keys() <= _FIELDS:
        raise TypeError(f"Settings has no field {sorted(changes.keys() - _FIELDS)}")
    new = object.__new__(type(settings))
    new.__dict__.update(settings.__dict__, **changes)
    return new


def config_dtype(model: ModelInfo) -> str:
    """The checkpoint's torch_dtype in vLLM's names (bfloat16 when the config names none)."""
    return _CONFIG_DTYPES.get((model.torch_dtype or "bfloat16").replace("torch.", ""), "bfloat16")


def resolve_dtype(requested: DType, model: ModelInfo, gpu: GPUSpec, version: str) -> str:
    """vLLM's --dtype auto: the config dtype; fp32 checkpoints drop to the GPU's preferred
    half type. From 0.9.0 a dtype the GPU lacks falls back too: bf16 to fp16 below compute
    capability 8.0, or to fp32 for models that refuse fp16 (vector
    default-dtype-auto-gemma2-bf16-config-cc75); earlier releases kept bf16 and then failed."""
    if requested is not DType.AUTO:
        return str(requested.value)
    config = config_dtype(model)
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


def effective_quantization(request: PlanRequest, model: ModelInfo) -> str | None:
    if request.model.quantization is not Quantization.NONE:
        return str(request.model.quantization.value)
    return model.quant.method if model.quant else None


def resolve_settings(
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    *,
    tp: int,
    spec: SpecDecode | None = None,
) -> Settings:
    facts = version_facts(request.engine.vllm_version)
    fallback = facts.fallback_to_v0(  # what V1 does not run falls back to V0's arithmetic
        multi_step=request.engine.num_scheduler_steps > 1,
        speculative=spec is not None and falls_back_to_v0(spec.config, facts.version),
        lora=request.engine.enable_lora,
        pp=request.hardware.pipeline_parallel_size > 1,
        ray=request.engine.distributed_executor_backend == "ray",
    )
    if fallback is not None:
        facts = facts.as_v0(fallback)
    dtype = resolve_dtype(request.model.dtype, model, gpu, facts.version)
    kv_dtype = request.model.kv_cache_dtype
    checkpoint_kv = model.quant.kv_cache_dtype if model.quant else None
    if (
        kv_dtype is KVCacheDType.AUTO
        and checkpoint_kv
        and has_behaviour("modelopt_kv_cache_dtype_from_checkpoint", facts.version)
    ):
        kv_dtype = KVCacheDType(checkpoint_kv)  # the checkpoint's, as vLLM resolves auto
    forced = _model_kv_dtype(model, gpu, facts.version) if kv_dtype is KVCacheDType.AUTO else None
    if forced:
        kv_dtype = KVCacheDType(forced["dtype"])
    kv_cache_dtype = kv_dtype.value  # an enum's value is a descriptor call: read it once
    eng = request.engine
    wanted = request.model.max_model_len
    max_len = (
        wanted
        if isinstance(wanted, int)
        else default_max_len(
            model, facts.version, disable_sliding_window=eng.disable_sliding_window
        )
    )
    limited_from = None
    draft_len = spec.draft_max_len if spec else None
    runner = model_runner(model, facts.version, spec, request.engine, v0=facts.engine == "v0")
    if (
        draft_len
        and draft_len < max_len
        and runner.v2
        and has_behaviour("v2_max_model_len_to_draft", facts.version)
    ):
        limited_from, max_len = max_len, draft_len  # VllmConfig._limit_max_model_len_to_draft
    tokens, max_seqs = _batching(request, facts, gpu, max_len)
    default_block, mla_backend = vllm_block_size(model, gpu, kv_cache_dtype, facts, tp)
    block = eng.block_size or default_block
    state_page, mode, checkpoints, unaligned = 0, "none", 0, block
    spec_blocks = 0
    if model.state is not None and facts.engine == "v1":
        # vllm_config.num_speculative_tokens: the speculative config's, any method
        num_spec = max(spec.tokens or 0, 0) if spec else 0
        if has_behaviour("mamba_speculative_state_blocks", facts.version):
            spec_blocks = num_spec
        state_page = state_page_bytes(
            model.state,
            tp,
            dtype,
            facts.version,
            eng.mamba_cache_dtype,
            eng.mamba_ssm_cache_dtype,
            num_spec,
        )
        prefix = eng.enable_prefix_caching
        if prefix is None:
            prefix = prefix_caching_default(model, facts.version)
        mode = mamba_cache_mode(model.state, facts.version, prefix, eng.mamba_cache_mode)
        checkpoint = prefill_checkpoint_alignment(model.state, mode, gpu.capability, facts.version)
        checkpoints = 1 if checkpoint else 0
        block = aligned_block_size(
            block,
            attn_page_per_token=attention_page_per_token(model, tp, kv_cache_dtype, dtype)
            if state_pages_padded(model, facts.version)
            else 0,
            state_page=state_page,
            alignment=kernel_alignment(model.uses_mla, block, facts.version),
            mode=mode,
            # 0.19 "all" mode aligns to --mamba-block-size (HybridAttentionMambaModelConfig)
            chunk_size=eng.mamba_block_size or model.state.chunk_size,
            checkpoint_alignment=checkpoint,
        )
    before_skip = block
    if (
        eng.kv_cache_dtype_skip_layers
        and has_behaviour("kv_skip_layers_block_alignment", facts.version)
        and model.state is None
        and not model.sparse_mla  # its backends' customize_spec pages are not modelled here
    ):
        # the first backend's smallest kernel block: the MLA backend's, else FlashAttention's
        smallest = (
            smallest_kernel_block(mla_backend)
            if model.uses_mla and mla_backend
            else facts.cuda_block_multiple or 16
        )
        before_skip, block = (
            block,
            skip_layers_block_size(
                block,
                primary_page=attention_page_per_token(model, tp, kv_cache_dtype, dtype),
                skip_page=attention_page_per_token(model, tp, "auto", dtype),
                smallest_kernel_block=smallest,
            ),
        )
    subtract = (
        facts.cudagraph_subtracted
        if eng.cudagraph_memory_profiling is None
        else eng.cudagraph_memory_profiling
    )
    # V2's profile_cudagraph_memory returns 0 before it estimates: nothing to subtract
    subtract = subtract and (not runner.v2 or v2_estimates_cudagraphs(facts.version))
    graphs = captures_graphs(request)
    extensible = extensible_kv_off(eng, facts, gpu) is None
    kv_bytes = element_bytes(kv_cache_dtype, dtype)
    sizes = (
        _graph_sizes(request, model, facts, gpu, max_seqs, tokens, spec, runner.v2)
        if graphs
        else GraphSizes(())
    )
    return Settings(
        facts=facts,
        gpu=gpu,
        dtype=dtype,
        kv_cache_dtype=kv_cache_dtype,
        kv_bytes=kv_bytes,
        quantization=effective_quantization(request, model),
        tp=tp,
        pp=request.hardware.pipeline_parallel_size,
        gpu_memory_utilization=request.policy.gpu_memory_utilization
        or default_utilization(facts, extensible),
        max_model_len=max_len,
        max_num_batched_tokens=tokens,
        in_flight_batches=in_flight_batches(
            request.hardware.pipeline_parallel_size, facts.version, async_scheduling(request)
        ),
        window_retained_tokens=max(spec.prefill_lookahead - 1, 0)
        if spec and has_behaviour("window_keeps_mtp_lookahead", facts.version)
        else 0,
        max_num_seqs=max_seqs,
        block_size=block,
        enforce_eager=eng.enforce_eager,
        # a drafter's sliding-window layers are grouped apart even beside a full-only target;
        # VllmConfig.__post_init__: chunked local attention with an EAGLE-style drafter turns
        # the hybrid KV cache manager off
        hybrid_kv=facts.hybrid_kv_cache_manager
        and (hybrid_model(model) or bool(spec and spec.draft and hybrid_model(spec.draft)))
        and not hma_off(eng, facts.version)
        and not (spec and spec.uses_eagle and model.attention_chunk_size),
        # an extensible KV cache measures the captured graphs whatever the estimate's env var
        cudagraph_subtracted=(subtract or extensible) and graphs,
        kv_cache_memory_bytes=eng.kv_cache_memory_bytes,
        extensible_kv=extensible,
        runner=runner,
        install=eng.install,
        disable_custom_all_reduce=eng.disable_custom_all_reduce,
        connector_buffer=_connector_buffer(request, model, facts.version, tp, kv_bytes),
        cudagraph_sizes=sizes.target,
        draft_decode_graph_sizes=sizes.draft_decode,
        graph_max_seq_len=min(
            eng.max_seq_len_to_capture or facts.common["max_seq_len_to_capture"], max_len
        )
        if graphs and facts.engine == "v0"
        else None,
        auto_fit_from=max_len if wanted == "auto" else None,
        num_gpu_blocks_override=eng.num_gpu_blocks_override,
        cpu_offload_bytes=eng.cpu_offload_gb * float(1 << 30),
        mamba_cache_mode=mode,
        state_page_bytes=state_page,
        state_checkpoint_blocks=checkpoints,
        state_speculative_blocks=spec_blocks,
        unaligned_block_size=unaligned,
        **_parallel(request, model, tp, facts.version),
        mla_backend=None if eng.block_size else mla_backend,
        kv_storage_dtype=stored_kv_dtype(mla_backend, kv_cache_dtype),
        kv_dtype_log=str(forced["log"]) if forced else "",
        kv_skip_layers=skipped_layers(model, eng.kv_cache_dtype_skip_layers)
        if not model.uses_mla or has_behaviour("kv_skip_layers_mla", facts.version)
        else frozenset(),
        block_before_skip=before_skip if before_skip != block else 0,
        mm=mm_settings(request),
        **_interconnect(request, gpu, tp),
        **_lora(request, dtype, v0=facts.engine == "v0"),
        spec=spec,
        draft_limited_from=limited_from,
    )


def default_utilization(facts: VersionFacts, extensible: bool) -> float:
    """gpu_memory_utilization where none is given (CacheConfig.resolved_gpu_memory_utilization:
    from 0.34 1.0 for an extensible KV cache, sized from measured memory)."""
    if extensible and facts.extensible_kv_cache is not None:
        return facts.extensible_kv_cache.utilization
    return facts.default_gpu_memory_utilization


def extensible_kv_off(eng: EngineInput, facts: VersionFacts, gpu: GPUSpec) -> str | None:
    """Why vLLM leaves the extensible KV cache off for these engine settings on ``gpu``, in
    words; None where it turns it on (config/vllm.py VllmConfig._resolve_extensible_kv_cache).
    Where the release has it: CUDA and ROCm only, not with a KV cache size or block count
    given, nor with a connector that cannot use it
    (checker.planning.kvcache.connectors.extensible_kv_refusal)."""
    if facts.extensible_kv_cache is None:
        return f"vLLM {facts.version} has no extensible KV cache"
    if gpu.vendor not in facts.extensible_kv_cache.vendors:
        return "it runs on CUDA and ROCm only"
    if eng.kv_cache_memory_bytes is not None:
        return "--kv-cache-memory-bytes sets the KV cache size"
    if eng.num_gpu_blocks_override is not None:
        return "--num-gpu-blocks-override sets the KV cache size"
    if eng.vllm_args.get("enable-elastic-ep") is True:
        return "elastic EP scale-up reuses the profiled KV cache size"
    asked = eng.enable_extensible_kv_cache
    if asked is False:
        return "--no-enable-extensible-kv-cache"
    refusal = extensible_kv_refusal(eng, facts.version, gpu.vendor)
    # asked for, only the missing IMEX channel (a warning then) leaves it on; the other
    # refusals stop vLLM (VW153)
    if asked is True and refusal is not None and refusal.endswith(IMEX_REFUSAL):
        return None
    return refusal


def _model_kv_dtype(model: ModelInfo, gpu: GPUSpec, version: str) -> dict[str, Any] | None:
    """The KV cache dtype (and the line it logs) the model's vLLM config gives an auto cache on
    ``gpu`` (model_types.yaml auto_kv_cache_dtype: GLM-5 runs fp8_e4m3 on capability 10.x)."""
    rule: dict[str, Any] | None = type_facts(model.model_type).get("auto_kv_cache_dtype")
    if not rule or gpu.vendor != "nvidia" or gpu.capability // 10 not in rule["majors"]:
        return None
    return rule if release(version) >= release(str(rule["since"])) else None


def at_tp(settings: Settings, request: PlanRequest, model: ModelInfo, tp: int) -> Settings:
    """``settings``, resolved for ``request`` and ``model``, at another tensor-parallel size
    without resolving the rest again: only the parallel layout depends on it, and for a model
    with a recurrent state its state page and the block size aligned to that, for a sparse MLA
    model the backend its heads per rank pick (resolved afresh)."""
    if resolved_afresh(model):
        return resolve_settings(request, model, settings.gpu, tp=tp, spec=settings.spec)
    return parallel_at_tp(settings, request, model, tp)


def resolved_afresh(model: ModelInfo) -> bool:
    """Whether at_tp resolves the model's settings afresh: more than the parallel layout
    depends on the TP size."""
    return model.state is not None or model.sparse_mla


def parallel_at_tp(settings: Settings, request: PlanRequest, model: ModelInfo, tp: int) -> Settings:
    """``settings`` with the parallel layout at another TP size: at_tp's, or for a model it
    resolves afresh the same weights (its state page and block size are no weights)."""
    return evolve(
        settings,
        tp=tp,
        **_parallel(request, model, tp, settings.facts.version),
        **_interconnect(request, settings.gpu, tp),
        connector_buffer=_connector_buffer(
            request, model, settings.facts.version, tp, settings.kv_bytes
        ),
    )


def _connector_buffer(
    request: PlanRequest, model: ModelInfo, version: str, tp: int, kv_bytes: float
) -> float:
    """LMCache's staging buffer on one rank: its KV heads per rank depend on the TP size."""
    return staging_bytes(
        request.engine,
        version,
        model,
        tp=tp,
        # the largest pipeline stage's layers (get_pp_indices shares differ by one at most)
        layers=-(-model.num_hidden_layers // request.hardware.pipeline_parallel_size),
        kv_bytes=kv_bytes,
    )


def hybrid_model(model: ModelInfo) -> bool:
    """Layers of more than one KV kind (or sliding windows): the hybrid KV cache manager
    gives them their own groups."""
    kinds = model.kinds_present - {LayerKind.NONE}
    return len(kinds) > 1 or LayerKind.SLIDING in kinds


def vllm_block_size(
    model: ModelInfo, gpu: GPUSpec, kv_dtype: str, facts: VersionFacts, tp: int
) -> tuple[int, str | None]:
    """The block size vLLM picks when --block-size is not given, and the MLA backend that
    forced it (checker.planning.kvcache.attention)."""
    if model.compressed_attention is not None:  # DeepSeek-V4: DEEPSEEK_SPARSE_SWA's 256
        return deepseek_v4_block_size(), None
    return default_block_size(
        uses_mla=model.uses_mla,
        sparse_mla=model.sparse_mla,
        heads_per_rank=model.num_attention_heads // tp,
        hybrid=model.state is not None,
        vendor=gpu.vendor,
        capability=gpu.capability,
        kv_cache_dtype=kv_dtype,
        qk_nope_head_dim=model.qk_nope_head_dim,
        version=facts.version,
        older_mla_block_size=facts.mla_block_size,
        default=facts.default_block_size,
    )


def state_pages_padded(model: ModelInfo, version: str) -> bool:
    """Whether vLLM raises a hybrid's block size and pads its state pages to an attention page:
    always in 0.19.0 (models/config.py HybridAttentionMambaModelConfig reads the config's heads
    before any layer is built), from 0.33.0 only where a layer attends
    (platforms/interface.py Platform.update_block_size_for_backend returns when
    _find_non_ssm_backends finds no attention backend); never for an attention-free class,
    which is not is_hybrid (0.19.0 config/vllm.py try_verify_and_update_config)."""
    if model.attention_free:
        return False
    return bool(model.kv_layers) or not has_behaviour(
        "hybrid_alignment_needs_attention_layers", version
    )


def attention_page_per_token(model: ModelInfo, tp: int, kv_dtype: str, dtype: str) -> int:
    """One attention layer's bytes per token on a rank (FullAttentionSpec / MLAAttentionSpec
    with block_size 1, as _align_hybrid_block_size builds them)."""
    if model.uses_mla:
        latent = (model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)
        return mla_token_bytes(kv_dtype, latent, dtype)
    heads = max(1, model.num_key_value_heads // tp)
    return heads * head_token_bytes(kv_dtype, model.head_dim, dtype)


def _lora(request: PlanRequest, dtype: str, *, v0: bool) -> dict[str, Any]:
    """LoRA settings: buffers in lora_dtype (auto: the model dtype, config/lora.py
    LoRAConfig.verify_with_model_config); graphs for no LoRA plus the captured adapter counts,
    powers of two up to max_loras and max_loras + 1 with specialize_active_lora, else
    max_loras + 1 only (lora/utils.py get_captured_lora_counts,
    v1/cudagraph_dispatcher.py CudagraphDispatcher._get_lora_cases). The V0 engine captures
    one set, the LoRA layers given a mapping of zeros (0.8.2 worker/model_runner.py
    GPUModelRunnerBase.capture_model)."""
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
        "lora_target_modules": eng.lora_target_modules,
        "lora_bias": eng.enable_lora_bias,
        "graph_sets": 1 if v0 else 1 + (len(counts) if eng.specialize_active_lora else 1),
    }


def async_scheduling(request: PlanRequest) -> bool:
    """SchedulerConfig.async_scheduling as VllmConfig.__post_init__ settles it (0.19.0, 0.33.0):
    --async-scheduling / --no-async-scheduling as given; unset, on unless the executor does not
    support it (only mp and uni do: v1/executor supports_async_scheduling; Ray does not). A
    speculative config that keeps the V1 runner, and pooling models, are not modeled."""
    asked = request.engine.async_scheduling
    if asked is not None:
        return asked
    return request.engine.distributed_executor_backend != "ray"


def in_flight_batches(pp: int, version: str, asynchronous: bool) -> int:
    """VllmConfig.max_concurrent_batches (config/vllm.py, 0.33.0), the batches a sliding-window
    or chunked layer keeps tokens for beside its window: with async scheduling pp + 1 on Model
    Runner V2 (the default there); without it, pp. One batch before (0.24.0 counts
    max_num_batched_tokens once)."""
    if not has_behaviour("window_keeps_in_flight_batches", version):
        return 1
    return pp + 1 if asynchronous else pp


def fully_nvlinked(gpu: GPUSpec, tp: int) -> bool | None:
    """Whether vLLM finds a TP group of ``tp`` GPUs NVLinked pair by pair (platforms/cuda.py
    is_fully_connected: NVML's P2P status over NVLink for every pair, the same in 0.10.2,
    0.19.0 and 0.33.0). False where the vendor spec says the GPU has no NVLink, where its
    largest NVLink bridge joins fewer cards than the group (bridges join cards pair-wise, not
    across bridges), or where its on-board NVLink mesh links fewer GPUs pair by pair (V100
    SXM2: 4 of a DGX-1's 8); None where the catalog cannot tell (NVSwitch, a group no larger
    than a bridge or the mesh's linked set, which may or may not be the GPUs vLLM gets)."""
    if gpu.nvlink_support is False:
        return False
    if gpu.nvlink_bridge_gpus and tp > max(gpu.nvlink_bridge_gpus):
        return False
    if gpu.nvlink_mesh_gpus and tp > gpu.nvlink_mesh_gpus:
        return False
    return None


def nvlink_reach(gpu: GPUSpec) -> str:
    """How far the GPU's NVLink reaches pair by pair, in words, for a group it cannot link."""
    if gpu.nvlink_mesh_gpus:
        return (
            f"{gpu.name}'s on-board NVLink links at most {gpu.nvlink_mesh_gpus} GPUs pair by pair"
        )
    bridges = " or ".join(str(n) for n in gpu.nvlink_bridge_gpus)
    return f"{gpu.name}'s NVLink bridges join {bridges} cards"


def resolve_interconnect(stated: Interconnect, gpu: GPUSpec, tp: int) -> Interconnect:
    """The link the TP group runs over: what the profile states; where it states nothing,
    PCIe where vLLM would find the group not fully NVLinked (fully_nvlinked: a GPU without
    NVLink, or more GPUs than one bridge joins: A100/H100 PCIe at TP 4); otherwise unknown."""
    if stated is Interconnect.UNKNOWN and fully_nvlinked(gpu, tp) is False:
        return Interconnect.PCIE
    return stated


def _interconnect(request: PlanRequest, gpu: GPUSpec, tp: int) -> dict[str, Any]:
    stated = request.hardware.interconnect
    link = resolve_interconnect(stated, gpu, tp)
    return {"interconnect": link, "interconnect_from_catalog": link is not stated}


def _parallel(request: PlanRequest, model: ModelInfo, tp: int, version: str) -> dict[str, Any]:
    """Data / expert parallel settings after vLLM's defaults. The DP ranks on one node default
    to all of them, or to an even share over --nnodes (engine/arg_utils.py
    EngineArgs.create_engine_config); expert parallel applies to MoE layers split over more
    than one rank (FusedMoEParallelConfig.make: use_ep); redundant experts exist only with EPLB
    (config/parallel.py ParallelConfig._validate_parallel_config refuses them otherwise).
    Context parallel splits a request's attention KV over the DCP ranks
    (v1/kv_cache_interface.py FullAttentionSpec.max_memory_usage_bytes: max_model_len / dcp, and
    / (dcp x pcp) through 0.24; 0.33: "PCP ... does not increase the KV-cache shard count")."""
    eng = request.engine
    dp = eng.data_parallel_size
    local = eng.data_parallel_size_local
    if local is None:
        local = max(dp // eng.nnodes, 1) if eng.nnodes > 1 else dp
    pcp, dcp = eng.prefill_context_parallel_size, eng.decode_context_parallel_size
    redundant = eng.eplb_config.get("num_redundant_experts") if eng.enable_eplb else 0
    if redundant is None and model.is_moe and version_facts(version).eplb_min_redundant_experts:
        # ParallelConfig.compute_eplb_num_redundant_experts: the fewest copies that make the
        # experts divide over the EP group (TP x PCP x DP ranks)
        ep = tp * pcp * dp
        redundant = (ep - model.num_experts % ep) % ep
    return {
        "dp": dp,
        "dp_local": local,
        "nnodes": eng.nnodes,
        "expert_parallel": eng.enable_expert_parallel and model.is_moe and dp * pcp * tp > 1,
        "redundant_experts": redundant if isinstance(redundant, int) and redundant > 0 else 0,
        "all2all_backend": eng.all2all_backend or "allgather_reducescatter",
        "pcp": pcp,
        "dcp": dcp,
        "kv_shards": dcp if has_behaviour("kv_sharded_by_dcp_only", version) else dcp * pcp,
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
        chunked = eng.enable_chunked_prefill
        drafter = eng.speculative_model or eng.speculative_config is not None
        if chunked is None and (drafter or eng.enable_lora):
            # EngineArgs.create_engine_config (0.6.6, 0.7.3) / _set_default_args_v0 (0.8.2,
            # 0.8.5, 0.9.2): long contexts get chunked prefill by themselves, never with a
            # drafter or with LoRA
            chunked = False
        tokens = eng.max_num_batched_tokens or _v0_batched_tokens(facts, max_len, chunked)
    elif eng.enable_chunked_prefill is False:  # V1 without chunking must fit a whole prompt
        tokens = eng.max_num_batched_tokens or max(default_tokens, max_len)
    else:
        tokens = eng.max_num_batched_tokens or default_tokens
    if not eng.max_num_batched_tokens and has_behaviour("default_tokens_clamped", facts.version):
        tokens = min(tokens, max_seqs * max_len)  # a batch never exceeds what the seqs can hold
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


# per engine section, which a profile's targets share (as do the TP sizes a search resolves
# afresh): the capture sizes read its options and the values keyed beside it
_GRAPH_SIZES: ByIdentity[GraphSizes] = ByIdentity(maxsize=4096)


def _graph_sizes(
    request: PlanRequest,
    model: ModelInfo,
    facts: VersionFacts,
    gpu: GPUSpec,
    max_seqs: int,
    tokens: int,
    spec: SpecDecode | None,
    v2_runner: bool,
) -> GraphSizes:
    eng = request.engine
    # The Blackwell data-centre family (compute capability 10.x) gets its own ceiling: of the
    # GPU, all the sizes read (a profile's H100, A100 and L4 targets share them)
    sm100 = gpu.vendor == "nvidia" and gpu.capability // 10 == 10
    drafting = (
        (spec.decode_query_len, spec.tokens, spec.method, spec.multi_module_mtp) if spec else ()
    )
    # the facts' graph fields are the release's; a V0 fallback changes only the engine
    key = (
        model.model_type,
        facts.version,
        facts.engine,
        sm100,
        max_seqs,
        tokens,
        drafting,
        v2_runner,
    )
    return _GRAPH_SIZES.get(
        eng,
        key,
        lambda: _computed_graph_sizes(eng, model, facts, sm100, max_seqs, tokens, spec, v2_runner),
    )


def _computed_graph_sizes(
    eng: EngineInput,
    model: ModelInfo,
    facts: VersionFacts,
    sm100: bool,
    max_seqs: int,
    tokens: int,
    spec: SpecDecode | None,
    v2_runner: bool,
) -> GraphSizes:
    """_graph_sizes, computed: of ``eng`` and the values _graph_sizes keys."""
    query = spec.decode_query_len if spec else 1
    if facts.engine == "v0":
        return GraphSizes(
            older_graph_sizes(
                max_seqs,
                tokens,
                explicit=eng.cudagraph_capture_sizes,
                given=None,
                v0_cap=int(facts.common["v0_cudagraph_max_size"]),
                default_cap=facts.cudagraph_max_size,
            )
        )
    if not has_behaviour("cudagraph_stride_16_from_256", facts.version):
        sizes = older_graph_sizes(
            max_seqs,
            tokens,
            explicit=eng.cudagraph_capture_sizes,
            given=eng.cuda_graph_sizes,
            v0_cap=None,
            default_cap=min(2 * max_seqs, facts.cudagraph_max_size)
            if has_behaviour("cudagraph_ceiling_twice_max_num_seqs", facts.version)
            else facts.cudagraph_max_size,
        )
    else:
        limit = model_capture_limit(model)
        if limit and facts.cudagraph_split_sizes is not None:
            # 0.34 gives a model's ceiling as split sizes instead (none on SM100)
            eng = eng if sm100 else model_ceiling(eng, limit, tokens, query)
            limit = None
        sizes = capture_sizes(
            max_seqs,
            tokens,
            eng.max_cudagraph_capture_size or limit,
            explicit=eng.cudagraph_capture_sizes or eng.cuda_graph_sizes,  # 0.12+: one option
            default_cap=facts.cudagraph_max_size_sm100 if sm100 else facts.cudagraph_max_size,
            appends=facts.cudagraph_appends,
            interactivity=eng.performance_mode == "interactivity",
            decode_query_len=query
            if has_behaviour("spec_uniform_decode_capture_sizes", facts.version)
            else 1,
            cap_query_len=query,
        )
    mode = eng.cudagraph_mode or ("NONE" if eng.optimization_level == 0 else "FULL_AND_PIECEWISE")
    if mode in ("FULL_AND_PIECEWISE", "FULL_DECODE_ONLY") and not (
        v2_runner and has_behaviour("v2_skips_spec_capture_rounding", facts.version)
    ):
        return GraphSizes(rounded_to_query(sizes, query))
    if facts.cudagraph_split_sizes is None:
        return GraphSizes(sizes)
    shape = SplitShape(
        max_num_seqs=max_seqs,
        max_num_batched_tokens=tokens,
        query=query,
        sm100=sm100,
        decode_only=mode == "FULL_DECODE_ONLY",
        interactivity=eng.performance_mode == "interactivity",
        draft_decode=spec is not None
        and (spec.tokens or 0) >= 2
        and spec.method in facts.cudagraph_split_sizes["draft_decode_methods"]
        and not spec.multi_module_mtp,
    )
    return split_graph_sizes(sizes, eng, shape, facts.cudagraph_split_sizes)


def older_graph_sizes(
    max_num_seqs: int,
    max_num_batched_tokens: int,
    *,
    explicit: tuple[int, ...] | None,
    given: tuple[int, ...] | None,
    v0_cap: int | None,
    default_cap: int,
) -> tuple[int, ...]:
    """The capture sizes of releases before 0.12 (VllmConfig._set_cudagraph_sizes and
    CompilationConfig.init_with_cudagraph_sizes of 0.6.6 .. 0.11.0). Sizes given in the
    compilation config win. V0 (``v0_cap``: the largest it considers) captures 1, 2, 4 and
    every multiple of 8 up to the first at or above max_num_seqs. V1 captures the sizes of
    --cuda-graph-sizes when it gives several, else 1, 2, 4 and every 8 up to its one value or
    ``default_cap``, none past max_num_batched_tokens."""
    if explicit is not None:
        return tuple(sorted(set(explicit)))
    if v0_cap is not None:
        possible = [1, 2, 4, *range(8, v0_cap + 1, 8)]
        top = next((n for n in possible if n >= max_num_seqs), possible[-1])
        return tuple(n for n in possible if n <= top)
    if given is not None and len(given) > 1:
        sizes = sorted(given)
    else:
        sizes = [1, 2, 4, *range(8, (given[0] if given else default_cap) + 1, 8)]
    return tuple(sorted({n for n in sizes if n <= max_num_batched_tokens}))


def rounded_to_query(sizes: tuple[int, ...], query: int) -> tuple[int, ...]:
    """The V1 model runner's capture sizes under FULL decode graphs with speculative decoding:
    each rounded up to a multiple of 1 + num_speculative_tokens, none past the largest
    (config/compilation.py CompilationConfig.adjust_cudagraph_sizes_for_spec_decode, called by
    v1/worker/gpu_model_runner.py when the decode mode is FULL with a separate routine)."""
    if query <= 1 or not sizes:
        return sizes
    top = sizes[-1]
    rounded = sorted({-(-n // query) * query for n in sizes if -(-n // query) * query <= top})
    if not rounded and query <= top:
        rounded = [query]
    return tuple(rounded)


def model_capture_limit(model: ModelInfo) -> int | None:
    """A model's own largest CUDA-graph size, where vLLM's model config raises the default
    (gpt-oss logs "Overriding max cuda graph capture size to 1024 for performance")."""
    limit = type_facts(model.model_type).get("max_cudagraph_capture_size")
    return int(limit) if limit else None


@functools.lru_cache(maxsize=512)  # pure; every plan (and every TP tried) asks, with few inputs
def capture_sizes(
    max_num_seqs: int,
    max_num_batched_tokens: int,
    cap: int | None,
    *,
    explicit: tuple[int, ...] | None = None,
    default_cap: int = 512,
    appends: tuple[str, ...] = (),
    interactivity: bool = False,
    decode_query_len: int = 1,
    cap_query_len: int = 1,
) -> tuple[int, ...]:
    """vLLM V1's cudagraph_capture_sizes (config/vllm.py VllmConfig._set_cudagraph_sizes).
    Explicit sizes are kept up to max_num_batched_tokens. Otherwise 1, 2, 4 (every size to 32
    in interactivity mode), every 8 below 256 and every 16 from 256, up to ``cap`` (given, or
    min(2 x max_num_seqs x ``cap_query_len``, the version's default ceiling)) and
    max_num_batched_tokens; newer releases add max_num_batched_tokens and (without an explicit
    cap) max_num_seqs when they fall within it but off the stride, or with speculative decoding
    (``decode_query_len`` = 1 + num_speculative_tokens) the uniform decode batches: each
    request count of the same grid up to max_num_seqs, times the query length."""
    if explicit is not None:
        return tuple(sorted({n for n in explicit if n <= max_num_batched_tokens}))
    extra: list[int] = []
    if cap is None:
        cap = min(2 * max_num_seqs * cap_query_len, default_cap)
        if decode_query_len > 1:
            extra += [n * decode_query_len for n in _request_counts(max_num_seqs, default_cap)]
            extra = [n for n in extra if n <= cap]
        elif "max_num_seqs" in appends and max_num_seqs <= cap:
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


def _request_counts(max_requests: int, default_cap: int) -> list[int]:
    """_set_cudagraph_sizes' request_counts: the stride grid up to the requests a decode batch
    holds (at most the default ceiling), and that count itself."""
    top = min(max_requests, default_cap)
    counts = [n for n in (1, 2, 4) if n <= top]
    counts += range(8, min(top + 1, 256), 8)
    counts += range(256, top + 1, 16)
    return sorted({*counts, top})


def _v0_batched_tokens(facts: VersionFacts, max_len: int, chunked: bool | None) -> int:
    """V0 profiles max(max_model_len, 2048) tokens unless chunked prefill is on, which it
    turns on by itself above a context length in later V0 releases."""
    auto = facts.scheduling.get("chunked_prefill_auto_above")
    if chunked is None:
        chunked = auto is not None and max_len > auto
    if chunked:
        return int(facts.scheduling["chunked_max_num_batched_tokens"])
    return max(max_len, 2048)
