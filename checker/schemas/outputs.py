"""What a plan returns. Figures are GiB (2**30 bytes), per GPU rank, as vLLM logs them; with data
parallel the KV and concurrency figures are per engine (DP rank), and the deployment totals say
so in their names."""

from __future__ import annotations

import json
from dataclasses import field
from typing import TYPE_CHECKING, Any, Literal

from checker.schemas.enums import Basis, OOMRisk, Severity, Verdict
from checker.schemas.records import Record, record, record_json

if TYPE_CHECKING:
    from checker.schemas.inputs import Install


@record
class Finding(Record):
    """A rule that fired: a start-up error vLLM would raise, or a warning."""

    rule_id: str  # stable id, e.g. VW101
    name: str  # short slug, e.g. tp-heads-divisible
    severity: Severity
    # a high OOM risk: the shortfall depends on an estimated term (activation peak, CUDA graphs,
    # sampler warm-up), not on vLLM's deterministic arithmetic
    estimated: bool = False
    message: str  # in vLLM's own wording where vLLM raises it
    key: str  # dotted profile key it points at, e.g. hardware.tp_size
    fix: str = ""  # what to change, in words
    fix_values: dict[str, Any] = field(default_factory=dict)  # key -> suggested value
    # why its rule is ignored (profile or repo config); None: it counts
    suppressed: str | None = None


@record
class MemoryBreakdown(Record):
    """vLLM's start-up arithmetic for the binding rank (the one with the least KV memory)."""

    total_gib: float
    gpu_memory_utilization: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    non_torch_gib: float
    cudagraph_gib: float
    cudagraph_subtracted: bool
    kv_cache_gib: float  # 0 where no memory is left for a KV cache
    outside_budget_gib: float  # memory left outside vLLM's budget: total-requested
    basis: dict[str, Basis] = field(default_factory=dict)


@record
class KVCacheReport(Record):
    """The KV cache vLLM allocates on the binding rank, as it logs it."""

    block_size: int
    num_blocks: int
    tokens: int
    bytes_per_token: int  # per rank, summed over this rank's layers
    page_bytes: int
    num_groups: int = 1
    # tokens per block of each attention kind whose block vLLM raised so its page equals the largest
    # (Gemma-4's full-attention layers: 32); empty where every group uses block_size
    group_block_sizes: dict[str, int] = field(default_factory=dict)
    # fixed state each request holds for linear-attention (mamba) layers
    state_bytes_per_request: int = 0
    max_concurrency: float  # requests at max_model_len that fit at once
    kv_cache_dtype: str


@record
class FeasibilityReport(Record):
    """Whether the plan starts, and the memory and KV figures that decide it."""

    fits: bool  # no start-up error (a high OOM risk alone still fits)
    verdict: Verdict
    oom_risk: OOMRisk
    oom_risk_reason: str = ""
    gpu: str
    num_gpus_used: int
    num_gpus_given: int = 1  # GPUs the instance is given (hardware.gpus)
    weights_fit: bool = True  # False: loading the weights runs out of memory, vLLM stops there
    tensor_parallel_size: int
    pipeline_parallel_size: int
    data_parallel_size: int = 1  # engines, each with its own KV cache
    expert_parallel: bool = False  # routed experts split whole over DP x TP
    nodes: int = 1  # nodes the deployment spans: --nnodes, else its GPUs over gpus_per_node
    max_model_len: int
    memory: MemoryBreakdown
    kv: KVCacheReport | None  # None: vLLM allocates no KV cache
    max_concurrency_at_context: float  # per engine (DP rank)
    max_context_at_concurrency: int
    # KV tokens of all DP engines together; None without a KV cache
    deployment_kv_tokens: int | None = None
    # host (CPU) memory one engine's offloaded KV takes (KV connector / --kv-offloading-size); None:
    # no offloading, or held outside vLLM
    kv_offload_host_gib: float | None = None
    # KV memory left after the workload's concurrency (negative: short); None without a KV cache
    headroom_gib: float | None
    log_lines: list[str] = field(default_factory=list)  # the lines vLLM would log
    findings: list[Finding] = field(default_factory=list)
    # findings of ignored rules, each with the reason; they do not count
    suppressed: list[Finding] = field(default_factory=list)

    @property
    def reaches_kv_cache(self) -> bool:
        """vLLM gets as far as a KV cache: the weights load and leave memory for one."""
        return self.weights_fit and self.memory.kv_cache_gib > 0

    @property
    def warnings(self) -> list[str]:
        return [f.message for f in self.findings if f.severity is Severity.WARNING]


