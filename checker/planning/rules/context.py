"""max_model_len auto-fit (VW206): vLLM refuses to start when not even one token's KV fits
(v1/core/kv_cache_planning.py _auto_fit_max_model_len; kv_cache_utils.py before 0.33)."""

from __future__ import annotations

from checker.planning.kvcache.kv import bytes_for_length
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def auto_fit_impossible(ctx: RuleContext) -> Finding | None:
    b, memory = ctx.memory.binding, ctx.memory
    if ctx.settings.auto_fit_from is None or not b.kv.layout.page_bytes:
        return None
    if b.weights > memory.total - memory.cuda_context:
        return None  # loading the weights fails first (VW201)
    if b.check_budget > 0 and bytes_for_length(ctx.model, ctx.settings, b.kv.layout, 1) <= (
        b.check_budget
    ):
        return None
    return Finding(
        rule_id="VW206",
        name="auto-fit-max-model-len-impossible",
        severity=Severity.ERROR,
        message="Cannot auto-fit max_model_len: not enough GPU memory available to serve even "
        "a single token. Try increasing `gpu_memory_utilization`.",
        key="model.max_model_len",
        fix="The weights leave no room for a KV cache: raise gpu_memory_utilization, add GPUs "
        "(tensor parallel), quantize, or choose a larger GPU.",
    )
