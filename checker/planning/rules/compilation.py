"""Compilation settings vLLM refuses while it builds its configuration (VW122)."""

from __future__ import annotations

from checker.planning.engine.releases import message
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def capture_sizes_consistent(ctx: RuleContext) -> Finding | None:
    """config/vllm.py VllmConfig._set_cudagraph_sizes: both flags given and the largest
    capture size kept (sizes up to max_num_batched_tokens) differs from the given maximum."""
    eng, s = ctx.request.engine, ctx.settings
    if eng.cudagraph_capture_sizes is None or eng.max_cudagraph_capture_size is None:
        return None
    if not s.cudagraph_sizes:
        return None  # no graphs captured: the sizes are never resolved
    valid = s.cudagraph_sizes[-1]
    if eng.max_cudagraph_capture_size == valid:
        return None
    return Finding(
        rule_id="VW122",
        name="cudagraph-capture-sizes-inconsistent",
        severity=Severity.ERROR,
        message=message(
            "capture-size-mismatch",
            s.facts.version,
            given=eng.max_cudagraph_capture_size,
            valid=valid,
        ),
        key="vllm.max_cudagraph_capture_size",
        fix=f"Give one of the two, or set max_cudagraph_capture_size to {valid} (the largest "
        f"capture size at or below max_num_batched_tokens {s.max_num_batched_tokens}).",
        fix_values={"vllm.max_cudagraph_capture_size": valid},
    )
