"""Roofline performance estimates: labelled estimates with a range, never measurements.

Decode: each step runs three kinds of kernels one after another, each at its own roofline: the
linear layers stream every rank's weights - for MoE only the experts the batch routes to, E x (1 -
(1 - k/E)^B) of E, counted in the experts' own storage bytes - unless their FLOPs take longer;
attention reads the KV cache of every running request unless its FLOPs take longer; recurrent
layers read and write each request's state; the memory-bound kernels between the matmuls (the
norms, SiLU-and-mul, the fused-MoE call's moe_sum) move every token's activations; the LM head
multiplies only the rows a step samples. Tensor parallel adds two all-reduces per layer (over
NVLink vLLM's custom all-reduce as measured by TP size and message, elsewhere a fixed latency plus
the bytes over the link). Pipeline parallel splits the batch into one micro-batch per stage: a
request still passes every stage for each token, so throughput is the batch over that cycle
(Little's law) and never gains from stages left without a micro-batch. Prefill: 2 FLOPs per active
parameter per token plus causal attention at tensor-core peak (an MoE model's routed experts, where
vLLM's fused-MoE Triton kernel runs them, at that kernel's measured rate where it is lower), or one
read of the weights per max_num_batched_tokens chunk when that is slower. Fixed costs per GPU
family (checker/data/perf_constants.yaml): the CPU work of each engine step and of each request it
schedules, the host's time launching each layer of a step that is not one whole CUDA graph
(piecewise or eager), the GPU time lost at each kernel boundary, the request path before the first
token, and the time a fused MoE layer takes beyond its expert bytes (floors that weigh most in
small batches of small models). Without async scheduling the engine's CPU work comes before the
step, whose GPU work overlaps its launching; with it, the CPU work and launching of the next step
overlap this step's GPU work. Range: the share of peak bandwidth reached (bandwidth_words: where
the family's loss at each kernel boundary is measured, weights stream at the boundary-free rate
and each boundary adds its loss; else 50-80 %, which holds them), the share of the tensor-core peak
the GPU family's kernels reach (perf_constants.yaml compute_efficiency), and both ends of each
fixed cost. Each range says which of these sources drive its width, and how much (Ends,
width_drivers): every source moved alone to its slow end on a representative step.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

from checker.planning.engine.releases import release
from checker.planning.engine.settings import async_scheduling
from checker.planning.kvcache.kv import (
    holds_whole_requests,
    resident_bytes_for_length,
    windowed_chunk_bytes,
)
from checker.planning.memo import ByIdentity
from checker.planning.memory.memory import StageMemory
from checker.planning.memory.weights import own_indexer_layers, stage_layers, stage_weight_bytes
from checker.planning.performance.batching import StepLoad
from checker.planning.rules.base import RuleContext, per_plan, per_plan_at
from checker.planning.rules.scheduler import effective_max_num_seqs
from checker.schemas.enums import Interconnect
from checker.schemas.gpu import GPUSpec
from checker.schemas.model_info import LayerKind, ModelInfo
from checker.schemas.outputs import PerfEstimate
from checker.schemas.yaml_source import bundled_data

EFFICIENCY = (0.5, 0.8)  # share of peak bandwidth: (pessimistic, optimistic)
# Fixed cost of one small all-reduce off NVLink, seconds (pessimistic, optimistic); estimates.
# NVLink's is measured by TP size and message (perf_constants.yaml allreduce_nvlink_us).
ALLREDUCE_LATENCY = {
    Interconnect.INFINITY_FABRIC: (12e-6, 6e-6),
    Interconnect.PCIE: (30e-6, 15e-6),
    Interconnect.UNKNOWN: (30e-6, 15e-6),
}
PCIE_GBS = 25.0  # PCIe 4.0 x16, one direction, what NCCL reaches
STAGE_HANDOFF_S = 20e-6  # pipeline stage to stage send, per step
_FP8_METHODS = {"fp8", "fbgemm_fp8", "ptpc_fp8", "modelopt"}
# Checkpoints whose routed experts run vLLM's fused-MoE Triton kernel (fused_moe.py
# fused_experts): unquantized ones (UnquantizedFusedMoEMethod) and fp8 ones (Fp8MoEMethod).
_FUSED_MOE_METHODS = {None, "fp8"}
# Largest batch vLLM captures in a CUDA graph by default (config/compilation.py
# CompilationConfig max_cudagraph_capture_size = 512): bigger steps run eagerly.
_GRAPH_TOKENS = 512


class Ends(NamedTuple):
    """Which end of the range (0 pessimistic, 1 optimistic) each source of a range's width
    takes: the share of peak memory bandwidth reached, the share of the tensor-core peak (and
    the fused-MoE kernel's measured rate), the GPU family's fixed costs (engine CPU, host
    launching, fused-MoE floor, the request path), the all-reduce's latency and the sampler's
    time; the loss at each kernel boundary goes with the bandwidth. An estimate's two ends
    take one end for every source; mixing them says how much of the width each source drives
    (width_drivers)."""

    bandwidth: int
    compute: int
    fixed: int
    link: int
    sampler: int


End = int | Ends


def at(end: End, source: str) -> int:
    """The end ``source`` (an Ends field) takes."""
    return end if isinstance(end, int) else int(getattr(end, source))


class FixedCosts(NamedTuple):
    """One end (pessimistic or optimistic) of a GPU family's fixed costs, in seconds."""

    host_layer_s: tuple[float, float]  # per layer, piecewise and eager steps (not whole graphs)
    decode_step_s: float
    request_s: float
    kernels_per_layer: float
    moe_layer_s: float  # a fused MoE layer's time beyond its expert bytes (0: not measured)
    step_request_s: float  # engine CPU per request a step schedules, beside decode_step_s
    graph_kernel_s: float  # GPU time lost per kernel boundary inside a CUDA graph (0: unknown)
    mlp_kernels: int  # of kernels_per_layer, the dense MLP's (a fused MoE call replaces them)
    router_kernels: float  # an MoE layer's kernels outside the fused MoE call
    shared_expert_kernels: float  # a shared expert's, beside the routed experts
    mla_kernels: float  # an MLA attention block's beyond a Llama one's
    fused_moe_flops: float  # the fused-MoE kernel's measured rate at prefill sizes (0: none)
    weight_stream: float  # share of peak bandwidth weights stream at between boundaries (0: -)


def _constants() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("perf_constants.yaml")
    return data


def chat_template_parse_s(model: ModelInfo, version: str, end: int) -> float:
    """API-server CPU a chat request spends parsing ``model``'s chat template, at one end of
    the range: only in the releases that parse it per request (perf_constants.yaml
    chat_template_parse_ms), never for a model whose chat requests skip the HF template."""
    data = _constants()
    window = data["chat_template_parse_releases"]
    if model.model_type in data["chat_template_free_model_types"]:
        return 0.0
    if not release(window["from"]) <= release(version) < release(window["until"]):
        return 0.0
    ms: float = data["chat_template_parse_ms"][end]
    return ms * 1e-3


def rate_span_fixed(version: str) -> bool:
    """Whether `vllm bench serve` of ``version`` sends a rate's prompts over exactly
    prompts / rate seconds rather than a random span (perf_constants.yaml
    bench_rate_span_fixed_from)."""
    return release(version) >= release(_constants()["bench_rate_span_fixed_from"])


def gpu_family(gpu: GPUSpec) -> str:
    """The perf_constants.yaml family of ``gpu``, from its vendor and compute capability."""
    if gpu.vendor == "amd":
        return "amd_cdna"
    cap = gpu.capability
    if cap < 80:
        return "volta_turing"
    if cap < 89:
        return "ampere"
    return "ada" if cap == 89 else ("hopper" if cap < 100 else "blackwell")


def fixed_costs(gpu: GPUSpec, end: End) -> FixedCosts:
    return _family_costs(gpu_family(gpu), at(end, "fixed"))


@functools.cache  # pure: a few families x two ends, asked several times by every estimate
def _family_costs(name: str, end: int) -> FixedCosts:
    data = _constants()
    family = data["families"][name]
    floor, gap = family["moe_layer_floor_us"], family["graph_kernel_gap_us"]
    stream = family["weight_stream_efficiency"]
    moe_rate = (family["fused_moe_tflops"] or [None, None])[end]
    return FixedCosts(
        host_layer_s=(
            data["host_layer_us"]["piecewise"][end] * 1e-6,
            data["host_layer_us"]["eager"][end] * 1e-6,
        ),
        decode_step_s=family["decode_step_ms"][end] * 1e-3,
        request_s=family["request_ms"][end] * 1e-3,
        kernels_per_layer=data["kernels_per_layer"][end],
        moe_layer_s=0.0 if floor is None else floor[end] * 1e-6,
        step_request_s=data["scheduler_request_us"][end] * 1e-6,
        graph_kernel_s=0.0 if gap is None else gap[end] * 1e-6,
        mlp_kernels=data["mlp_kernels_per_layer"],
        router_kernels=data["layer_kernels"]["moe_router"][end],
        shared_expert_kernels=data["layer_kernels"]["shared_expert"][end],
        mla_kernels=data["layer_kernels"]["mla"][end],
        fused_moe_flops=0.0 if moe_rate is None else moe_rate * 1e12,
        weight_stream=0.0 if stream is None else stream[end],
    )


class SamplerCost(NamedTuple):
    """The top-k/top-p sampler of one plan's steps (perf_constants.yaml top_k_top_p_sampler):
    with the Triton kernel (``triton``), from ``min_rows`` sampled rows up, one ``pass_s`` per
    ``sms`` rows; below ``min_rows`` the torch sort path, ``torch_s`` a step. Around it, on
    every path, the random draw's kernels: ``draw_s`` seconds at the sampled row counts
    ``draw_rows``."""

    min_rows: int
    sms: int
    pass_s: float
    torch_s: float
    triton: bool
    draw_rows: tuple[int, ...] = ()
    draw_s: tuple[float, ...] = ()

    def random_draw_s(self, rows: int) -> float:
        """The fp32 copy, temperature, softmax, exponential draw, division and argmax over
        ``rows`` sampled rows: the measured times interpolated, the first below the first
        count (the softmax's one block per row keeps a few rows' time flat), the last
        segment's slope past the last (each row adds its vocabulary's bytes)."""
        counts, times = self.draw_rows, self.draw_s
        if not counts or rows <= 0:
            return 0.0
        if rows <= counts[0]:
            return times[0]
        i = min(bisect.bisect_left(counts, rows), len(counts) - 1)
        slope = (times[i] - times[i - 1]) / (counts[i] - counts[i - 1])
        return times[i] + (rows - counts[i]) * slope


def top_k_top_p_cost(ctx: RuleContext, end: End) -> SamplerCost | None:
    """What the top-k/top-p sampler costs this plan's steps at one end of the range, or None
    where it does not run or is not measured: it runs where the bench recipe leaves sampling to
    the server and the model's generation defaults set top-k or top-p, and is measured for some
    GPU families; the Triton kernel from its release on, the torch sort before it."""
    data = _constants()["top_k_top_p_sampler"]
    version = release(ctx.settings.facts.version)
    if version < release(data["bench_sends_no_sampling_from"]):
        return None
    if not ctx.model.model_id.startswith(tuple(data["model_prefixes"])):
        return None
    family = data["families"].get(gpu_family(ctx.gpu))
    if family is None:
        return None
    end = at(end, "sampler")
    scale = ctx.model.vocab_size / data["reference_vocab"]
    draw = family["draw_us"]
    return SamplerCost(
        data["triton_min_rows"],
        family["sms"],
        family["row_us"][end] * 1e-6 * scale,
        family["torch_us"][end] * 1e-6 * scale,
        triton=version >= release(data["triton_from"]),
        draw_rows=tuple(draw["rows"]),
        draw_s=tuple(us * 1e-6 * scale for us in draw["us"][end]),
    )


def sampler_s(cost: SamplerCost | None, rows: int) -> float:
    """GPU seconds the sampler adds to a step that samples ``rows`` rows, its random draw
    (SamplerCost.random_draw_s) and the top-k/top-p masking: the Triton kernel's programs (one
    per SM) walk whole rows, so the rows take ceil(rows / SMs) passes; below its threshold,
    and for every step before it, the torch path sorts each row's vocabulary, one block per
    row, so a step takes the same time whatever its few rows. Before the kernel, 8 rows or
    more take at least the few rows' sort (a step sampling more rows is never cheaper; not
    measured there, so no more is added)."""
    if cost is None or rows <= 0:
        return 0.0
    if rows < cost.min_rows or not cost.triton:
        return cost.torch_s + cost.random_draw_s(rows)
    return math.ceil(rows / cost.sms) * cost.pass_s + cost.random_draw_s(rows)


def _with_sampler(stages: list[tuple[float, float]], extra_s: float) -> list[tuple[float, float]]:
    """The stages' (GPU, host) seconds with the sampler's ``extra_s`` on the last stage, the
    one that computes the logits."""
    gpu, host = stages[-1]
    return [*stages[:-1], (gpu + extra_s, host)]


def overlaps_cpu(ctx: RuleContext) -> bool:
    """Whether the engine schedules the next step while the GPU runs this one (async
    scheduling): as asked, else vLLM's default for the release, executor and pipeline
    (perf_constants.yaml async_scheduling)."""
    if ctx.request.engine.async_scheduling is None:
        window, version = _constants()["async_scheduling"], release(ctx.settings.facts.version)
        if version < release(window["default_from"]):
            return False
        if ctx.settings.pp > 1 and version < release(window["pipeline_parallel_from"]):
            return False
    return async_scheduling(ctx.request)


def _step_s(stages: list[tuple[float, float]], micro: int, cpu_s: float, overlapped: bool) -> float:
    """A step's time from each pipeline stage's (GPU work, host launching) and the engine's
    CPU work: the GPU passes a micro-batch through every stage, or the busiest stage takes its
    turn over all micro-batches when that is longer. Without async scheduling the CPU work
    comes first and each stage's GPU work overlaps its own launching; with it, the CPU work
    and launching of the next step run while the GPU works on this one (each stage's rank
    launches its own layers)."""
    handoffs = (len(stages) - 1) * STAGE_HANDOFF_S

    def timeline(parts: list[float]) -> float:
        return max(sum(parts) + handoffs, micro * max(parts))

    if overlapped:
        return max(timeline([gpu for gpu, _ in stages]), cpu_s + max(h for _, h in stages))
    return timeline([max(gpu, host) for gpu, host in stages]) + cpu_s


def whole_graph_decode(ctx: RuleContext) -> bool:
    """Whether the release captures a decode-only step in one full CUDA graph (0.11.0's
    FULL_AND_PIECEWISE) rather than in pieces around eagerly launched attention (PIECEWISE)."""
    return release(ctx.settings.facts.version) >= release(_constants()["full_decode_graph_from"])


def stage_kernels(ctx: RuleContext, moe_layers: int, gaps: FixedCosts) -> float:
    """Kernels a pipeline stage of ``ctx``'s model launches in a decode step: a Llama-like
    layer's, less a fused-MoE layer's dense MLP (its floor holds the fused call's), plus an
    MoE layer's router, a shared expert's and an MLA attention block's own
    (perf_constants.yaml layer_kernels)."""
    model = ctx.model
    layers = model.num_hidden_layers / ctx.settings.pp
    kernels = layers * gaps.kernels_per_layer
    kernels += moe_layers * (gaps.router_kernels - gaps.mlp_kernels)
    if model.params.shared_expert_linear:
        kernels += moe_layers * gaps.shared_expert_kernels
    if LayerKind.MLA in model.kinds_present:
        kernels += layers * gaps.mla_kernels
    return kernels


def _with_kernels(
    fixed: FixedCosts,
    gaps: FixedCosts,
    gpu_s: float,
    layers: float,
    kernels: float,
    tokens: float,
    whole: bool,
) -> tuple[float, float]:
    """A stage's (GPU time, host time): its kernels' work plus the GPU's loss at each of its
    ``kernels`` boundaries (stage_kernels), and the host's time
    launching its layers where the step is not one whole CUDA graph - eager above the largest
    captured size, else piecewise unless ``whole`` (a decode-only step the release captures
    whole)."""
    # the boundaries' loss takes the bandwidth end: it is the other half of how fast the
    # weights stream between them (weight_bandwidth)
    gpu_s += kernels * gaps.graph_kernel_s
    if tokens > _GRAPH_TOKENS:
        return gpu_s, layers * fixed.host_layer_s[1]
    return gpu_s, 0.0 if whole else layers * fixed.host_layer_s[0]


@per_plan
def stage_moe_layers(ctx: RuleContext) -> tuple[int, ...]:
    """Layers with routed experts in each pipeline stage (every layer of an MoE model whose
    config marks none)."""
    model = ctx.model
    if not model.is_moe:
        return (0,) * ctx.settings.pp
    stages = stage_layers(model.num_hidden_layers, ctx.settings.pp)
    if not model.moe_layers:
        return tuple(len(layers) for layers in stages)
    sums = model.moe_layer_sums
    return tuple(sums[layers.stop] - sums[layers.start] for layers in stages)


def _interconnect(ctx: RuleContext) -> Interconnect:
    chosen = ctx.settings.interconnect  # the profile's, or PCIe for a GPU without NVLink
    return ctx.gpu.interconnect if chosen is Interconnect.UNKNOWN else chosen


def _allreduce_s(ctx: RuleContext, nbytes: float, ends: End) -> float:
    """One all-reduce of ``nbytes`` across the TP group (0 without TP): over NVLink the
    measured latency at the TP size and message (nvlink_allreduce_s), elsewhere a fixed
    latency plus a ring's bytes over the link."""
    tp = ctx.settings.tp
    if tp == 1:
        return 0.0
    end = at(ends, "link")
    link, link_gbs = _interconnect(ctx), ctx.gpu.nvlink_bandwidth_gbs
    if link is Interconnect.NVLINK:  # the measured link's bandwidth where the catalog has none
        return nvlink_allreduce_s(tp, nbytes, link_gbs or _allreduce_row(tp, end)[2], end)
    gbs = link_gbs / 2 if link is Interconnect.INFINITY_FABRIC and link_gbs else PCIE_GBS
    return ALLREDUCE_LATENCY[link][end] + _ring_s(tp, nbytes, gbs)


def _ring_s(tp: int, nbytes: float, gbs: float) -> float:
    """A ring all-reduce's transfer time: 2 (tp - 1) / tp of the message over ``gbs`` GB/s."""
    return 2 * (tp - 1) / tp * nbytes / (gbs * 1e9)


# pure: four a plan (decode and prefill at both ends), whose messages a fleet's plans of one
# model at one batch or chunk repeat
@functools.lru_cache(maxsize=4096)
def nvlink_allreduce_s(tp: int, nbytes: float, link_gbs: float, end: int) -> float:
    """vLLM's custom all-reduce of ``nbytes`` over ``tp`` NVLinked GPUs of ``link_gbs`` GB/s,
    at one end of the range (perf_constants.yaml allreduce_nvlink_us): measured on H100s by
    TP size and message, interpolated between both; the part above the lowest latency
    measured scales with the link's bandwidth; a larger message than measured adds its excess
    bytes at the ring rate."""
    sizes, us, reference_gbs = _allreduce_row(tp, end)
    excess = max(0.0, nbytes - sizes[-1])
    nbytes = min(max(nbytes, sizes[0]), sizes[-1])
    i = max(1, bisect.bisect_left(sizes, nbytes))
    share = (nbytes - sizes[i - 1]) / (sizes[i] - sizes[i - 1])
    at = us[i - 1] + share * (us[i] - us[i - 1])
    floor = min(us)  # the flags' round trip, whatever the link's bandwidth
    scaled = floor + (at - floor) * reference_gbs / link_gbs
    latency = scaled * 1e-6
    return latency + _ring_s(tp, excess, link_gbs / 2) if excess else latency


@functools.cache  # pure: asked twice a layer by every step estimate
def _allreduce_row(tp: int, end: int) -> tuple[tuple[int, ...], tuple[float, ...], float]:
    """The measured message sizes, one end's latencies at ``tp`` (a measured TP size's,
    interpolated between two, the largest's above them) and the link they were measured on."""
    data = _constants()["allreduce_nvlink_us"]
    rows = {int(size): row for size, row in data["tp"].items()}  # YAML keys are text
    sizes = sorted(rows)
    tp = min(max(tp, sizes[0]), sizes[-1])
    i = max(1, bisect.bisect_left(sizes, tp))
    low, high = rows[sizes[i - 1]][end], rows[sizes[i]][end]
    share = (tp - sizes[i - 1]) / (sizes[i] - sizes[i - 1])
    row = tuple(a + share * (b - a) for a, b in zip(low, high, strict=True))
    return tuple(data["bytes"]), row, float(data["reference_link_gbs"])


def experts_touched(model: ModelInfo, batch: int) -> float:
    """Expected share of routed experts a decode step of ``batch`` requests reads."""
    if not model.is_moe or not model.num_experts:
        return 1.0
    return 1 - (1 - model.num_experts_per_tok / model.num_experts) ** batch


def pair_flops(model: ModelInfo) -> tuple[float, float]:
    """FLOPs of one (query token, key token) pair per query head and attending layer, for a
    decoding token and for a prompt token: Q.K and P.V over the head dimension (4 x head_dim).
    MLA runs two forms (vLLM v1/attention/backends/mla/common.py MLACommonImpl.forward): a
    decode token's query is absorbed into the latent (torch.bmm with W_UK_T) and attends over
    the cached latent itself, Q.K over kv_lora_rank + qk_rope_head_dim and P.V over
    kv_lora_rank (FlashMLA and the other decode kernels); a prompt token's keys and values are
    up-projected (kv_b_proj) and attend at qk_nope_head_dim + qk_rope_head_dim and v_head_dim
    (_forward_prefill, flash_attn_varlen). The config's head_dim (hidden / heads where it has
    none) is neither. Sparse MLA (an indexer: DeepSeek-V3.2) absorbs every token's query,
    prompt tokens' too (v1/attention/backends/mla/flashmla_sparse.py FlashMLASparseImpl.forward:
    torch.bmm with W_UK_T before the sparse FlashMLA kernels)."""
    if LayerKind.MLA in model.kinds_present and model.kv_lora_rank and model.qk_rope_head_dim:
        latent, rope = model.kv_lora_rank, model.qk_rope_head_dim
        nope, value = model.qk_nope_head_dim or 0, model.v_head_dim or 0
        absorbed = 2 * (latent + rope) + 2 * latent
        return absorbed, absorbed if model.index_topk else 2 * (nope + rope) + 2 * value
    return 4 * model.head_dim, 4 * model.head_dim


class SparseIndexer(NamedTuple):
    """A sparse-MLA model's lightning indexer in one pipeline stage, on every rank: it scores
    each query against every earlier key and the attention then reads only the ``topk`` best
    (vLLM models/deepseek_v2.py Indexer and sparse_attn_indexer, 0.13.0). Its projections are
    ReplicatedLinear ("no tensor parallel, just replicated"), so every TP rank computes all
    index_n_heads x index_head_dim of each score, 2 x that many FLOPs a (query, key) pair and
    layer, in fp8 (DeepGEMM fp8_mqa_logits / fp8_paged_mqa_logits), and reads the whole
    indexer key cache (``key_bytes`` a token over the stage's layers)."""

    topk: int
    pair_flops: float  # per (query, key) pair over the stage's layers
    key_bytes: float  # indexer key cache per token over the stage's layers


def sparse_indexer(ctx: RuleContext, stage_layers: float) -> SparseIndexer | None:
    """The indexer of a stage of ``stage_layers`` attending layers, or None (dense
    attention). Layers that reuse a preceding layer's top-k (0.33's GLM-5.2) score nothing and
    hold no indexer keys, but their attention reads the top-k all the same."""
    model = ctx.model
    if not model.index_topk or not model.index_heads:
        return None
    own = own_indexer_layers(model, ctx.settings.facts.version)
    scoring = stage_layers * sum(own) / len(own)
    return SparseIndexer(
        model.index_topk,
        scoring * 2 * model.index_heads * model.index_head_dim,
        scoring * model.indexer_token_bytes,
    )


class Rates(NamedTuple):
    """What a step estimate reads at one end of the range: every stage of a decode step, the
    prefill and each step of the scheduler model read the same, so a plan makes them once per
    end (rates)."""

    bandwidth: float  # bytes/s the KV cache, states and activations move at (EFFICIENCY)
    weight_bandwidth: float  # bytes/s the linear layers stream their weights at
    flops: float  # FLOPS a step's matmuls run at
    fp8_flops: float  # FLOPS of an fp8 kernel (the indexer's scores): fp8 tensor cores if any
    fixed: FixedCosts  # the GPU family's fixed costs, at the fixed end
    gaps: FixedCosts  # at the bandwidth end: the loss at each kernel boundary goes with it
    linear_token_s: float  # seconds of the linear layers' matmuls a token (linear_token_s)
    head_row_s: float  # seconds of the LM head a sampled row (head_row_s)
    activation_bytes: float  # a token's (activation_bytes), the fused-MoE call's if unpriced
    sampler: SamplerCost | None  # the top-k/top-p sampler's (top_k_top_p_cost)


class _ModelRates(NamedTuple):
    """Rates' first eight fields, which a model has at one end on one kind of GPU and
    quantization whatever the plan, and whether the fused-MoE kernel's measured rate, below
    the dense one, prices the fused-MoE call's traffic."""

    bandwidth: float
    weight_bandwidth: float
    flops: float
    fp8_flops: float
    fixed: FixedCosts
    gaps: FixedCosts
    linear_token_s: float
    head_row_s: float
    moe_priced: bool


# per model (by identity), GPU figures, quantization and end: a fleet's plans of one model on
# one kind of GPU share them, whatever their TP, dtype or release
_MODEL_RATES: ByIdentity[_ModelRates] = ByIdentity(maxsize=1024)


@per_plan_at  # both ends, for every stage of decode and prefill and every step simulated
def rates(ctx: RuleContext, end: End) -> Rates:
    """The plan's Rates at one end (an Ends takes each source's own)."""
    gpu = ctx.gpu
    key = (
        gpu.vendor,
        gpu.compute_capability,
        gpu.memory_bandwidth_gbs,
        gpu.fp16_tflops,
        gpu.fp8_tflops,
        gpu.int8_tops,
        ctx.settings.quantization,
        end,
    )
    shared = _MODEL_RATES.get(ctx.model, key, lambda: _model_rates(ctx, end))
    without, with_moe = activation_bytes(ctx)
    return Rates(
        *shared[:8],
        # the fused-MoE call's traffic unless its measured rate already prices it
        activation_bytes=without if shared.moe_priced else with_moe,
        sampler=top_k_top_p_cost(ctx, end),
    )


def _model_rates(ctx: RuleContext, end: End) -> _ModelRates:
    gpu, family = ctx.gpu, gpu_family(ctx.gpu)
    slow_bandwidth, efficiency = at(end, "bandwidth"), compute_efficiency(family, end)
    flops = _peak_flops(ctx) * efficiency
    gaps = _family_costs(family, slow_bandwidth)
    measured = fused_moe_flops(ctx, end)
    return _ModelRates(
        bandwidth=gpu.memory_bandwidth_gbs * 1e9 * EFFICIENCY[slow_bandwidth],
        weight_bandwidth=weight_bandwidth(gpu, gaps, slow_bandwidth),
        flops=flops,
        fp8_flops=(gpu.fp8_tflops or gpu.fp16_tflops) * 1e12 * efficiency,
        fixed=_family_costs(family, at(end, "fixed")),
        gaps=gaps,
        linear_token_s=linear_token_s(ctx.model, flops, measured),
        head_row_s=head_row_s(ctx.model, flops),
        moe_priced=bool(measured and measured < flops),
    )


def _active_params(model: ModelInfo, batch: int) -> float:
    """Parameters of the decoder body a step multiplies each token with (per token: k experts;
    bytes read: ``batch``): neither the embedding table nor the LM head (head_row_s)."""
    unused = model.params.expert_linear * (1 - experts_touched(model, batch))
    return model.param_count - model.params.embedding - model.params.lm_head - unused


def head_row_s(model: ModelInfo, flops: float) -> float:
    """Seconds the LM head's matmul takes per sampled row on one GPU of a TP x PP group
    (before the split) at ``flops``: vLLM computes logits only at the rows it samples, one per
    scheduled request (v1/worker/gpu_model_runner.py GPUModelRunner.execute_model:
    compute_logits on hidden_states[logits_indices], 0.11.0), not at every prompt token; a
    tied head multiplies with the embedding table all the same."""
    return 2 * model.vocab_size * model.hidden_size / flops


def _peak_flops(ctx: RuleContext) -> float:
    """The tensor-core rate the step's matmuls run at: fp8 only where the GPU has fp8 tensor
    cores (else vLLM runs fp8 weight-only through FP8 Marlin at the fp16 rate), int8 for
    other 8-bit-activation formats."""
    gpu, quant, method = ctx.gpu, ctx.model.quant, ctx.settings.quantization
    if method in _FP8_METHODS:
        fp8_cores = gpu.capability >= _constants()["fp8_compute_min_capability"]
        return ((gpu.fp8_tflops if fp8_cores else None) or gpu.fp16_tflops) * 1e12
    if quant is not None and quant.activation_bits == 8:
        return (gpu.int8_tops or gpu.fp16_tflops) * 1e12
    return gpu.fp16_tflops * 1e12


def compute_efficiency(family: str, end: End) -> float:
    """Share of the tensor-core peak vLLM's kernels reach on a GPU ``family`` at one end."""
    share: float = _constants()["families"][family]["compute_efficiency"][at(end, "compute")]
    return share


def linear_token_s(model: ModelInfo, flops: float, measured: float) -> float:
    """Seconds the linear layers' matmuls take per token on one GPU of a TP x PP group
    (before the split): the dense weights at the step's ``flops``, an MoE model's routed
    experts (k of E per token) at the fused-MoE Triton kernel's ``measured`` rate where that is
    lower and the checkpoint's experts run that kernel (fused_moe_flops; 0: they do not)."""
    experts = 0.0
    if model.is_moe and model.num_experts:
        experts = model.params.expert_linear * model.num_experts_per_tok / model.num_experts
    moe_flops = min(flops, measured) if measured else flops
    return 2 * (_active_params(model, 1) - experts) / flops + 2 * experts / moe_flops


@per_plan  # every step estimate reads it, at both ends
def activation_bytes(ctx: RuleContext) -> tuple[float, float]:
    """Bytes the memory-bound kernels between a layer's matmuls move per token on one rank,
    over the model's layers (split over the pipeline stages), as (the fused-MoE call's own
    excluded, included): two fused add+RMSNorms a layer, each reading the hidden state and the
    residual and writing both (8 x hidden); the dense MLP's SiLU-and-mul, reading the gate_up
    output and writing half of it (3 x its intermediate share), and a shared expert's alike;
    inside a fused-MoE call (fused_moe.py fused_experts_impl, 0.11.0) the SiLU-and-mul of each
    of the k routed experts' gate_up outputs (intermediate_cache1 -> cache2) and moe_sum, which
    reads the k expert outputs (intermediate_cache3, M x k x hidden under TP: every rank
    computes a share of all k) and writes the hidden state. Matmuls' own inputs and outputs are
    left to their kernels, which overlap them with their math. Where a measured fused-MoE rate
    prices the routed experts (fused_moe_flops), that measurement holds the call's traffic."""
    model, s = ctx.model, ctx.settings
    h, layers = model.hidden_size, model.num_hidden_layers
    moe = sum(stage_moe_layers(ctx))
    elements = layers * 8 * h + (layers - moe) * 3 * model.intermediate_size / s.tp
    routed = 0.0
    if moe:
        shared = model.params.shared_expert_linear / (moe * 3 * h)  # its intermediate size
        elements += moe * 3 * shared / s.tp
        k = model.num_experts_per_tok
        local = k if not s.expert_parallel else k / s.moe_shards  # experts a token meets here
        routed = moe * (k * 3 * model.moe_intermediate_size / s.moe_shards + (local + 1) * h)
    scale = s.dtype_bytes / s.pp
    return elements * scale, (elements + routed) * scale


def fused_moe_flops(ctx: RuleContext, end: End) -> float:
    """The fused-MoE Triton kernel's measured rate at prefill sizes on this GPU family, at
    one end, for an MoE model whose experts run it; 0 where it does not or none is measured
    (another kernel - MXFP4, Marlin - runs them)."""
    if not ctx.model.is_moe or ctx.settings.quantization not in _FUSED_MOE_METHODS:
        return 0.0
    # a matmul rate: it takes the compute end, not the fixed costs
    return _family_costs(gpu_family(ctx.gpu), at(end, "compute")).fused_moe_flops


def kv_pool_tokens(ctx: RuleContext, length: int) -> int:
    """Tokens of ``length``-token requests the KV pool holds at once. For full-attention
    layouts that is the logged token figure; with sliding-window or state groups a running
    request holds blocks for its window or state only (kv.resident_bytes_for_length) while the
    step's prefill chunks take a token budget of window blocks beside them
    (kv.windowed_chunk_bytes), so it is the budget left over that, in requests x ``length`` -
    a fraction of a request too: the scheduler allocates a prompt chunk by chunk, so a second
    long prompt starts while the first decodes. The logged figure is blocks / groups x block
    size through vLLM 0.20 and concurrency x max_model_len from 0.21, neither of which is
    that."""
    b = ctx.memory.binding
    if holds_whole_requests(b.kv.layout) or b.kv_budget <= 0:
        return b.kv.tokens
    model, s, layout = ctx.model, ctx.settings, b.kv.layout
    per_request = resident_bytes_for_length(model, s, layout, length)
    if per_request <= 0:
        return b.kv.tokens
    held = (b.kv_budget - windowed_chunk_bytes(model, s, layout)) / per_request
    if b.kv_budget >= per_request:
        held = max(held, 1.0)  # one request with its chunks in flight passed check_enough_kv
    return int(held * length)


def decode_batch(ctx: RuleContext) -> int:
    """Requests decoding together: the workload's concurrency, within max_num_seqs and what
    the KV cache holds at the workload's length."""
    work = ctx.request.workload
    length = work.prompt_tokens + work.gen_tokens
    held = kv_pool_tokens(ctx, length) // length
    wanted = ctx.settings.per_engine(work.concurrency)
    return max(1, min(wanted, effective_max_num_seqs(ctx), held or 1))


def _expert_bytes(ctx: RuleContext, stage: int) -> float:
    """Routed-expert bytes one rank of ``stage`` holds, in their storage format (MXFP4
    experts beside bf16 attention weigh far less than their parameter share)."""
    return _stage_expert_bytes(ctx)[stage]


@per_plan  # every step estimate (and the SLO searches' many) reads them
def _stage_expert_bytes(ctx: RuleContext) -> tuple[float, ...]:
    model, s = ctx.model, ctx.settings
    if not model.is_moe:
        return (0.0,) * s.pp
    without = _without_experts(model)
    return tuple(
        stage_weight_bytes(model, s, i) - stage_weight_bytes(without, s, i) for i in range(s.pp)
    )


# per model (by identity: its hash walks every field): the same copy for every plan of a
# fleet's model, so the stage weights shared per model (memory/weights.py) are its too
_WITHOUT_EXPERTS: ByIdentity[ModelInfo] = ByIdentity(maxsize=256)


def _without_experts(model: ModelInfo) -> ModelInfo:
    """``model`` without its routed-expert weights."""
    return _WITHOUT_EXPERTS.get(
        model,
        None,
        lambda: model.model_copy(
            update={"params": model.params.model_copy(update={"expert_linear": 0})}
        ),
    )


class _DecodeStage(NamedTuple):
    """What one pipeline stage's part of a decode step reads at either end of the range."""

    weights: float  # bytes: the stage's weights less the routed experts no request reads
    kv: float  # bytes of KV cache (and indexer keys) the attention reads
    attention_flops: float
    state: float  # bytes of recurrent state read and written back
    scored: float  # the sparse indexer's FLOPs (0: dense attention)
    moe_layers: int


def _decode_stage(
    ctx: RuleContext, index: int, stage: StageMemory, batch: int, context: int
) -> _DecodeStage:
    """Stage ``index``'s work for one token of each of ``batch`` requests at ``context``."""
    s, model = ctx.settings, ctx.model
    unread = _expert_bytes(ctx, index) * (1 - experts_touched(model, batch))
    attention = model.cache_layer_count * model.num_attention_heads * pair_flops(model)[0]
    indexer = sparse_indexer(ctx, model.cache_layer_count / s.pp)
    keys, scored, key_bytes = context, 0.0, 0.0
    if indexer is not None:  # it scores the whole context; the attention reads top-k keys
        keys = min(context, indexer.topk)
        scored = batch * context * indexer.pair_flops
        key_bytes = batch * (context - keys) * indexer.key_bytes
    return _DecodeStage(
        weights=stage.weights - unread,
        kv=stage.kv.layout.bytes_per_token * keys * batch + key_bytes,
        attention_flops=batch * attention * keys / (s.tp * s.pp),
        state=stage.kv.layout.linear_state_bytes * batch,
        scored=scored,
        moe_layers=stage_moe_layers(ctx)[index],
    )


def bandwidth_words(family: str) -> str:
    """The bandwidth side of the range on a GPU ``family``, as reports say it."""
    return _bandwidth_words(_family_costs(family, 0), _family_costs(family, 1))


# keyed on the costs it formats: every plan's estimate says it, and formatting its six
# figures took more than the rest of the estimate's words
@functools.lru_cache(maxsize=64)
def _bandwidth_words(slow: FixedCosts, fast: FixedCosts) -> str:
    if not slow.weight_stream:
        return f"{EFFICIENCY[0]:.0%}-{EFFICIENCY[1]:.0%} of peak memory bandwidth"
    return (
        f"weights streamed at {slow.weight_stream:.0%}-{fast.weight_stream:.0%} of peak"
        f" bandwidth with {fast.graph_kernel_s * 1e6:g}-{slow.graph_kernel_s * 1e6:g} us lost"
        f" at each kernel boundary, the KV cache read at {EFFICIENCY[0]:.0%}-"
        f"{EFFICIENCY[1]:.0%}"
    )


def weight_bandwidth(gpu: GPUSpec, gaps: FixedCosts, end: int) -> float:
    """Bytes per second the linear layers stream their weights at, at the bandwidth ``end``
    (``gaps``: the family's costs there): where the GPU family's loss at each kernel boundary
    is known (graph_kernel_gap_us), the boundary-free streaming rate
    (weight_stream_efficiency), the boundaries adding their own time; else the share of peak
    bandwidth (EFFICIENCY), which holds them."""
    return gpu.memory_bandwidth_gbs * 1e9 * (gaps.weight_stream or EFFICIENCY[end])


def _kernels_s(
    *,
    weights: float,
    linear_s: float,
    kv: float,
    attention_flops: float,
    state: float,
    bandwidth: float,
    weight_bandwidth: float,
    flops: float,
    activations: float = 0.0,
) -> float:
    """A step's kernels one after another, each at its own roofline: the linear layers read
    the weights and multiply (``linear_s`` of matmuls), the attention kernels read the KV
    cache and multiply, and a recurrent (mamba / linear attention) layer reads its state and
    writes it back. The GPU
    cannot hide one kernel's memory traffic behind another's math, so the terms add."""
    return (
        max(weights / weight_bandwidth, linear_s)
        + max(kv / bandwidth, attention_flops / flops)
        + 2 * state / bandwidth
        + activations / bandwidth
    )


def decode_token_s(ctx: RuleContext, batch: int, context: int) -> tuple[float, float]:
    """Seconds between two tokens of one request (TPOT), at the slow and the fast end.
    Pipeline parallel runs one micro-batch per stage; a request's token takes the pass
    through every stage, or the slowest stage's turn over all micro-batches when that is
    longer. What the ends share (each stage's bytes and FLOPs) is worked out once."""
    s, model = ctx.settings, ctx.model
    micro_batches = min(s.pp, batch)
    micro = math.ceil(batch / micro_batches)
    stages = [_decode_stage(ctx, i, st, micro, context) for i, st in enumerate(ctx.memory.stages)]
    layers = model.num_hidden_layers / s.pp
    reduced = micro * model.hidden_size * s.dtype_bytes  # bytes each all-reduce sums
    overlapped, whole = overlaps_cpu(ctx), whole_graph_decode(ctx)

    def at_end(end: int) -> float:
        r = rates(ctx, end)
        fixed = r.fixed
        comm = 2 * layers * _allreduce_s(ctx, reduced, end)
        linear_s = micro * (r.linear_token_s + r.head_row_s) / (s.tp * s.pp)
        stage_s = [
            _with_kernels(
                fixed,
                r.gaps,
                _kernels_s(
                    weights=st.weights,
                    linear_s=linear_s,
                    kv=st.kv,
                    attention_flops=st.attention_flops,
                    state=st.state,
                    bandwidth=r.bandwidth,
                    weight_bandwidth=r.weight_bandwidth,
                    flops=r.flops,
                    activations=micro * r.activation_bytes,
                )
                + comm
                + (st.scored / r.fp8_flops if st.scored else 0.0)
                + st.moe_layers * fixed.moe_layer_s,
                layers,
                stage_kernels(ctx, st.moe_layers, r.gaps),
                micro,
                whole,
            )
            for st in stages
        ]
        cpu = fixed.decode_step_s + batch * fixed.step_request_s
        stage_s = _with_sampler(stage_s, sampler_s(r.sampler, micro))
        return _step_s(stage_s, micro_batches, cpu, overlapped)

    return at_end(0), at_end(1)


def _prefill_s(ctx: RuleContext) -> tuple[float, float]:
    """Time to first token of one prompt on an idle instance, request path included, at the
    slow and the fast end (what they share worked out once)."""
    s, model = ctx.settings, ctx.model
    prompt = ctx.request.workload.prompt_tokens
    # a causal prompt attends to half its (query, key) pairs; past a sparse indexer, which
    # scores them all on every rank, to at most top-k keys a token
    pairs = prompt * (prompt + 1) / 2
    attention = model.cache_layer_count * model.num_attention_heads * pair_flops(model)[1]
    indexer, scored = sparse_indexer(ctx, model.cache_layer_count), 0.0
    if indexer is not None:
        scored = pairs * indexer.pair_flops
        pairs = min(pairs, prompt * indexer.topk)
    chunks = math.ceil(prompt / s.max_num_batched_tokens)
    weights = sum(stage.weights for stage in ctx.memory.stages)
    chunk = min(prompt, s.max_num_batched_tokens)
    chunk_bytes = chunk * model.hidden_size * s.dtype_bytes
    # prefill chunks run piecewise or eagerly, never as one whole graph: the host's time for
    # their layers bounds them from below
    host_layers, eager = chunks * model.num_hidden_layers, int(chunk > _GRAPH_TOKENS)
    handoffs = (s.pp - 1) * STAGE_HANDOFF_S

    def at_end(end: int) -> float:
        r = rates(ctx, end)
        indexer_s = scored / r.fp8_flops if indexer is not None else 0.0
        linear_s = r.linear_token_s * prompt + r.head_row_s
        activations_s = prompt * r.activation_bytes / r.bandwidth
        compute_s = (linear_s + attention * pairs / r.flops) / s.tp + indexer_s
        compute_s += activations_s
        memory_s = chunks * weights / r.weight_bandwidth
        comm = chunks * 2 * model.num_hidden_layers * _allreduce_s(ctx, chunk_bytes, end)
        fixed = r.fixed
        host = host_layers * fixed.host_layer_s[eager]
        overhead = fixed.request_s + chunks * fixed.decode_step_s
        return max(compute_s, memory_s, host) + comm + handoffs + overhead

    return at_end(0), at_end(1)


def step_cost(ctx: RuleContext, end: End) -> Callable[[StepLoad], float]:
    """Seconds of one engine step of mixed prefill and decode. With pipeline parallel the
    step's requests split into one micro-batch per stage (never more micro-batches than
    requests): the step takes a micro-batch's passage through every stage, or the busiest
    stage's turn over all micro-batches when that is longer - so stages left without a
    micro-batch add latency and no throughput."""
    s, model, r = ctx.settings, ctx.model, rates(ctx, end)
    bandwidth, flops, streaming = r.bandwidth, r.flops, r.weight_bandwidth
    stages = ctx.memory.stages
    pp = len(stages)
    fixed, gaps = r.fixed, r.gaps
    per_stage = [
        (
            st.weights,
            _expert_bytes(ctx, i),
            st.kv.layout.bytes_per_token,
            st.kv.layout.linear_state_bytes,
            stage_moe_layers(ctx)[i],
            stage_kernels(ctx, stage_moe_layers(ctx)[i], gaps),
        )
        for i, st in enumerate(stages)
    ]
    per_token = r.linear_token_s / (s.tp * pp)
    per_row = r.head_row_s / (s.tp * pp)
    per_token_bytes = r.activation_bytes
    heads = model.cache_layer_count * model.num_attention_heads / (s.tp * pp)
    decode_pair, prefill_pair = (heads * flops for flops in pair_flops(model))
    layers = model.num_hidden_layers / pp
    indexer = sparse_indexer(ctx, model.cache_layer_count / pp)
    index_flops = r.fp8_flops
    overlapped, whole = overlaps_cpu(ctx), whole_graph_decode(ctx)
    sampler = r.sampler

    def cost(load: StepLoad) -> float:
        requests = load.decode_requests + load.prefill_requests
        micro = max(1, min(pp, requests))
        tokens = (load.decode_requests + load.prefill_tokens) / micro
        untouched = 1 - experts_touched(model, math.ceil(tokens))
        context = (load.decode_context + load.prefill_context) / micro
        decode_keys, prefill_keys, indexer_s = load.decode_context, load.prefill_attention, 0.0
        latent, key_bytes = context, 0.0  # cached tokens the attention reads, indexer keys
        if indexer is not None:  # the indexer scores every pair; attention reads top-k keys
            indexer_s = (decode_keys + prefill_keys) * indexer.pair_flops / index_flops / micro
            decode_keys = min(decode_keys, load.decode_requests * indexer.topk)
            prefill_keys = min(prefill_keys, load.prefill_tokens * indexer.topk)
            latent = min(context, requests * indexer.topk / micro)
            key_bytes = indexer.key_bytes * (context - latent)
        attention_flops = (decode_keys * decode_pair + prefill_keys * prefill_pair) / micro
        comm = 2 * layers * _allreduce_s(ctx, tokens * model.hidden_size * s.dtype_bytes, end)
        stage_s = [
            _with_kernels(
                fixed,
                gaps,
                _kernels_s(
                    weights=weights - experts * untouched,
                    linear_s=tokens * per_token + requests / micro * per_row,
                    kv=kv * latent + key_bytes,
                    attention_flops=attention_flops,
                    state=state * requests / micro,
                    bandwidth=bandwidth,
                    weight_bandwidth=streaming,
                    flops=flops,
                    activations=tokens * per_token_bytes,
                )
                + comm
                + indexer_s
                + moe_layers * fixed.moe_layer_s,
                layers,
                kernels,
                tokens,
                whole and not load.prefill_requests,
            )
            for weights, experts, kv, state, moe_layers, kernels in per_stage
        ]
        cpu = fixed.decode_step_s + requests * fixed.step_request_s
        # every scheduled request samples a row, a partial prefill's discarded afterwards
        stage_s = _with_sampler(stage_s, sampler_s(sampler, math.ceil(requests / micro)))
        return _step_s(stage_s, micro, cpu, overlapped)

    return cost


_DRIVER_SHARE = 0.05  # sources driving less of a width than this go unnamed


def width_drivers(cost: Callable[[End], float]) -> list[tuple[str, float]]:
    """The sources (Ends fields) that drive the width of the quantity ``cost`` gives at
    mixed ends, largest first, with their share of it: each source alone at its slow end, the
    others at their fast ends, less the quantity with all of them fast, over the sum of those
    (a first-order split: the terms of a step add or take the longer of two, so a source's
    share is what moving it alone moves)."""
    fast = cost(Ends(1, 1, 1, 1, 1))
    moved = {
        source: max(0.0, cost(Ends(*(int(f != source) for f in Ends._fields))) - fast)
        for source in Ends._fields
    }
    total = sum(moved.values())
    if total <= 0:
        return []
    shares = [(source, d / total) for source, d in moved.items() if d / total >= _DRIVER_SHARE]
    return sorted(shares, key=lambda pair: -pair[1])


def decode_drivers(ctx: RuleContext) -> list[tuple[str, float]]:
    """What drives the width of a decode step at the workload's batch and mean context."""
    work = ctx.request.workload
    batch, context = decode_batch(ctx), work.prompt_tokens + work.gen_tokens // 2
    load = StepLoad(batch, batch * context, 0, 0, 0, 0.0)
    return width_drivers(lambda ends: step_cost(ctx, ends)(load))


def first_token_drivers(ctx: RuleContext) -> list[tuple[str, float]]:
    """What drives the width of one prompt's first token on an idle engine: its prefill
    chunks and the API server's request path (a fixed cost)."""
    prompt, budget = ctx.request.workload.prompt_tokens, ctx.settings.max_num_batched_tokens
    chunks = [min(budget, prompt - start) for start in range(0, prompt, budget)]

    def first_token(ends: End) -> float:
        cost, done, total = step_cost(ctx, ends), 0, rates(ctx, ends).fixed.request_s
        for chunk in chunks:
            total += cost(StepLoad(0, 0, chunk, 1, done, chunk * done + chunk * (chunk + 1) / 2))
            done += chunk
        return total

    return width_drivers(first_token)


def closed_form(ctx: RuleContext) -> PerfEstimate:
    """One roofline step at the workload's batch: cheap, for plans that state no targets."""
    s, work = ctx.settings, ctx.request.workload
    batch = decode_batch(ctx)
    context = work.prompt_tokens + work.gen_tokens // 2
    tpot = decode_token_s(ctx, batch, context)  # slow, fast
    ttft = _prefill_s(ctx)
    per_request = [1 / t for t in tpot]
    # Little's law: ``batch`` requests in flight per engine, each one token per TPOT; every
    # data-parallel engine decodes its own batch
    instance = [s.dp * batch * r for r in per_request]
    gpus, family = s.gpus_needed, gpu_family(ctx.gpu)
    return PerfEstimate(
        decode_toks_per_s_range=(round(per_request[0], 1), round(per_request[1], 1)),
        prefill_toks_per_s_range=(
            round(work.prompt_tokens / ttft[0]),
            round(work.prompt_tokens / ttft[1]),
        ),
        ttft_ms_range=(round(ttft[1] * 1000, 1), round(ttft[0] * 1000, 1)),
        tpot_ms_range=(round(tpot[1] * 1000, 2), round(tpot[0] * 1000, 2)),
        throughput_toks_per_s_range=(round(instance[0]), round(instance[1])),
        throughput_per_gpu_toks_per_s_range=(round(instance[0] / gpus), round(instance[1] / gpus)),
        assumptions=[
            f"estimates, not measurements: {bandwidth_words(family)},"
            f" {compute_efficiency(family, 0):.0%}-{compute_efficiency(family, 1):.0%}"
            f" of peak FLOPS ({family} kernels)",
            f"decode batch of {batch} requests at ~{context} tokens of context each",
            f"tensor parallel {s.tp} over {_interconnect(ctx).value}: two all-reduces per layer",
            "TPOT is the inter-token latency (ITL) of a request while the batch decodes",
            *(
                [f"data parallel {s.dp}: requests spread evenly over the engines"]
                if s.dp > 1
                else []
            ),
            "time to first token of one prompt on an idle instance: no queueing; fixed request,"
            f" step and host costs of the {family} family included",
        ],
    )
