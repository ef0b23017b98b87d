"""Cost per million output tokens of each priced fleet option, at the profile's targets.

The deployment serves the load the workload states - its minimum output throughput, or its
request rate times the output length - with as many replicas as that takes (the count the
VW403 / VW404 fixes give: the need over one deployment's estimate, rounded up) on whole fleet
instances; without a stated load, one deployment at the workload's concurrency. A deployment
smaller than an instance runs as many copies as the instance holds (a 1-GPU plan on a 2-GPU
instance serves twice). Cost = instances x price per hour / (output tokens per hour / 1e6), a
range from the estimate's fast end (low) to its slow end (high). A plan that fails for any
other reason, or misses a latency target, gets no cost. Every figure rests on the estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from checker.gate.audit.fleet import Fleet, FleetEntry
from checker.gate.result import GateFinding, PairResult
from checker.schemas.enums import Severity
from checker.schemas.profile import ProfileWorkload
from checker.schemas.profile_io import LoadedProfile
from checker.schemas.records import Record, record

# What more replicas fix (checker/planning/rules/slo.py _replicas): the cost counts them in
REPLICA_RULES = frozenset({"VW403", "VW404"})
LATENCY_RULES = frozenset({"VW401", "VW402"})

Range = tuple[float, float]


@record
class CostOption(Record):
    """One profile on one priced fleet entry: its estimated cost, or why it has none."""

    profile: str
    target: str
    price_per_hour: float  # per instance, as the fleet file states it
    rank: int | None = None  # 1 = cheapest of the profile; None: no cost
    verdict: str  # PASS or WARN once the replicas are counted; FAIL or ERROR where excluded
    cheapest: bool = False  # the cheapest option of the profile that PASSes
    estimated: bool = True  # always: the figures rest on the estimate
    gpus: int | None = None  # GPUs of one deployment
    # deployments run (at the slow end, the fast end): those the stated load needs, or more
    # where the instances hold more
    replicas: tuple[int, int] | None = None
    instances: tuple[int, int] | None = None  # fleet instances they take (slow end, fast end)
    output_toks_per_s: Range | None = None  # output tokens/s the cost is spread over
    # per million output tokens, in the fleet's currency (low, high)
    cost_per_million_tokens: Range | None = None
    excluded: str | None = None  # why it has no cost


def cost_ranking(
    pairs: Sequence[PairResult], fleet: Fleet, profiles: Mapping[str, LoadedProfile]
) -> list[CostOption]:
    """Per profile (in the order of the pairs), its priced options cheapest first (by the
    high end, then the low end, then fleet order), then the ones without a cost."""
    cells = {(p.profile, p.target): p for p in pairs}
    out: list[CostOption] = []
    for rel in dict.fromkeys(p.profile for p in pairs):
        work = profiles[rel].profile.workload
        options = [
            _option(pair, entry, work)
            for entry in fleet.targets
            if entry.price_per_hour is not None
            and (pair := cells.get((rel, str(entry.target)))) is not None
        ]
        costed = sorted(
            (o for o in options if o.cost_per_million_tokens is not None),
            key=lambda o: (o.cost_per_million_tokens or (0.0, 0.0))[::-1],
        )
        best = next((o for o in costed if o.verdict == "PASS"), None)
        out += [replace(o, rank=i, cheapest=o is best) for i, o in enumerate(costed, 1)]
        out += [o for o in options if o.cost_per_million_tokens is None]
    return out


def _option(pair: PairResult, entry: FleetEntry, work: ProfileWorkload) -> CostOption:
    price = entry.price_per_hour or 0.0
    base = CostOption(
        profile=pair.profile, target=pair.target, price_per_hour=price, verdict=pair.verdict
    )
    if pair.summary is None:
        why = pair.error.message if pair.error else "it was not planned"
        return replace(base, excluded=f"could not be planned: {why}")
    blocking = [
        f for f in pair.findings if f.severity is Severity.ERROR and f.rule_id not in REPLICA_RULES
    ]
    if blocking:
        return replace(base, excluded=_blocked(blocking[0]))
    throughput = pair.figures.throughput_toks_per_s
    if throughput is None or min(throughput) <= 0:
        return replace(base, excluded="no throughput estimate")
    rate = work.request_rate
    saturated = pair.summary.max_request_rate
    if rate is not None and (saturated is None or min(saturated) <= 0):
        return replace(
            base, excluded="no estimate of the request rate it sustains to size replicas on"
        )
    floor = work.slo.min_output_toks_per_s
    gpus = pair.summary.num_gpus_used
    replicas: list[int] = []
    instances: list[int] = []
    served: list[float] = []
    for end in (0, 1):  # slow, fast
        need = 1
        if floor is not None:
            need = max(need, math.ceil(floor / throughput[end]))
        if rate is not None and saturated is not None:
            need = max(need, math.ceil(rate / saturated[end]))
        rented = math.ceil(need * gpus / entry.count)
        copies = rented * entry.count // gpus  # what the rented instances hold
        replicas.append(copies)
        instances.append(rented)
        stated = max(floor or 0.0, (rate or 0.0) * work.gen_tokens)
        served.append(stated or copies * throughput[end])
    cost = [n * price / (tok * 3600 / 1e6) for n, tok in zip(instances, served, strict=True)]
    rest = [
        f
        for f in pair.findings
        if f.severity is not Severity.INFO and f.rule_id not in REPLICA_RULES
    ]
    return replace(
        base,
        verdict="WARN" if rest else "PASS",
        gpus=gpus,
        replicas=(replicas[0], replicas[1]),
        instances=(instances[0], instances[1]),
        output_toks_per_s=(round(served[0], 1), round(served[1], 1)),
        cost_per_million_tokens=(_money(cost[1]), _money(cost[0])),
    )


def cost_text(option: CostOption) -> str:
    """``low-high`` (or one figure) per million output tokens; "-" without a cost."""
    if option.cost_per_million_tokens is None:
        return "-"
    low, high = option.cost_per_million_tokens
    return f"{low:,.4g}" if low == high else f"{low:,.4g}-{high:,.4g}"


def _blocked(finding: GateFinding) -> str:
    what = "misses a latency target" if finding.rule_id in LATENCY_RULES else "FAILs"
    return f"{what}: {finding.rule_id}: {finding.message}"


def _money(value: float) -> float:
    """Four significant digits: an estimate, and cents per million tokens still show."""
    return float(f"{value:.4g}")
