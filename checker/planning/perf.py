"""Roofline performance estimates: decode is bound by memory bandwidth, prefill by compute.

Each decode step streams this rank's weights (the active experts for MoE) plus the KV cache
of every running request; prefill does 2 FLOPs per active parameter per token. Tensor
parallel splits both but pays an all-reduce, cheaper over NVLink than PCIe. Ranges, not
promises: the low end assumes 50 % of peak, the high end 80 %.
"""

from __future__ import annotations

from checker.planning.rules.base import RuleContext
from checker.schemas.enums import Interconnect
from checker.schemas.outputs import PerfEstimate

_EFFICIENCY = (0.5, 0.8)
_TP_EFFICIENCY = {
    Interconnect.NVLINK: 0.9,
    Interconnect.INFINITY_FABRIC: 0.88,
    Interconnect.PCIE: 0.7,
    Interconnect.UNKNOWN: 0.75,
}


def _active_weight_bytes(ctx: RuleContext) -> float:
    """Weights one decode step reads on one rank: all but the unused experts."""
    first = ctx.memory.first
    model = ctx.model
    if not model.is_moe or not model.params.expert_linear:
        return first.weights
    experts = model.params.expert_linear
    unused = experts * (1 - model.num_experts_per_tok / model.num_experts)
    share = unused / model.param_count
    return first.weights * (1 - share)


def estimate_perf(ctx: RuleContext) -> PerfEstimate:
    s, gpu, work = ctx.settings, ctx.gpu, ctx.request.workload
    interconnect = ctx.request.hardware.interconnect
    if interconnect is Interconnect.UNKNOWN:
        interconnect = gpu.interconnect
    scale = _TP_EFFICIENCY[interconnect] if s.tp > 1 else 1.0
    batch = max(1, min(work.concurrency, int(ctx.memory.binding.kv.max_concurrency) or 1))
    context = work.prompt_tokens + work.gen_tokens // 2
    kv_read = ctx.memory.binding.kv.layout.bytes_per_token * context * batch
    step_bytes = _active_weight_bytes(ctx) + kv_read
    bandwidth = gpu.memory_bandwidth_gbs * 1e9
    tpot = [step_bytes / (bandwidth * e * scale) * s.pp for e in _EFFICIENCY]
    active = float(ctx.model.param_count)
    if ctx.model.is_moe:
        active -= ctx.model.params.expert_linear * (
            1 - ctx.model.num_experts_per_tok / ctx.model.num_experts
        )
    flops = (
        (
            gpu.fp8_tflops
            if s.quantization in ("fp8", "fbgemm_fp8") and gpu.fp8_tflops
            else gpu.fp16_tflops
        )
        * 1e12
        * s.tp
        * scale
    )
    prefill = [flops * e / (2 * active) for e in _EFFICIENCY]
    ttft = [work.prompt_tokens / p * 1000 for p in reversed(prefill)]
    decode = (1 / tpot[0], 1 / tpot[1])
    per_instance = (decode[0] * batch, decode[1] * batch)
    gpus = s.tp * s.pp
    return PerfEstimate(
        decode_toks_per_s_range=(round(decode[0], 1), round(decode[1], 1)),
        prefill_toks_per_s_range=(round(prefill[0]), round(prefill[1])),
        ttft_ms_range=(round(ttft[0], 1), round(ttft[1], 1)),
        tpot_ms_range=(round(tpot[1] * 1000, 2), round(tpot[0] * 1000, 2)),
        throughput_toks_per_s_range=(round(per_instance[0]), round(per_instance[1])),
        throughput_per_gpu_toks_per_s_range=(
            round(per_instance[0] / gpus),
            round(per_instance[1] / gpus),
        ),
        assumptions=[
            "estimates, not measurements: 50-80 % of peak memory bandwidth and FLOPS",
            f"decode batch of {batch} requests at ~{context} tokens of context each",
            f"tensor-parallel efficiency {scale:.2f} over {interconnect.value}",
            "prefill TTFT excludes queueing and scheduling delay",
        ],
    )
