"""Interconnect warning (VW143): the profile states NVLink, but the GPU catalog says the TP
group cannot be NVLinked pair by pair (no NVLink, more GPUs than one bridge joins or than an
on-board mesh links pair by pair), so vLLM's
is_fully_connected (platforms/cuda.py) is false and custom all-reduce is turned off
(distributed/device_communicators/custom_all_reduce.py CustomAllreduce.__init__)."""

from __future__ import annotations

from checker.planning.engine.releases import message
from checker.planning.engine.settings import fully_nvlinked, nvlink_reach
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Interconnect, Severity
from checker.schemas.outputs import Finding


@rule
def stated_nvlink_fully_connected(ctx: RuleContext) -> Finding | None:
    s, gpu = ctx.settings, ctx.gpu
    # two GPUs keep custom all-reduce over PCIe; only larger groups need every pair NVLinked
    if s.interconnect is not Interconnect.NVLINK or s.tp <= 2:
        return None
    if fully_nvlinked(gpu, s.tp) is not False:
        return None
    if gpu.nvlink_support is False:
        why = f"{gpu.name} has no NVLink ({gpu.nvlink_source})"
    else:
        why = f"{nvlink_reach(gpu)} ({gpu.nvlink_source})"
    return Finding(
        rule_id="VW143",
        name="interconnect-not-fully-nvlinked",
        severity=Severity.WARNING,
        message=f"hardware.interconnect is nvlink, but {why}: the {s.tp} GPUs of the TP group "
        "are not NVLinked pair by pair, and vLLM logs: "
        + message("custom-allreduce-pcie", s.facts.version),
        key="hardware.interconnect",
        fix="Set hardware.interconnect: pcie (or leave it out): the plan then takes vLLM's "
        "PCIe-only terms for this TP group (custom all-reduce off, the PCIe non-torch memory).",
    )
