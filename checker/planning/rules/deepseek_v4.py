"""DeepSeek-V4: what of its plan is exact and what is not yet."""

from __future__ import annotations

from checker.planning.kvcache.deepseek_v4 import layout_error, layout_read_for
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def deepseek_v4_memory_estimated(ctx: RuleContext) -> Finding | None:
    """DeepSeek-V4's KV layout, weights and profile-run gather workspaces follow vLLM
    (checker.planning.kvcache.deepseek_v4), but no public log prints its 'Model loading took'
    to hold them against, and the rest of its profile run (the MoE and attention activations, the
    deep_gemm MegaMoE symmetric buffer) and its breakable CUDA graphs are estimated as for
    other models: the KV budget, tokens and concurrency move with those terms."""
    if ctx.model.compressed_attention is None:
        return None
    return Finding(
        rule_id="VW147",
        name="deepseek-v4-memory-estimated",
        severity=Severity.WARNING,
        message="DeepSeek-V4's KV cache groups, pages and blocks per request follow vLLM, and "
        "its weights and gather workspaces vLLM 0.25.0's, but the rest of its activation "
        "peak (MoE and "
        "attention activations, MegaMoE's symmetric buffer) and its CUDA-graph memory are "
        "estimated as for other models, so the KV memory, token and concurrency figures are "
        "approximate.",
        key="model.model",
        fix="Hold the prediction against the real start-up log's 'Model loading took' and "
        "'Available KV cache memory' lines, or pass that log as a calibration (--calibration).",
    )


@rule
def deepseek_v4_layout_not_modeled(ctx: RuleContext) -> Finding | None:
    """DeepSeek-V4's KV layout was read from vLLM 0.24.0, 0.25.0 and 0.33.0; other releases
    are planned with the nearest older one's (checker/data/deepseek_v4.yaml releases). With
    pipeline parallel vLLM groups the whole model's caches and projects the groups on each
    stage (kv_cache_utils.py _project_kv_cache_groups_to_worker); each stage is laid out on
    its own here."""
    s = ctx.settings
    if ctx.model.compressed_attention is None:
        return None
    reasons = []
    if not layout_read_for(s.facts.version):
        reasons.append(
            f"vLLM {s.facts.version} was not read (0.24.0, 0.25.0 and 0.33.0 were) and is "
            "planned with an older release's layout"
        )
    if s.pp > 1:
        reasons.append(
            "with pipeline parallel vLLM groups the whole model's caches and projects them "
            "on each stage, while each stage is laid out on its own here"
        )
    if not reasons:
        return None
    return Finding(
        rule_id="VW148",
        name="deepseek-v4-layout-not-modeled",
        severity=Severity.WARNING,
        message="DeepSeek-V4's KV cache layout is not modelled exactly: "
        + "; ".join(reasons)
        + ". The KV token and concurrency figures are not trustworthy.",
        key="vllm.version" if not layout_read_for(s.facts.version) else "hardware.pp_size",
        fix="Pin vLLM 0.25.0 or 0.33.0 without pipeline parallel to get a modelled layout, or "
        "hold the figures against the real start-up log.",
    )


@rule
def deepseek_v4_layout_refused(ctx: RuleContext) -> Finding | None:
    """Settings with which vLLM cannot build DeepSeek-V4's KV cache (its fp8-only layout, the
    kernels' block sizes, the packed groups' page order): a start-up failure, and no KV
    cache is planned (checker.planning.kvcache.deepseek_v4.layout_error)."""
    attn = ctx.model.compressed_attention
    if attn is None:
        return None
    s = ctx.settings
    error = layout_error(attn, s.block_size, s.kv_cache_dtype, s.facts.version)
    if error is None:
        return None
    dtype = not s.kv_cache_dtype.startswith("fp8")
    return Finding(
        rule_id="VW149",
        name="deepseek-v4-layout-refused",
        severity=Severity.ERROR,
        message=f"vLLM would fail to build DeepSeek-V4's KV cache: {error}.",
        key="model.kv_cache_dtype" if dtype else "vllm.block_size",
        fix="Set model.kv_cache_dtype: fp8 (stored as DeepSeek's fp8_ds_mla format)."
        if dtype
        else "Leave vllm.block_size unset (vLLM then uses 256) or set a multiple of 256.",
    )
