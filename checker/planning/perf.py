"""Roofline performance estimates: labelled estimates with a range, never measurements.

Decode: each step streams every rank's weights - for MoE only the experts the batch routes to,
E x (1 - (1 - k/E)^B) of E - plus the KV cache of every running request, at the GPU's memory
bandwidth, unless the step's FLOPs take longer. Tensor parallel adds two all-reduces per layer
(a fixed latency plus the bytes over the link, NVLink or PCIe). Pipeline stages run one after
another for a request and overlap across requests. Prefill: 2 FLOPs per active parameter per
token plus causal attention at tensor-core peak, or one read of the weights per
max_num_batched_tokens chunk when that is slower. Range: 50-80 % of peak bandwidth and FLOPS,
and the slower and faster end of each link latency.
"""

from __future__ import annotations

import math

from checker.planning.rules.base import RuleContext
from checker.planning.rules.scheduler import effective_max_num_seqs
from checker.schemas.enums import Interconnect
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import PerfEstimate

EFFICIENCY = (0.5, 0.8)  # share of peak bandwidth and FLOPS: (pessimistic, optimistic)
# Fixed cost of one small all-reduce, seconds (pessimistic, optimistic); estimates.
ALLREDUCE_LATENCY = {
    Interconnect.NVLINK: (10e-6, 5e-6),
    Interconnect.INFINITY_FABRIC: (12e-6, 6e-6),
    Interconnect.PCIE: (30e-6, 15e-6),
    Interconnect.UNKNOWN: (30e-6, 15e-6),
}
PCIE_GBS = 25.0  # PCIe 4.0 x16, one direction, what NCCL reaches
STAGE_HANDOFF_S = 20e-6  # pipeline stage to stage send, per step
# Methods whose matmuls run in 8 bits (fp8 tensor cores where the GPU has them).
_EIGHT_BIT_COMPUTE = {"fp8", "fbgemm_fp8", "ptpc_fp8", "modelopt"}


def _interconnect(ctx: RuleContext) -> Interconnect:
    chosen = ctx.request.hardware.interconnect
    return ctx.gpu.interconnect if chosen is Interconnect.UNKNOWN else chosen


def _allreduce_s(ctx: RuleContext, nbytes: float, end: int) -> float:
    """One ring all-reduce of ``nbytes`` across the TP group (0 without TP)."""
    tp = ctx.settings.tp
    if tp == 1:
        return 0.0
    link = _interconnect(ctx)
    fast = link in (Interconnect.NVLINK, Interconnect.INFINITY_FABRIC)
    gbs = ctx.gpu.nvlink_bandwidth_gbs / 2 if fast and ctx.gpu.nvlink_bandwidth_gbs else PCIE_GBS
    return ALLREDUCE_LATENCY[link][end] + 2 * (tp - 1) / tp * nbytes / (gbs * 1e9)


def experts_touched(model: ModelInfo, batch: int) -> float:
    """Expected share of routed experts a decode step of ``batch`` requests reads."""
    if not model.is_moe or not model.num_experts:
        return 1.0
    return 1 - (1 - model.num_experts_per_tok / model.num_experts) ** batch


def _active_params(model: ModelInfo, batch: int) -> float:
    """Parameters a step multiplies with (per token: k experts; bytes read: ``batch``)."""
    unused = model.params.expert_linear * (1 - experts_touched(model, batch))
    return model.param_count - model.params.embedding - unused


def _peak_flops(ctx: RuleContext) -> float:
    gpu, quant = ctx.gpu, ctx.model.quant
    eight_bit = ctx.settings.quantization in _EIGHT_BIT_COMPUTE or (
        quant is not None and quant.activation_bits == 8
    )
    tflops = (gpu.fp8_tflops or gpu.int8_tops) if eight_bit else None
    return (tflops or gpu.fp16_tflops) * 1e12


