"""What a plan returns. Figures are GiB (2**30 bytes), per GPU rank, as vLLM logs them; with data
parallel the KV and concurrency figures are per engine (DP rank), and the deployment totals say
so in their names."""

# Annotations evaluated at import, not postponed: pydantic would compile every field's
# annotation string at each start of the CLI (tests/schemas/test_model_annotations.py).
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from checker.schemas.defaults import empty_list
from checker.schemas.enums import Basis, OOMRisk, Severity, Verdict
from checker.schemas.inputs import Install

_OUT = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Finding(BaseModel):
    """A rule that fired: a start-up error vLLM would raise, or a warning."""

    model_config = _OUT

    rule_id: str = Field(description="Stable id, e.g. VW101")
    name: str = Field(description="Short slug, e.g. tp-heads-divisible")
    severity: Severity
    estimated: bool = Field(
        False,
        description="A high OOM risk: the shortfall depends on an estimated term (activation "
        "peak, CUDA graphs, sampler warm-up), not on vLLM's deterministic arithmetic",
    )
    message: str = Field(description="In vLLM's own wording where vLLM raises it")
    key: str = Field(description="Dotted profile key it points at, e.g. hardware.tp_size")
    fix: str = Field("", description="What to change, in words")
    fix_values: dict[str, Any] = Field(default_factory=dict, description="Key -> suggested value")
    suppressed: str | None = Field(
        None, description="Why its rule is ignored (profile or repo config); None: it counts"
    )


class MemoryBreakdown(BaseModel):
    """vLLM's start-up arithmetic for the binding rank (the one with the least KV memory)."""

    model_config = _OUT

    total_gib: float
    gpu_memory_utilization: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cudagraph_gib: float
    cudagraph_subtracted: bool
    kv_cache_gib: float = Field(description="0 where no memory is left for a KV cache")
    outside_budget_gib: float = Field(
        description="Memory left outside vLLM's budget: total-requested"
    )
    basis: dict[str, Basis] = Field(default_factory=dict)


class KVCacheReport(BaseModel):
    model_config = _OUT

    block_size: int
    num_blocks: int
    tokens: int
    bytes_per_token: int = Field(description="Per rank, summed over this rank's layers")
    page_bytes: int
    num_groups: int = 1
    group_block_sizes: dict[str, int] = Field(
        default_factory=dict,
        description="Tokens per block of each attention kind whose block vLLM raised so its page "
        "equals the largest (Gemma-4's full-attention layers: 32); empty where every group uses "
        "block_size",
    )
    state_bytes_per_request: int = Field(
        0, description="Fixed state each request holds for linear-attention (mamba) layers"
    )
    max_concurrency: float = Field(description="Requests at max_model_len that fit at once")
    kv_cache_dtype: str


class FeasibilityReport(BaseModel):
    model_config = _OUT

    fits: bool = Field(description="No start-up error (a high OOM risk alone still fits)")
    verdict: Verdict
    oom_risk: OOMRisk
    oom_risk_reason: str = ""
    gpu: str
    num_gpus_used: int
    num_gpus_given: int = Field(1, description="GPUs the instance is given (hardware.gpus)")
    weights_fit: bool = Field(
        True, description="False: loading the weights runs out of memory, vLLM stops there"
    )
    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int = Field(1, description="Engines, each with its own KV cache")
    expert_parallel: bool = Field(False, description="Routed experts split whole over DP x TP")
    nodes: int = Field(
        1, description="Nodes the deployment spans: --nnodes, else its GPUs over gpus_per_node"
    )
    max_model_len: int
    memory: MemoryBreakdown
    kv: KVCacheReport | None = Field(description="None: vLLM allocates no KV cache")
    max_concurrency_at_context: float = Field(description="Per engine (DP rank)")
    max_context_at_concurrency: int
    deployment_kv_tokens: int | None = Field(
        None, description="KV tokens of all DP engines together; None without a KV cache"
    )
    kv_offload_host_gib: float | None = Field(
        None,
        description="Host (CPU) memory one engine's offloaded KV takes (KV connector / "
        "--kv-offloading-size); None: no offloading, or held outside vLLM",
    )
    headroom_gib: float | None = Field(
        description="KV memory left after the workload's concurrency (negative: short); "
        "None without a KV cache"
    )
    log_lines: list[str] = Field(default_factory=empty_list, description="The lines vLLM would log")
    findings: list[Finding] = Field(default_factory=empty_list)
    suppressed: list[Finding] = Field(
        default_factory=empty_list,
        description="Findings of ignored rules, each with the reason; they do not count",
    )

    @property
    def reaches_kv_cache(self) -> bool:
        """vLLM gets as far as a KV cache: the weights load and leave memory for one."""
        return self.weights_fit and self.memory.kv_cache_gib > 0

    @property
    def warnings(self) -> list[str]:
        return [f.message for f in self.findings if f.severity is Severity.WARNING]


