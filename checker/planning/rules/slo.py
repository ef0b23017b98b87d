"""Serving targets the workload states, held against the performance estimate (VW401-VW404).

The estimate is a range (slow end, fast end). A target the slow end meets is met; one only the
fast end meets is at risk (a warning); one not even the fast end meets is missed (an error,
marked estimated: it rests on the performance model, not on vLLM's arithmetic). Not registered
with the start-up rules: it needs the estimate, which the planner makes first.
"""

from __future__ import annotations

import math
from typing import Literal, NamedTuple

from checker.planning.performance.batching import StepLoad
from checker.planning.performance.perf import decode_batch, step_cost
from checker.planning.rules.base import RuleContext
from checker.planning.rules.config import valid_tp
from checker.planning.rules.scheduler import effective_max_num_seqs
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding, PerfEstimate, SLOStatus

Range = tuple[float, float]


Status = Literal["met", "at risk", "missed"]


def _status(limit: float, estimate: Range, ceiling: bool) -> Status:
    """``estimate`` is (best, worst) for a ceiling, (worst, best) for a floor."""
    best, worst = estimate if ceiling else (estimate[1], estimate[0])

    def beats(value: float) -> bool:
        return value <= limit if ceiling else value >= limit

    if beats(worst):
        return "met"
    return "at risk" if beats(best) else "missed"


def _more_tp(ctx: RuleContext) -> dict[str, int]:
    """The next tensor-parallel size the model splits into, with the GPUs it takes."""
    s = ctx.settings
    larger = [t for t in valid_tp(ctx.model, 8 * s.tp) if t > s.tp]
    if not larger:
        return {}
    return {"hardware.tp_size": larger[0], "hardware.gpus": larger[0] * s.pp * s.dp}


def _batch_for_tpot(ctx: RuleContext, limit_ms: float) -> int | None:
    """Largest decode batch whose slow-end time per output token is within ``limit_ms``, in
    the steady state of a closed loop: each step decodes the batch and, with vLLM's chunked
    prefill, also prefills the prompts of the batch / gen_tokens requests that on average
    replace the ones finishing."""
    work = ctx.request.workload
    prompt, context = work.prompt_tokens, work.prompt_tokens + work.gen_tokens // 2
    cost = step_cost(ctx, 0)

    def tpot_ms(batch: int) -> float:
        arrivals = batch / max(1, work.gen_tokens)
        tokens = round(arrivals * prompt)
        load = StepLoad(
            batch, batch * context, tokens, math.ceil(arrivals), 0, arrivals * prompt**2 / 2
        )
        return cost(load) * 1000

    low, high = 1, effective_max_num_seqs(ctx)
    if tpot_ms(low) > limit_ms:
        return None
    while low < high:
        mid = (low + high + 1) // 2
        if tpot_ms(mid) <= limit_ms:
            low = mid
        else:
            high = mid - 1
    return low


def _replicas(ctx: RuleContext, have: float, need: float) -> str:
    copies = max(2, math.ceil(need / have)) if have > 0 else 2
    return (
        f"run {copies}x the replicas ({copies * ctx.settings.gpus_needed} GPUs: data parallel "
        "or copies behind a load balancer)"
    )


def _fix(
    ctx: RuleContext, rule_id: str, limit: float, estimate: Range
) -> tuple[str, dict[str, int]]:
    if rule_id == "VW401":
        return (
            "more replicas split the queue, a larger tensor parallel size prefills faster, a "
            "smaller max_num_batched_tokens keeps long prompts from delaying the others",
            _more_tp(ctx),
        )
    if rule_id == "VW402":
        values = _more_tp(ctx)
        fix = "a larger tensor parallel size reads each rank's weights faster"
        batch = _batch_for_tpot(ctx, limit)
        if batch is not None and batch < decode_batch(ctx):  # fewer than run now
            values = {**values, "vllm.max_num_seqs": batch}
            fix = (
                f"max_num_seqs {batch} keeps the decode batch small enough (requests beyond it "
                f"wait, so time to first token grows), or {fix}"
            )
        return fix, values
    return _replicas(ctx, estimate[0], limit), {}


class _Target(NamedTuple):
    rule_id: str
    name: str
    key: str  # under workload.
    what: str
    unit: str
    ceiling: bool  # False: a floor


_TARGETS = (
    _Target(
        rule_id="VW401",
        name="slo-ttft-missed",
        key="slo.ttft_p50_ms",
        what="p50 time to first token",
        unit="ms",
        ceiling=True,
    ),
    _Target(
        rule_id="VW401",
        name="slo-ttft-missed",
        key="slo.ttft_p90_ms",
        what="p90 time to first token",
        unit="ms",
        ceiling=True,
    ),
    _Target(
        rule_id="VW402",
        name="slo-tpot-missed",
        key="slo.tpot_p50_ms",
        what="p50 time per output token",
        unit="ms",
        ceiling=True,
    ),
    _Target(
        rule_id="VW402",
        name="slo-tpot-missed",
        key="slo.tpot_p90_ms",
        what="p90 time per output token",
        unit="ms",
        ceiling=True,
    ),
    _Target(
        rule_id="VW403",
        name="slo-throughput-missed",
        key="slo.min_output_toks_per_s",
        what="output throughput",
        unit="tok/s",
        ceiling=False,
    ),
    _Target(
        rule_id="VW404",
        name="slo-request-rate-not-sustained",
        key="request_rate",
        what="request rate the deployment completes when saturated",
        unit="requests/s",
        ceiling=False,
    ),
)


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _estimate(perf: PerfEstimate, key: str) -> Range | None:
    """The estimate a target is held against: the step model's figure, else the closed
    form's (which has one range for p50 and p90)."""
    if key.startswith(("slo.ttft", "slo.tpot")):
        figure = perf.ttft if "ttft" in key else perf.tpot
        if figure is not None:
            return figure.p90_ms if key.endswith("p90_ms") else figure.p50_ms
        return perf.ttft_ms_range if "ttft" in key else perf.tpot_ms_range
    if key == "request_rate":
        return perf.max_request_rate
    output = perf.output_throughput
    return output.deployment if output else perf.throughput_toks_per_s_range


def slo_findings(ctx: RuleContext, perf: PerfEstimate) -> tuple[list[Finding], list[SLOStatus]]:
    """Findings for the targets the estimate misses, and the status of every stated target."""
    work = ctx.request.workload
    findings: list[Finding] = []
    statuses: list[SLOStatus] = []
    if work.request_rate is None and not work.slo.stated:
        return findings, statuses  # most profiles state no targets
    for rule_id, name, key, what, unit, ceiling in _TARGETS:
        limit = work.request_rate if key == "request_rate" else getattr(work.slo, key[4:])
        if limit is None:  # no estimate to look up
            continue
        estimate = _estimate(perf, key)
        if estimate is None:
            continue
        status = _status(limit, estimate, ceiling)
        statuses.append(
            SLOStatus(target=f"workload.{key}", limit=limit, estimate=estimate, status=status)
        )
        if status == "met":
            continue
        fix, values = _fix(ctx, rule_id, limit, estimate)
        side = "above" if ceiling else "below"
        findings.append(
            Finding(
                rule_id=rule_id,
                name=name,
                severity=Severity.ERROR if status == "missed" else Severity.WARNING,
                estimated=True,
                message=f"estimated {what} {_num(estimate[0])}-{_num(estimate[1])} {unit} is "
                f"{side} the {_num(limit)} {unit} target ({status})",
                key=f"workload.{key}",
                fix=fix,
                fix_values=values,
            )
        )
    return findings, statuses
