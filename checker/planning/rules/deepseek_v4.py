"""DeepSeek-V4: what of its plan is exact and what is not yet."""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def deepseek_v4_weights_estimated(ctx: RuleContext) -> Iterator[Finding]:
    """The KV cache of DeepSeek-V4 is laid out as vLLM does (checker.planning.deepseek_v4), but
    its weights are not: vLLM stores the routed experts as MXFP4 (expert_dtype fp4,
    models/deepseek_v4/quant_config.py DeepseekV4FP8Config) and builds attention from q/o
    low-rank projections, compressors, indexers and hyper-connections that the parameter
    count does not know; the KV budget, tokens and concurrency move with those weights."""
    if ctx.model.compressed_attention is None:
        return
    yield Finding(
        rule_id="VW147",
        name="deepseek-v4-weights-estimated",
        severity=Severity.WARNING,
        message="DeepSeek-V4's KV cache groups, pages and blocks per request follow vLLM, but "
        "its weights are estimated (routed experts counted at the checkpoint's fp8 rather "
        "than vLLM's MXFP4, attention as plain attention), so the KV memory, token and "
        "concurrency figures are approximate.",
        key="model.model",
        fix="Hold the prediction against the real start-up log's 'Model loading took' and "
        "'Available KV cache memory' lines, or pass them as a calibration (--calibration).",
    )
