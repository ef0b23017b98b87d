"""What a plan is asked for: one model on one GPU target, with workload, policy and engine.

Bounds follow vLLM where vLLM is looser than the seed (utilization is valid in (0, 1]); the
seed's narrower band becomes a warning rule in planning, not a validation error here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from checker.schemas.enums import BatchingMode, DType, Interconnect, KVCacheDType, Quantization
from checker.schemas.gpu import GPUSpec
from checker.schemas.slo import SLOTargets

INT64_MAX = (1 << 63) - 1  # vLLM's integer arguments are C int64 at the bottom

_STRICT = ConfigDict(extra="forbid", frozen=True)

# vllm/config/compilation.py CUDAGraphMode and vllm/config/vllm.py PerformanceMode (0.33.0).
CUDAGraphMode = Literal["NONE", "PIECEWISE", "FULL", "FULL_DECODE_ONLY", "FULL_AND_PIECEWISE"]
PerformanceMode = Literal["balanced", "interactivity", "throughput"]


class ModelInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str = Field(min_length=1, max_length=512, description="Hugging Face id or local path")
    revision: str | None = Field(None, max_length=256)
    config_path: str | None = Field(
        None, description="Local config.json or model directory; overrides catalog and Hub"
    )
    trust_remote_code: bool = False
    dtype: DType = DType.AUTO
    quantization: Quantization = Quantization.NONE
    kv_cache_dtype: KVCacheDType = KVCacheDType.AUTO
    max_model_len: Annotated[int, Field(gt=0, le=1 << 24)] | Literal["auto"] | None = Field(
        None,
        description="Context length; 'auto' (vLLM's -1) fits the longest the KV cache holds; "
        "None = the model's derived maximum",
    )
    hf_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="vLLM --hf-overrides: values laid over the model's config.json",
    )
    tokenizer: str | None = None
    params_b: float | None = Field(None, gt=0, le=100_000, description="Informational only")

    @field_validator("max_model_len", mode="before")
    @classmethod
    def _auto_spellings(cls, value: Any) -> Any:
        """vLLM's human_readable_int_or_auto: -1 and 'auto' (any case) both mean auto-fit."""
        if value == -1 or (isinstance(value, str) and value.strip().lower() in ("auto", "-1")):
            return "auto"
        return value


class HardwareInput(BaseModel):
    model_config = _STRICT

    gpu: str = Field("auto", max_length=128, description="GPU catalog name or alias")
    gpus: int = Field(1, ge=1, le=4096, description="GPUs available for this instance")
    vram_gb: float | None = Field(
        None, gt=0, le=10_000, description="Override memory per GPU (GiB)"
    )
    interconnect: Interconnect = Interconnect.UNKNOWN
    tensor_parallel_size: int | None = Field(None, ge=1, le=1024)
    pipeline_parallel_size: int = Field(1, ge=1, le=1024)
    gpus_per_node: int | None = Field(
        None, ge=1, le=4096, description="GPUs of one node; None = all of `gpus` on one node"
    )
    custom_gpu: GPUSpec | None = Field(None, description="Inline spec, used instead of the catalog")


class WorkloadInput(BaseModel):
    model_config = _STRICT

    prompt_tokens: int = Field(512, ge=1, le=1 << 24)
    gen_tokens: int = Field(256, ge=1, le=1 << 24)
    concurrency: int = Field(1, ge=1, le=1 << 20)
    target_latency_ms: float | None = Field(None, gt=0)
    streaming: bool = True
    batching_mode: BatchingMode = BatchingMode.BALANCED
    request_rate: float | None = Field(
        None,
        gt=0,
        le=1e6,
        description="Poisson arrivals, requests/s over the deployment (vllm bench serve "
        "--request-rate); the gate checks the deployment sustains it. None: a closed loop of "
        "`concurrency` requests",
    )
    num_prompts: int | None = Field(
        None, ge=1, le=100_000, description="Prompts per benchmark run; None: the recipe's"
    )
    shared_prefix_tokens: int = Field(
        0,
        ge=0,
        le=1 << 24,
        description="Of prompt_tokens, a prefix every request shares (a system prompt): with "
        "prefix caching it is computed once (vllm bench serve --random-prefix-len)",
    )
    slo: SLOTargets = Field(default_factory=SLOTargets)


class PolicyInput(BaseModel):
    model_config = _STRICT

    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1, description="Fraction of total device memory; None = version default"
    )
    overhead_gb: float | None = Field(None, ge=0, le=10_000)
    fragmentation_factor: float = Field(1.15, ge=1.0, le=2.0)
    headroom_gb: float = Field(1.0, ge=0, le=10_000)
    instances_per_gpu: int = Field(1, ge=1, le=64, description="vLLM instances sharing each GPU")


