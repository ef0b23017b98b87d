"""Coverage rule (VW190): an engine argument the plan does not account for is said out loud.

Which flags the plan models is data (checker/data/vllm_flag_effects.yaml): a profile that sets a
flag classed *not modeled* gets this warning with what the flag changes, never a silent PASS.
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.rules.base import RuleContext, rule
from checker.schemas.engine_args import not_modeled
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def flag_not_modeled(ctx: RuleContext) -> Iterator[Finding]:
    for name, value in sorted(ctx.request.engine.vllm_args.items()):
        if value is None or value is False:  # unset, or a switch left at its default off
            continue
        affects = not_modeled("--" + name, value)
        if affects is None:
            continue
        yield Finding(
            rule_id="VW190",
            name="flag-not-modeled",
            severity=Severity.WARNING,
            message=f"--{name} is not modeled by the plan: {affects}",
            key=f"outputs.vllm_args.{name}",
            fix=f"check the real start-up log for --{name}, or remove it",
        )
