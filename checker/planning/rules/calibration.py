"""Whether the plan used a calibration (VW150) or ignored one that no longer matches (VW151).

Neither is a vLLM error: they say where the memory terms came from, so a calibration is never
applied, or dropped, without the report saying so.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def calibration_used(ctx: RuleContext) -> Iterator[Finding]:
    measured = ctx.memory.measured
    if measured is not None and ctx.settings.kv_cache_memory_bytes is None:
        adjusted = f"; {measured.adjusted}" if measured.adjusted else ""
        yield Finding(
            rule_id="VW150",
            name="calibration-applied",
            severity=Severity.INFO,
            message="The weights, activation, non-torch and CUDA-graph memory are the ones "
            f"vLLM measured for this setup, from {measured.source}{adjusted}.",
            key="model.id",
            fix="Run 'vllm-wizard calibrate' again with a newer start-up log after changing "
            "the model, GPU, vLLM version or parallelism.",
        )
    if ctx.calibration_ignored:
        yield Finding(
            rule_id="VW151",
            name="calibration-not-matching",
            severity=Severity.INFO,
            message=ctx.calibration_ignored[0].upper() + ctx.calibration_ignored[1:] + "; the "
            "plan estimates them.",
            key="model.id",
            fix="Calibrate this setup from its own start-up log: vllm-wizard calibrate LOG "
            "--profile PROFILE.",
        )
