"""What a plan is asked for: one model on one GPU target, with workload, policy and engine.

Bounds follow vLLM where vLLM is looser than the seed (utilization is valid in (0, 1]); the
seed's narrower band becomes a warning rule in planning, not a validation error here.
"""

import json
from typing import Annotated, Any, Literal

from checker.schemas.defaults import section_defaults
from checker.schemas.enums import (
    VLLM_VERSION_EXAMPLES,
    VLLM_VERSION_PATTERN,
    BatchingMode,
    DType,
    Interconnect,
    KVCacheDType,
    Quantization,
)
from checker.schemas.gpu import GPUSpec
from checker.schemas.section import ConfigDict, Field, Section, field_validator
from checker.schemas.slo import SLOTargets

INT64_MAX = (1 << 63) - 1  # vLLM's integer arguments are C int64 at the bottom

_STRICT = ConfigDict(extra="forbid")

# vllm/config/compilation.py CUDAGraphMode and vllm/config/vllm.py PerformanceMode (0.33.0).
CUDAGraphMode = Literal["NONE", "PIECEWISE", "FULL", "FULL_DECODE_ONLY", "FULL_AND_PIECEWISE"]
PerformanceMode = Literal["balanced", "interactivity", "throughput"]
MambaDType = Literal["auto", "float32", "float16", "bfloat16"]
# How vLLM is installed where it runs, which decides its kernel packages (data/vllm_builds.yaml).
Install = Literal["image", "pip"]
INSTALL_DESCRIPTION = (
    "How the server's vLLM is installed: image (the official vllm/vllm-openai image, which the "
    "docker and Kubernetes artifacts run) or pip (pip install vllm, the wheel without extras). "
    "Before 0.11.1 only the image has FlashInfer, whose sampler needs less memory at start-up"
)


class ModelInput(Section):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=512, description="Hugging Face id or local path")
    revision: str | None = Field(default=None, max_length=256)
    config_path: str | None = Field(
        default=None, description="Local config.json or model directory; overrides catalog and Hub"
    )
    base_dir: str | None = Field(
        default=None,
        description="Folder a relative local model directory (the model, a speculative draft) "
        "is read from: the profile's, as for model.config; None: the current directory",
    )
    trust_remote_code: bool = False
    dtype: DType = DType.AUTO
    quantization: Quantization = Quantization.NONE
    kv_cache_dtype: KVCacheDType = KVCacheDType.AUTO
    max_model_len: Annotated[int, Field(gt=0, le=1 << 24)] | Literal["auto"] | None = Field(
        default=None,
        description="Context length; 'auto' (vLLM's -1) fits the longest the KV cache holds; "
        "None = the model's derived maximum",
    )
    hf_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="vLLM --hf-overrides: values laid over the model's config.json",
    )
    tokenizer: str | None = None
    params_b: float | None = Field(default=None, gt=0, le=100_000, description="Informational only")

    @field_validator("max_model_len", mode="before")
    @classmethod
    def _auto_spellings(cls, value: Any) -> Any:
        """vLLM's human_readable_int_or_auto: -1 and 'auto' (any case) both mean auto-fit."""
        if value == -1 or (isinstance(value, str) and value.strip().lower() in ("auto", "-1")):
            return "auto"
        return value


class HardwareInput(Section):
    model_config = _STRICT

    gpu: str = Field(default="auto", max_length=128, description="GPU catalog name or alias")
    gpus: int = Field(default=1, ge=1, le=4096, description="GPUs available for this instance")
    vram_gb: float | None = Field(
        default=None, gt=0, le=10_000, description="Override memory per GPU (GiB)"
    )
    interconnect: Interconnect = Interconnect.UNKNOWN
    tensor_parallel_size: int | None = Field(default=None, ge=1, le=1024)
    pipeline_parallel_size: int = Field(default=1, ge=1, le=1024)
    gpus_per_node: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="GPUs of one node; None = all of `gpus` on one node",
    )
    custom_gpu: GPUSpec | None = Field(
        default=None, description="Inline spec, used instead of the catalog"
    )


