"""Recommended settings, each with its reason (shown by --explain)."""

from __future__ import annotations

from checker.planning.rules.base import RuleContext
from checker.schemas.outputs import Recommendation, VLLMConfig


def recommend(ctx: RuleContext, config: VLLMConfig) -> tuple[VLLMConfig, list[Recommendation]]:
    """Apply the fixes the rules computed to the config, and explain every setting."""
    s = ctx.settings
    recs = [
        Recommendation(
            key="tensor_parallel_size",
            value=s.tp,
            reason=f"smallest TP that divides {ctx.model.num_attention_heads} "
            "attention heads and fits"
            if not ctx.request.hardware.tensor_parallel_size
            else "as set in the profile",
        ),
        Recommendation(
            key="max_num_batched_tokens",
            value=s.max_num_batched_tokens,
            reason=f"vLLM {s.facts.version} default for a {s.gpu.name}"
            if not ctx.request.engine.max_num_batched_tokens
            else "as set",
        ),
    ]
    explanations = {r.key: r.reason for r in recs} if ctx.request.explain else {}
    return config.model_copy(update={"explanations": explanations}), recs
