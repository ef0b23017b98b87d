"""Storage bits of a quantized linear weight, per method (shared by the language model's and
the vision tower's weights)."""

from __future__ import annotations

from checker.schemas.model_info import ModelInfo

# Bits per weight including scales/zero points, for methods whose layout is fixed.
_FIXED_BITS = {
    "fp8": 8.0,
    "fbgemm_fp8": 8.0,
    "ptpc_fp8": 8.0,
    "modelopt": 8.0,
    "experts_int8": 8.0,
    "mxfp4": 4.0 + 8 / 32,  # e8m0 scale per 32
    "modelopt_fp4": 4.0 + 8 / 16,  # fp8 scale per 16
}


def bits_per_weight(model: ModelInfo, method: str) -> float:
    """Storage bits of one quantized linear weight, scales and zero points included."""
    if method in _FIXED_BITS:
        return _FIXED_BITS[method]
    q = model.quant if model.quant and model.quant.method == method else None
    # Without a checkpoint config: vLLM's in-flight bitsandbytes is 4-bit, compressed-tensors
    # checkpoints are most often W8A8, AWQ/GPTQ are 4-bit with groups of 128.
    bits = float(q.weight_bits) if q else (8.0 if method == "compressed-tensors" else 4.0)
    group = q.group_size if q else (None if method == "compressed-tensors" else 128)
    if method == "bitsandbytes":
        # nf4 with double quantisation: 8-bit absmax per 64, fp32 per 256 blocks
        return bits + (8 / 64 + 32 / (64 * 256) if bits == 4 else 32 / 4096)
    if method == "compressed-tensors" and (not group):
        return bits  # per-channel scales: negligible
    scale_bits = 16 / group if group else 0.0
    zero_bits = bits / group if group and (not q or q.has_zero_points) else 0.0
    return bits + scale_bits + zero_bits
