"""Multi-node launch errors (VW306): --nnodes must split the deployment's world evenly over the
nodes (engine/arg_utils.py EngineArgs.create_engine_config)."""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour, message
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def nnodes_divides_world(ctx: RuleContext) -> Finding | None:
    s = ctx.settings
    if s.nnodes == 1:
        return None
    version = s.facts.version
    # the world the nodes split: PCP counts from 0.33 (through 0.24: DP x PP x TP)
    world = (
        s.gpus_needed if has_behaviour("nnodes_world_counts_pcp", version) else s.dp * s.tp * s.pp
    )
    if world % s.nnodes == 0:
        return None
    fitting = [n for n in range(s.nnodes, 0, -1) if world % n == 0][0]
    return Finding(
        rule_id="VW306",
        name="nnodes-uneven",
        severity=Severity.ERROR,
        message=message("nnodes-divide", version, world=world, nnodes=s.nnodes),
        key="outputs.vllm_args.nnodes",
        fix=f"Every node runs world size / nnodes workers: use nnodes {fitting} (or another "
        f"divisor of {world}), or change the parallel sizes.",
    )