class EngineInput(BaseModel):
    """Engine settings the profile pins; None means vLLM's default for this version and GPU."""

    model_config = _STRICT

    vllm_version: str | None = Field(None, pattern=r"^[0-9]{1,4}\.[0-9]{1,4}(\.[0-9]{1,4})?$")
    max_num_seqs: int | None = Field(None, ge=1, le=1 << 20)
    max_num_batched_tokens: int | None = Field(None, ge=1, le=1 << 24)
    block_size: int | None = Field(None, ge=1, le=4096)
    enforce_eager: bool = False
    enable_prefix_caching: bool | None = None
    enable_chunked_prefill: bool | None = None
    disable_hybrid_kv_cache_manager: bool = False
    kv_cache_memory_bytes: int | None = Field(None, ge=0, le=INT64_MAX)
    cudagraph_memory_profiling: bool | None = Field(
        None, description="VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS; None = version default"
    )
    # The fields below carry vLLM's EngineArgs names (and the env var's, lower-cased).
    num_gpu_blocks_override: int | None = Field(None, ge=1, le=1 << 31)
    cpu_offload_gb: float = Field(
        0, ge=0, le=1 << 20, description="GiB of weights per GPU in host memory"
    )
    disable_sliding_window: bool = False
    allow_long_max_model_len: bool = Field(
        False,
        description="VLLM_ALLOW_LONG_MAX_MODEL_LEN=1: a length above the derived maximum warns",
    )
    cudagraph_mode: CUDAGraphMode | None = Field(
        None, description="compilation_config.cudagraph_mode; None = the optimization level's"
    )
    cudagraph_capture_sizes: tuple[Annotated[int, Field(ge=1, le=1 << 24)], ...] | None = Field(
        None, min_length=1
    )
    max_cudagraph_capture_size: int | None = Field(None, ge=1, le=1 << 24)
    optimization_level: int | None = Field(None, ge=0, le=3, description="-O0 .. -O3; None = O2")
    performance_mode: PerformanceMode = "balanced"
    # Data and expert parallelism (vllm/config/parallel.py ParallelConfig, EPLBConfig).
    data_parallel_size: int = Field(1, ge=1, le=4096, description="Engines, each a full replica")
    data_parallel_size_local: int | None = Field(
        None, ge=0, le=4096, description="DP ranks on this node; None = vLLM's inference"
    )
    enable_expert_parallel: bool = False
    enable_eplb: bool = False
    eplb_config: dict[str, Any] = Field(
        default_factory=dict, description="--eplb-config (num_redundant_experts, ...)"
    )
    all2all_backend: str | None = Field(None, max_length=64, description="None = vLLM's default")
    nnodes: int = Field(1, ge=1, le=4096, description="Nodes one server spans (--nnodes)")
    distributed_executor_backend: str | None = Field(None, max_length=64)
    # LoRA (vllm/config/lora.py LoRAConfig); the rank is checked against vLLM's allowed set by
    # the plan, so a profile gets vLLM's start-up error rather than a schema error.
    enable_lora: bool = False
    max_loras: int = Field(1, ge=1, le=4096, description="Adapters in one batch (GPU slots)")
    max_lora_rank: int = Field(16, ge=1, le=1 << 16)
    max_cpu_loras: int | None = Field(None, ge=1, le=1 << 20)
    lora_dtype: Literal["auto", "float16", "bfloat16"] = "auto"
    fully_sharded_loras: bool = False
    specialize_active_lora: bool = False
    vllm_args: dict[str, Any] = Field(
        default_factory=dict,
        description="Every other engine argument, canonical flag name (no dashes) -> value",
    )


class PlanRequest(BaseModel):
    model_config = _STRICT

    model: ModelInput
    hardware: HardwareInput = Field(default_factory=HardwareInput)
    workload: WorkloadInput = Field(default_factory=WorkloadInput)
    policy: PolicyInput = Field(default_factory=PolicyInput)
    engine: EngineInput = Field(default_factory=EngineInput)
    explain: bool = False
    step_model: bool = Field(
        False,
        description="Run the step-level scheduler model for the performance figures even when "
        "the workload states no targets (`plan` does; it costs milliseconds per plan)",
    )
    ignore: dict[str, str] = Field(
        default_factory=dict,
        description="Rule id -> reason: its findings are reported as suppressed, not counted",
    )