@record
class VLLMConfig(Record):
    """The settings to serve with: every value here becomes a flag in the artifacts."""

    model: str
    revision: str | None = None
    vllm_version: str
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    dtype: str = "auto"
    gpu_memory_utilization: float = 0.9
    max_model_len: int  # with max_model_len_auto: the length vLLM's auto-fit will choose
    max_model_len_auto: bool = False  # --max-model-len auto: vLLM fits the length to the KV cache
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
    # VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS; None = the version default
    cudagraph_memory_profiling: bool | None = None
    # VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 when set; None = not set
    allow_long_max_model_len: bool | None = None
    install: Install = "image"  # the build the plan sized (image or pip)
    # every other engine argument the profile sets
    extra_args: dict[str, Any] = field(default_factory=dict)
    explanations: dict[str, str] = field(default_factory=dict)

    @property
    def max_model_len_arg(self) -> int | str:
        """--max-model-len as the artifacts pass it: auto stays auto (the server fits it)."""
        return "auto" if self.max_model_len_auto else self.max_model_len


@record
class Recommendation(Record):
    """A setting to change, with why."""

    key: str
    value: Any
    reason: str


Range = tuple[float, float]


@record
class LatencyFigure(Record):
    """One latency of the step-level model at p50 and p90, each a (fast, slow) range."""

    p50_ms: Range
    p90_ms: Range
    width: str  # what drives the width of the range


@record
class ThroughputFigure(Record):
    """A throughput of the step-level model, (slow, fast), for the deployment (every
    data-parallel engine) and per GPU."""

    deployment: Range
    per_gpu: Range
    width: str  # what drives the width of the range


@record
class SLOStatus(Record):
    """A workload target held against the estimate: met (even at the slow end), at risk (only
    the fast end meets it) or missed (not even the fast end does)."""

    target: str  # profile key, e.g. workload.slo.ttft_p90_ms
    limit: float
    estimate: Range
    status: Literal["met", "at risk", "missed"]


@record
class PerfEstimate(Record):
    """Estimates: ranges, never promises. The step-level figures (ttft ... request_throughput)
    are there when the scheduler model ran: `plan`, or a workload with targets or a rate."""

    decode_toks_per_s_range: tuple[float, float]  # per request
    prefill_toks_per_s_range: tuple[float, float] | None = None
    ttft_ms_range: tuple[float, float] | None = None
    tpot_ms_range: tuple[float, float] | None = None
    # all requests at the workload's concurrency, per instance
    throughput_toks_per_s_range: tuple[float, float] | None = None
    throughput_per_gpu_toks_per_s_range: tuple[float, float] | None = None
    # closed-form: one roofline step at the workload's batch; step-level: the workload through a
    # model of vLLM's continuous-batching scheduler
    model: Literal["closed-form", "step-level"] = "closed-form"
    workload: str | None = None  # what the step-level model ran
    ttft: LatencyFigure | None = None
    tpot: LatencyFigure | None = None
    itl: LatencyFigure | None = None
    e2e: LatencyFigure | None = None
    output_throughput: ThroughputFigure | None = None  # output tok/s
    request_throughput: ThroughputFigure | None = None  # requests/s
    # requests/s the deployment completes when saturated (slow, fast)
    max_request_rate: Range | None = None
    slos: list[SLOStatus] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)


@record
class Artifacts(Record):
    """``plan`` fills serve_command (the line its text prints); ``generate`` writes the rest as
    files, so they stay null here."""

    serve_command: str | None = None  # `vllm serve ...` as one shell line
    docker_command: str | None = None
    docker_compose: str | None = None
    k8s_manifest: str | None = None
    helm_values: str | None = None
    report_md: str | None = None
    bench_command: str | None = None


@record
class ModelSummary(Record):
    """The model the plan sized, as its metadata describe it."""

    model_id: str
    source: str
    architecture: str
    param_count: int
    num_layers: int
    dtype: str
    quantization: str | None


@record
class PlanResponse(Record):
    """Everything one plan returns; ``plan --json`` writes it."""

    schema_version: Literal[1] = 1  # of this JSON; bumped on breaking changes
    model: ModelSummary
    feasibility: FeasibilityReport
    config: VLLMConfig
    performance: PerfEstimate
    recommendations: list[Recommendation] = field(default_factory=list)
    artifacts: Artifacts = field(default_factory=Artifacts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready and RFC-valid: a figure that overflowed to inf or nan is null, never the
        ``Infinity`` that json.dumps would write."""
        data: dict[str, Any] = json.loads(record_json(self, indent=None))
        return data

    def model_dump_json_pretty(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)