def decode_batch(ctx: RuleContext) -> int:
    """Requests decoding together: the workload's concurrency, within max_num_seqs and what
    the KV cache holds at the workload's length."""
    work = ctx.request.workload
    length = work.prompt_tokens + work.gen_tokens
    held = ctx.memory.binding.kv.tokens // length
    wanted = ctx.settings.per_engine(work.concurrency)
    return max(1, min(wanted, effective_max_num_seqs(ctx), held or 1))


def _decode_step_s(ctx: RuleContext, batch: int, context: int, end: int) -> float:
    """Seconds for one token of every running request, summed over the pipeline stages."""
    s, model, eff = ctx.settings, ctx.model, EFFICIENCY[end]
    bandwidth, flops = ctx.gpu.memory_bandwidth_gbs * 1e9 * eff, _peak_flops(ctx) * eff
    expert_share = model.params.expert_linear / max(model.param_count, 1)
    read_share = 1 - expert_share * (1 - experts_touched(model, batch))
    attention = 4 * model.cache_layer_count * model.num_attention_heads * model.head_dim
    step_flops = batch * (2 * _active_params(model, 1) + attention * context)
    total = (s.pp - 1) * STAGE_HANDOFF_S
    for stage in ctx.memory.stages:
        kv_bytes = stage.kv.layout.bytes_per_token * context * batch
        memory_s = (stage.weights * read_share + kv_bytes) / bandwidth
        compute_s = step_flops / (s.tp * s.pp) / flops
        layers = model.num_hidden_layers / s.pp
        comm = 2 * layers * _allreduce_s(ctx, batch * model.hidden_size * s.dtype_bytes, end)
        total += max(memory_s, compute_s) + comm
    return total


def _prefill_s(ctx: RuleContext, end: int) -> float:
    """Time to first token of one prompt on an idle instance."""
    s, model, eff = ctx.settings, ctx.model, EFFICIENCY[end]
    prompt = ctx.request.workload.prompt_tokens
    attention = 2 * model.cache_layer_count * model.num_attention_heads * model.head_dim
    flops = 2 * _active_params(model, 1) * prompt + attention * prompt**2
    compute_s = flops / (_peak_flops(ctx) * eff * s.tp)
    chunks = math.ceil(prompt / s.max_num_batched_tokens)
    weights = sum(stage.weights for stage in ctx.memory.stages)
    memory_s = chunks * weights / (ctx.gpu.memory_bandwidth_gbs * 1e9 * eff)
    chunk_bytes = min(prompt, s.max_num_batched_tokens) * model.hidden_size * s.dtype_bytes
    comm = chunks * 2 * model.num_hidden_layers * _allreduce_s(ctx, chunk_bytes, end)
    return max(compute_s, memory_s) + comm + (s.pp - 1) * STAGE_HANDOFF_S


def estimate_perf(ctx: RuleContext) -> PerfEstimate:
    s, work = ctx.settings, ctx.request.workload
    batch = decode_batch(ctx)
    context = work.prompt_tokens + work.gen_tokens // 2
    tpot = [_decode_step_s(ctx, batch, context, end) for end in (0, 1)]  # slow, fast
    ttft = [_prefill_s(ctx, end) for end in (0, 1)]
    per_request = [1 / t for t in tpot]
    # pipeline stages work on different requests at once when there are enough of them
    # ... and every data-parallel engine decodes its own batch
    instance = [s.dp * batch * min(s.pp, batch) * r for r in per_request]
    gpus = s.gpus_needed
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
            "estimates, not measurements: 50-80 % of peak memory bandwidth and FLOPS",
            f"decode batch of {batch} requests at ~{context} tokens of context each",
            f"tensor parallel {s.tp} over {_interconnect(ctx).value}: two all-reduces per layer",
            "TPOT is the inter-token latency (ITL) of a request while the batch decodes",
            *(
                [f"data parallel {s.dp}: requests spread evenly over the engines"]
                if s.dp > 1
                else []
            ),
            "time to first token of one prompt on an idle instance: no queueing or scheduling",
        ],
    )
