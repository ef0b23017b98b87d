"""What an audit reads out of its verdicts: pairs close to the edge, and cheaper GPUs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from checker.errors import CheckerError
from checker.gate.audit.fleet import Fleet
from checker.gate.pairs import PairSettings
from checker.gate.result import PairResult
from checker.schemas.enums import OOMRisk
from checker.schemas.gpu import GPUSpec
from checker.schemas.profile_io import LoadedProfile, Target, profile_targets
from checker.schemas.records import Record, record

EDGE_CONCURRENCY = 1.5  # max concurrency under this x the workload's concurrency is "close"


@record
class EdgeCase(Record):
    """A pair that passes with little to spare, and why."""

    profile: str
    target: str
    reason: str


@record
class CheaperOption(Record):
    """A cheaper fleet entry the profile PASSes on."""

    profile: str
    current: str  # the profile's own target, e.g. H100-80GB:1
    target: str  # the cheaper fleet entry, where the profile PASSes
    verdict: str
    price_per_hour: float | None
    current_price_per_hour: float | None
    memory_gib: float  # GPU memory of the instance (all its GPUs)
    current_memory_gib: float | None


def edge_cases(
    pairs: Sequence[PairResult], profiles: Mapping[str, LoadedProfile]
) -> list[EdgeCase]:
    """Pairs that pass the gate with little to spare."""
    found: list[EdgeCase] = []
    for pair in pairs:
        if pair.failed or pair.summary is None:
            continue
        want = profiles[pair.profile].profile.workload.concurrency
        have = pair.figures.max_concurrency or 0.0
        reasons = []
        if have < EDGE_CONCURRENCY * want:
            reasons.append(
                f"{have:.2f} requests fit at max_model_len, under {EDGE_CONCURRENCY}x the "
                f"workload's concurrency of {want}"
            )
        if pair.figures.oom_risk is OOMRisk.MEDIUM:
            reasons.append("medium OOM risk: " + pair.summary.oom_risk_reason)
        if reasons:
            found.append(
                EdgeCase(profile=pair.profile, target=pair.target, reason="; ".join(reasons))
            )
    return found


def cheaper_options(
    pairs: Sequence[PairResult],
    fleet: Fleet,
    profiles: Mapping[str, LoadedProfile],
    settings: PairSettings,
) -> list[CheaperOption]:
    """Per profile, the cheapest fleet entry that PASSes and has a lower price than the
    profile's own target. Nothing is suggested where the own target has no price (cheaper
    than what?) or the other target only WARNs (a move would trade money for a risk)."""
    entries = {str(e.target): e for e in fleet.targets}
    found: list[CheaperOption] = []
    for rel, loaded in profiles.items():
        own = profile_targets(loaded.profile)[0]
        customs = (*loaded.profile.hardware.custom_gpus, *settings.custom_gpus)
        own_spec = _spec(own, customs)
        ours = [p for p in pairs if p.profile == rel and p.summary is not None]
        own_entry = next(
            (
                entries[p.target]
                for p in ours
                if own_spec and p.gpu == own_spec.name and entries[p.target].count == own.count
            ),
            None,
        )
        own_price = own_entry.price_per_hour if own_entry else None
        if own_price is None or own_spec is None:
            continue
        options = [
            CheaperOption(
                profile=rel,
                current=str(own),
                target=pair.target,
                verdict=pair.verdict,
                price_per_hour=price,
                current_price_per_hour=own_price,
                memory_gib=round(pair.summary.memory_gib * entry.count, 2),
                current_memory_gib=own_spec.memory_gib * own.count,
            )
            for pair in ours
            if pair.summary is not None
            and pair.verdict == "PASS"
            and (entry := entries[pair.target]) is not own_entry
            and (price := entry.price_per_hour) is not None
            and price < own_price
        ]
        if options:
            found.append(min(options, key=lambda o: (o.price_per_hour, o.memory_gib)))
    return found


def _spec(target: Target, customs: Sequence[GPUSpec]) -> GPUSpec | None:
    from checker.hardware.catalog import find_gpu

    if target.gpu.strip().lower() == "auto":
        return None
    try:
        return find_gpu(target.gpu, customs)
    except CheckerError:
        return None
