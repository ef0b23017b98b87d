"""DeepSeek-V4: what of its plan is exact and what is not yet."""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def deepseek_v4_memory_estimated(ctx: RuleContext) -> Iterator[Finding]:
    """DeepSeek-V4's KV layout, weights and profile-run gather workspaces follow vLLM
    (checker.planning.deepseek_v4), but no public log prints its 'Model loading took' to hold
    them against, and the rest of its profile run (the MoE and attention activations, the
    deep_gemm MegaMoE symmetric buffer) and its breakable CUDA graphs are estimated as for
    other models: the KV budget, tokens and concurrency move with those terms."""
    if ctx.model.compressed_attention is None:
        return
    yield Finding(
        rule_id="VW147",
        name="deepseek-v4-memory-estimated",
        severity=Severity.WARNING,
        message="DeepSeek-V4's KV cache groups, pages and blocks per request, its weights and "
        "its gather workspaces follow vLLM, but the rest of its activation peak (MoE and "
        "attention activations, MegaMoE's symmetric buffer) and its CUDA-graph memory are "
        "estimated as for other models, so the KV memory, token and concurrency figures are "
        "approximate.",
        key="model.model",
        fix="Hold the prediction against the real start-up log's 'Model loading took' and "
        "'Available KV cache memory' lines, or pass that log as a calibration (--calibration).",
    )