class VLLMConfig(BaseModel):
    """The settings to serve with: every value here becomes a flag in the artifacts."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=(), defer_build=True
    )

    model: str
    revision: str | None = None
    vllm_version: str
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    max_model_len: int  # with max_model_len_auto: the length vLLM's auto-fit will choose
    max_model_len_auto: bool = Field(
        False, description="--max-model-len auto: vLLM fits the length to the KV cache"
    )
    kv_cache_dtype: str = "auto"
    quantization: str | None = None
    enforce_eager: bool = False
    max_num_seqs: int
    max_num_batched_tokens: int
    block_size: int | None = None
    enable_prefix_caching: bool | None = None
    enable_chunked_prefill: bool | None = None
    trust_remote_code: bool = False
    tokenizer: str | None = None
    disable_hybrid_kv_cache_manager: bool | None = None  # None: vLLM decides
    kv_cache_memory_bytes: int | None = None
    cudagraph_memory_profiling: bool | None = Field(
        None, description="VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS; None = the version default"
    )
    allow_long_max_model_len: bool | None = Field(
        None, description="VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 when set; None = not set"
    )
    install: Install = Field("image", description="The build the plan sized (image or pip)")
    extra_args: dict[str, Any] = Field(
        default_factory=dict, description="Every other engine argument the profile sets"
    )
    explanations: dict[str, str] = Field(default_factory=dict)

    @property
    def max_model_len_arg(self) -> int | str:
        """--max-model-len as the artifacts pass it: auto stays auto (the server fits it)."""
        return "auto" if self.max_model_len_auto else self.max_model_len


class Recommendation(BaseModel):
    model_config = _OUT

    key: str
    value: Any
    reason: str


Range = tuple[float, float]


class LatencyFigure(BaseModel):
    """One latency of the step-level model at p50 and p90, each a (fast, slow) range."""

    model_config = _OUT

    p50_ms: Range
    p90_ms: Range
    width: str = Field(description="What drives the width of the range")


class ThroughputFigure(BaseModel):
    """A throughput of the step-level model, (slow, fast), for the deployment (every
    data-parallel engine) and per GPU."""

    model_config = _OUT

    deployment: Range
    per_gpu: Range
    width: str = Field(description="What drives the width of the range")


class SLOStatus(BaseModel):
    """A workload target held against the estimate: met (even at the slow end), at risk (only
    the fast end meets it) or missed (not even the fast end does)."""

    model_config = _OUT

    target: str = Field(description="Profile key, e.g. workload.slo.ttft_p90_ms")
    limit: float
    estimate: Range
    status: Literal["met", "at risk", "missed"]


class PerfEstimate(BaseModel):
    """Estimates: ranges, never promises. The step-level figures (ttft ... request_throughput)
    are there when the scheduler model ran: `plan`, or a workload with targets or a rate."""

    model_config = _OUT

    decode_toks_per_s_range: tuple[float, float] = Field(description="Per request")
    prefill_toks_per_s_range: tuple[float, float] | None = None
    ttft_ms_range: tuple[float, float] | None = None
    tpot_ms_range: tuple[float, float] | None = None
    throughput_toks_per_s_range: tuple[float, float] | None = Field(
        None, description="All requests at the workload's concurrency, per instance"
    )
    throughput_per_gpu_toks_per_s_range: tuple[float, float] | None = None
    model: Literal["closed-form", "step-level"] = Field(
        "closed-form",
        description="closed-form: one roofline step at the workload's batch; step-level: the "
        "workload through a model of vLLM's continuous-batching scheduler",
    )
    workload: str | None = Field(None, description="What the step-level model ran")
    ttft: LatencyFigure | None = None
    tpot: LatencyFigure | None = None
    itl: LatencyFigure | None = None
    e2e: LatencyFigure | None = None
    output_throughput: ThroughputFigure | None = Field(None, description="Output tok/s")
    request_throughput: ThroughputFigure | None = Field(None, description="Requests/s")
    max_request_rate: Range | None = Field(
        None, description="Requests/s the deployment completes when saturated (slow, fast)"
    )
    slos: list[SLOStatus] = Field(default_factory=empty_list)
    assumptions: list[str] = Field(default_factory=empty_list)


class Artifacts(BaseModel):
    """``plan`` fills serve_command (the line its text prints); ``generate`` writes the rest as
    files, so they stay null here."""

    model_config = _OUT

    serve_command: str | None = Field(None, description="`vllm serve ...` as one shell line")
    docker_command: str | None = None
    docker_compose: str | None = None
    k8s_manifest: str | None = None
    helm_values: str | None = None
    report_md: str | None = None
    bench_command: str | None = None


class ModelSummary(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=(), defer_build=True
    )

    model_id: str
    source: str
    architecture: str
    param_count: int
    num_layers: int
    dtype: str
    quantization: str | None


class PlanResponse(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, protected_namespaces=(), defer_build=True
    )

    schema_version: Literal[1] = Field(1, description="Of this JSON; bumped on breaking changes")
    model: ModelSummary
    feasibility: FeasibilityReport
    config: VLLMConfig
    performance: PerfEstimate
    recommendations: list[Recommendation] = Field(default_factory=empty_list)
    artifacts: Artifacts = Field(default_factory=Artifacts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and RFC-valid: a figure that overflowed to inf or nan is null, never the
        ``Infinity`` that model_dump(mode="json") would hand json.dumps."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        return data

    def model_dump_json_pretty(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