# Workload fields a profile (profile.ProfileWorkload) and a request declare alike: their bounds
# and words in one place (the profile's annotations are strict)
REQUEST_RATE = Field(
    default=None,
    gt=0,
    le=1e6,
    description="Poisson arrivals, requests/s over the deployment (vllm bench serve "
    "--request-rate); the gate checks the deployment sustains it. None: a closed loop of "
    "`concurrency` requests",
)
NUM_PROMPTS = Field(
    default=None, ge=1, le=100_000, description="Prompts per benchmark run; None: the recipe's"
)
SHARED_PREFIX_TOKENS = Field(
    default=0,
    ge=0,
    le=1 << 24,
    description="Of prompt_tokens, a prefix every request shares (a system prompt): with "
    "prefix caching it is computed once (vllm bench serve --random-prefix-len)",
)
RANDOM_RANGE_RATIO = Field(
    default=0.0,
    ge=0,
    lt=1,
    description="Spread of request lengths: each prompt and output length is uniform in "
    "[L*(1-r), L*(1+r)] around prompt_tokens / gen_tokens (vllm bench serve "
    "--random-range-ratio); 0: every request has exactly those lengths",
)


class WorkloadInput(Section):
    model_config = _STRICT

    prompt_tokens: int = Field(default=512, ge=1, le=1 << 24)
    gen_tokens: int = Field(default=256, ge=1, le=1 << 24)
    concurrency: int = Field(default=1, ge=1, le=1 << 20)
    target_latency_ms: float | None = Field(default=None, gt=0)
    streaming: bool = True
    batching_mode: BatchingMode = BatchingMode.BALANCED
    request_rate: float | None = REQUEST_RATE
    num_prompts: int | None = NUM_PROMPTS
    shared_prefix_tokens: int = SHARED_PREFIX_TOKENS
    random_range_ratio: float = RANDOM_RANGE_RATIO
    slo: SLOTargets = Field(default_factory=section_defaults(SLOTargets))


class PolicyInput(Section):
    model_config = _STRICT

    gpu_memory_utilization: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Fraction of total device memory; None = version default",
    )
    overhead_gb: float | None = Field(default=None, ge=0, le=10_000)
    fragmentation_factor: float = Field(default=1.15, ge=1.0, le=2.0)
    headroom_gb: float = Field(default=1.0, ge=0, le=10_000)
    instances_per_gpu: int = Field(
        default=1, ge=1, le=64, description="vLLM instances sharing each GPU"
    )


