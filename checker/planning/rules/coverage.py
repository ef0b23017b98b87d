"""Coverage rules: what the plan does not account for is said out loud, never a silent PASS.

VW190: an engine argument the plan does not model. VW191: a vLLM release newer than the newest
whose source the version facts were read from (checker/data/vllm_versions.yaml).
Which flags the plan models is data (checker/data/vllm_flag_effects.yaml).
"""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.engine.versions import is_newer_than_known, newest_version
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.engine_args import not_modeled
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def flag_not_modeled(ctx: RuleContext) -> Iterator[Finding]:
    for name, value in sorted(ctx.request.engine.vllm_args.items()):
        if value is None or value is False:  # unset, or a switch left at its default off
            continue
        affects = not_modeled("--" + name, value, ctx.settings.facts.version)
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


@rule
def version_newer_than_known(ctx: RuleContext) -> Finding | None:
    pinned = ctx.request.engine.vllm_version
    if pinned is None or not is_newer_than_known(pinned):
        return None
    newest = newest_version()
    return Finding(
        rule_id="VW191",
        name="vllm-version-newer-than-known",
        severity=Severity.WARNING,
        message=f"vLLM {pinned} is newer than any release this vllm-wizard has read ({newest}): "
        f"the figures follow {newest}'s defaults, messages and memory arithmetic, which "
        f"{pinned} may have changed",
        key="vllm.version",
        fix=f"check the real start-up log of {pinned}, pin {newest} or an older release, or "
        "upgrade vllm-wizard",
    )