class EngineInput(Section):
    """Engine settings the profile pins; None means vLLM's default for this version and GPU."""

    model_config = _STRICT

    vllm_version: str | None = Field(
        default=None, pattern=VLLM_VERSION_PATTERN, examples=VLLM_VERSION_EXAMPLES
    )
    max_num_seqs: int | None = Field(default=None, ge=1, le=1 << 20)
    max_num_batched_tokens: int | None = Field(default=None, ge=1, le=1 << 24)
    block_size: int | None = Field(default=None, ge=1, le=4096)
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None
    enable_chunked_prefill: bool | None = None
    disable_hybrid_kv_cache_manager: bool | None = Field(
        default=None,
        description="None: vLLM decides (a KV connector without HMA support turns it off)",
    )
    kv_cache_memory_bytes: int | None = Field(default=None, ge=0, le=INT64_MAX)
    cudagraph_memory_profiling: bool | None = Field(
        default=None, description="VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS; None = version default"
    )
    install: Install = Field(default="image", description=INSTALL_DESCRIPTION)
    # The fields below carry vLLM's EngineArgs names (and the env var's, lower-cased).
    num_gpu_blocks_override: int | None = Field(default=None, ge=1, le=1 << 31)
    cpu_offload_gb: float = Field(
        default=0.0, ge=0, le=1 << 20, description="GiB of weights per GPU in host memory"
    )
    disable_sliding_window: bool = False
    allow_long_max_model_len: bool = Field(
        default=False,
        description="VLLM_ALLOW_LONG_MAX_MODEL_LEN=1: a length above the derived maximum warns",
    )
    cudagraph_mode: CUDAGraphMode | None = Field(
        default=None,
        description="compilation_config.cudagraph_mode; None = the optimization level's",
    )
    cudagraph_capture_sizes: tuple[Annotated[int, Field(ge=1, le=1 << 24)], ...] | None = Field(
        default=None, min_length=1
    )
    max_cudagraph_capture_size: int | None = Field(default=None, ge=1, le=1 << 24)
    # 0.34's split sizes (config/compilation.py CompilationConfig): prefill graphs in tokens,
    # decode graphs in requests; [] captures none
    prefill_cudagraph_capture_token_sizes: (
        tuple[Annotated[int, Field(ge=-(1 << 24), le=1 << 24)], ...] | None
    ) = None
    max_prefill_cudagraph_capture_tokens: int | None = Field(default=None, ge=0, le=1 << 24)
    decode_cudagraph_capture_request_sizes: (
        tuple[Annotated[int, Field(ge=-(1 << 24), le=1 << 24)], ...] | None
    ) = None
    max_decode_cudagraph_capture_requests: int | None = Field(default=None, ge=0, le=1 << 24)
    max_decode_cudagraph_capture_tokens: int | None = Field(default=None, ge=1, le=1 << 24)
    # CUDA-graph options of older releases (SchedulerConfig / ModelConfig of 0.6 .. 0.11)
    cuda_graph_sizes: tuple[Annotated[int, Field(ge=1, le=1 << 24)], ...] | None = Field(
        default=None, min_length=1, description="--cuda-graph-sizes: one ceiling, or the sizes"
    )
    max_seq_len_to_capture: int | None = Field(
        default=None,
        ge=1,
        le=INT64_MAX,
        description="V0: longer sequences decode without CUDA graphs",
    )
    num_scheduler_steps: int = Field(default=1, ge=1, le=1 << 16, description="V0 multi-step")
    optimization_level: int | None = Field(
        default=None, ge=0, le=3, description="-O0 .. -O3; None = O2"
    )
    performance_mode: PerformanceMode = "balanced"
    # Data and expert parallelism (vllm/config/parallel.py ParallelConfig, EPLBConfig).
    data_parallel_size: int = Field(
        default=1, ge=1, le=4096, description="Engines, each a full replica"
    )
    data_parallel_size_local: int | None = Field(
        default=None, ge=0, le=4096, description="DP ranks on this node; None = vLLM's inference"
    )
    enable_expert_parallel: bool = False
    enable_eplb: bool = False
    eplb_config: dict[str, Any] = Field(
        default_factory=dict, description="--eplb-config (num_redundant_experts, ...)"
    )
    all2all_backend: str | None = Field(
        default=None, max_length=64, description="None = vLLM's default"
    )
    nnodes: int = Field(default=1, ge=1, le=4096, description="Nodes one server spans (--nnodes)")
    distributed_executor_backend: str | None = Field(default=None, max_length=64)
    disable_custom_all_reduce: bool = False
    # Async scheduling (config/scheduler.py SchedulerConfig.async_scheduling, settled by
    # config/vllm.py VllmConfig.__post_init__): the batches in flight a sliding window keeps.
    async_scheduling: bool | None = Field(
        default=None, description="--async-scheduling / --no-async-scheduling; None = vLLM decides"
    )
    # KV connectors and offloading (KVTransferConfig, CacheConfig.kv_offloading_*)
    kv_transfer_config: dict[str, Any] = Field(
        default_factory=dict, description="--kv-transfer-config (kv_connector, ...)"
    )
    kv_offloading_size: float | None = Field(
        default=None, gt=0, le=1 << 20, description="GiB per engine"
    )
    kv_offloading_backend: Literal["native", "lmcache"] = "native"
    # The extensible KV cache (0.34 config/cache.py CacheConfig.enable_extensible_kv_cache,
    # settled by config/vllm.py VllmConfig._resolve_extensible_kv_cache).
    enable_extensible_kv_cache: bool | None = Field(
        default=None,
        description="--enable-extensible-kv-cache / --no-enable-extensible-kv-cache; "
        "None = vLLM decides",
    )
    # Context parallelism (ParallelConfig): PCP multiplies the world size, DCP reuses TP ranks
    decode_context_parallel_size: int = Field(default=1, ge=1, le=1024)
    prefill_context_parallel_size: int = Field(default=1, ge=1, le=1024)
    # LoRA (vllm/config/lora.py LoRAConfig); the rank is checked against vLLM's allowed set by
    # the plan, so a profile gets vLLM's start-up error rather than a schema error.
    enable_lora: bool = False
    max_loras: int = Field(
        default=1, ge=1, le=4096, description="Adapters in one batch (GPU slots)"
    )
    max_lora_rank: int = Field(default=16, ge=1, le=1 << 16)
    max_cpu_loras: int | None = Field(default=None, ge=1, le=1 << 20)
    lora_dtype: Literal["auto", "float16", "bfloat16"] = "auto"
    fully_sharded_loras: bool = False
    specialize_active_lora: bool = False
    enable_lora_bias: bool = False  # 0.6 .. 0.10 LoRAConfig.bias_enabled
    lora_target_modules: tuple[Annotated[str, Field(max_length=256)], ...] | None = Field(
        default=None,
        max_length=256,
        description="--lora-target-modules: module names that get LoRA",
    )
    # Mamba / linear-attention state (vllm/config/cache.py CacheConfig MambaDType,
    # MambaCacheMode: the union over releases; the plan checks the pinned release's choices)
    mamba_cache_dtype: MambaDType = "auto"
    mamba_ssm_cache_dtype: MambaDType = "auto"
    mamba_cache_mode: Literal["none", "align", "all"] = "none"
    mamba_block_size: int | None = Field(default=None, ge=1, le=1 << 24)
    # config/cache.py CacheConfig.kv_cache_dtype_skip_layers (0.19+): layer indices, or
    # "sliding_window", whose KV stays in the model dtype
    kv_cache_dtype_skip_layers: tuple[Annotated[str, Field(max_length=64)], ...] | None = Field(
        default=None, max_length=4096, description="--kv-cache-dtype-skip-layers"
    )
    # Speculative decoding (vllm/config/speculative.py SpeculativeConfig, engine/arg_utils.py
    # EngineArgs.create_speculative_config merges the three short flags into the JSON).
    speculative_config: dict[str, Any] | None = Field(
        default=None, description="--speculative-config: method, model, num_speculative_tokens, ..."
    )
    spec_method: str | None = Field(default=None, max_length=64, description="--spec-method")
    spec_model: str | None = Field(default=None, max_length=512, description="--spec-model")
    spec_tokens: int | None = Field(default=None, ge=1, le=1 << 16, description="--spec-tokens")
    # The speculative flags of the V0 release lines 0.6 / 0.7 (engine/arg_utils.py
    # EngineArgs.add_cli_args, passed to config.py SpeculativeConfig.maybe_create_spec_config);
    # vLLM's own checks refuse the values a schema bound would, so the plan can say so (VW125).
    speculative_model: str | None = Field(
        default=None, max_length=512, description="--speculative-model"
    )
    num_speculative_tokens: int | None = Field(default=None, ge=-(1 << 16), le=1 << 16)
    speculative_draft_tensor_parallel_size: int | None = Field(default=None, ge=-4096, le=4096)
    speculative_max_model_len: int | None = Field(default=None, ge=-(1 << 30), le=1 << 30)
    speculative_model_quantization: str | None = Field(default=None, max_length=64)
    ngram_prompt_lookup_max: int | None = Field(default=None, ge=-(1 << 16), le=1 << 16)
    ngram_prompt_lookup_min: int | None = Field(default=None, ge=-(1 << 16), le=1 << 16)
    # Multimodal (vllm/config/multimodal.py MultiModalConfig): a modality's count is an integer
    # or {count: N, ...} (the dummy-data options beside count are not read by the plan)
    limit_mm_per_prompt: dict[str, Annotated[int, Field(ge=0, le=1 << 20)] | dict[str, Any]] = (
        Field(default_factory=dict, description="Modality -> items per prompt; unset: 999")
    )
    language_model_only: bool = False
    mm_processor_kwargs: dict[str, Any] = Field(default_factory=dict)
    mm_encoder_tp_mode: Literal["weights", "data"] = "weights"
    skip_mm_profiling: bool = False
    disable_chunked_mm_input: bool = False
    mm_ipc_gpu_memory_gb: float = Field(default=0.0, ge=0, le=1 << 20)
    mm_processor_cache_gb: float = Field(default=4.0, ge=0, le=1 << 20)
    media_io_kwargs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    vllm_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Every other engine argument, canonical flag name (no dashes) -> value",
    )

    @field_validator("lora_target_modules", "kv_cache_dtype_skip_layers", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        """One name written as text, or several as `vllm serve` takes them (nargs="+"); layer
        numbers written as YAML integers read as vLLM's strings."""
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = str(value).split()
        if isinstance(value, (list, tuple)):
            return tuple(
                str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value
            )
        return value

    @field_validator("cuda_graph_sizes", mode="before")
    @classmethod
    def _int_list(cls, value: Any) -> Any:
        """One integer or several, as `vllm serve --cuda-graph-sizes 1 2 4` takes them
        (nargs="+")."""
        if isinstance(value, str):
            return tuple(value.split())
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        return value

    @field_validator("limit_mm_per_prompt", mode="before")
    @classmethod
    def _key_value_limits(cls, value: Any) -> Any:
        """vLLM before 0.10 took ``image=16,video=2`` (engine/arg_utils.py nullable_kvs)."""
        if not isinstance(value, str):
            return value
        limits: dict[str, int] = {}
        for pair in filter(None, value.split(",")):
            modality, sep, count = pair.partition("=")
            if not sep or not count.strip().isdigit():
                raise ValueError(f"{pair!r} is not modality=count, e.g. image=16,video=2")
            limits[modality.strip()] = int(count)
        return limits

    @field_validator("mm_processor_kwargs", mode="before")
    @classmethod
    def _json_kwargs(cls, value: Any) -> Any:
        """vLLM before 0.10 read --mm-processor-kwargs with json.loads; the sizes the plan
        reads are positive integers (larger ones are typos: the plan searches over them)."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError('not a JSON object, e.g. {"max_pixels": 1003520}') from None
        if isinstance(value, dict):
            size = value.get("size")
            sizes = {k: value.get(k) for k in _MM_SIZE_KEYS}
            sizes["size.longest_edge"] = (
                size.get("longest_edge") if isinstance(size, dict) else None
            )
            for key, number in sizes.items():
                _check_count(key, number, _MM_SIZE_KEYS.get(key, 1 << 34))
            ratio = value.get("pan_and_scan_min_ratio_to_activate")
            if ratio is not None and (
                isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0
            ):
                raise ValueError(f"pan_and_scan_min_ratio_to_activate must be > 0, not {ratio!r}")
        return value

    @field_validator("media_io_kwargs")
    @classmethod
    def _video_decoder(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """vLLM's checks of the GPU video decoder options (multimodal/video_decoders/
        pynvvideocodec.py validate_pynvvideocodec_hw_decoders / _max_dimensions)."""
        video = value.get("video", {})
        _check_count("video.hw_decoders", video.get("hw_decoders"), 1024)
        width, height = video.get("max_width"), video.get("max_height")
        if (width is None) != (height is None):
            raise ValueError("video.max_width and video.max_height must be set together")
        _check_count("video.max_width", width, 1 << 20)
        _check_count("video.max_height", height, 1 << 20)
        return value


# mm_processor_kwargs the plan reads, with their largest sensible value
_MM_SIZE_KEYS = {
    "max_pixels": 1 << 34,
    "pan_and_scan_max_num_crops": 1024,
    "pan_and_scan_min_crop_size": 1 << 20,
}


def _check_count(key: str, value: Any, most: int) -> None:
    """A positive integer up to ``most`` when given (bool is not a count)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise ValueError(f"{key} must be an integer from 1 to {most}, not {value!r}")


class PlanRequest(Section):
    model_config = _STRICT

    model: ModelInput
    hardware: HardwareInput = Field(default_factory=section_defaults(HardwareInput))
    workload: WorkloadInput = Field(default_factory=section_defaults(WorkloadInput))
    policy: PolicyInput = Field(default_factory=section_defaults(PolicyInput))
    engine: EngineInput = Field(default_factory=section_defaults(EngineInput))
    explain: bool = False
    step_model: bool = Field(
        default=False,
        description="Run the step-level scheduler model for the performance figures even when "
        "the workload states no targets (`plan` does; it costs milliseconds per plan)",
    )
    ignore: dict[str, str] = Field(
        default_factory=dict,
        description="Rule id -> reason: its findings are reported as suppressed, not counted",
    )
