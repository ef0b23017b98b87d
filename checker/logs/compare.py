"""Predicted vs logged, term by term, and which term explains the KV difference. Pure.

The plan's figures are the binding rank's (the one with the least KV memory: vLLM sizes every
rank's cache to the minimum), so the logged ones are taken from the rank that logged the least
"Available KV cache memory", else from the first rank that logged the figure.
"""

from __future__ import annotations

from typing import Any

from checker.logs.reader import Fact, StartupLog
from checker.logs.request import binding_rank, derived_requested
from checker.schemas.outputs import PlanResponse
from checker.schemas.section import Section

# (term, label, unit, the log's figures that state it, in order of preference)
TERMS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("requested_gib", "requested (total x utilization)", "GiB", ("requested_gib",)),
    ("weights_gib", "weights", "GiB", ("weights_gib", "profile_weights_gib")),
    ("activation_gib", "activation peak", "GiB", ("activation_gib",)),
    ("non_torch_gib", "non-torch", "GiB", ("non_torch_gib",)),
    (
        "cudagraph_gib",
        "CUDA graphs",
        "GiB",
        ("cudagraph_gib", "graph_capture_gib", "cudagraph_estimated_gib"),
    ),
    ("kv_cache_gib", "KV cache", "GiB", ("kv_cache_gib",)),
    ("gpu_blocks", "KV blocks", "blocks", ("gpu_blocks",)),
    ("kv_cache_tokens", "KV tokens", "tokens", ("kv_cache_tokens",)),
    ("max_concurrency", "max concurrency", "x", ("max_concurrency",)),
)
ROUNDING_GIB = 0.02  # vLLM prints GiB to 2 decimals; a sum of three such figures is this close
# Terms taken out of the requested memory before the KV cache (graphs only where subtracted).
_BUDGET = ("weights_gib", "activation_gib", "non_torch_gib", "cudagraph_gib")


class Term(Section):
    name: str
    label: str
    unit: str
    predicted: float | None
    logged: float | None
    line: int | None = None
    rank: str | None = None

    @property
    def difference(self) -> float | None:
        if self.predicted is None or self.logged is None:
            return None
        return self.predicted - self.logged


class Comparison(Section):
    terms: list[Term]
    binding_rank: str | None
    explains: str | None  # the term whose difference explains most of the KV difference
    explanation: str


def _predicted(plan: PlanResponse) -> dict[str, float | None]:
    f = plan.feasibility
    m = f.memory
    return {
        "requested_gib": m.requested_gib,
        "weights_gib": m.weights_gib,
        "activation_gib": m.activation_gib,
        "non_torch_gib": m.non_torch_gib,
        "cudagraph_gib": m.cudagraph_gib,
        "kv_cache_gib": m.kv_cache_gib,
        "gpu_blocks": f.kv.num_blocks if f.kv else None,
        "kv_cache_tokens": f.kv.tokens if f.kv else None,
        "max_concurrency": f.max_concurrency_at_context,
    }


def derived_activation(log: StartupLog) -> tuple[Fact, str] | None:
    """V0 0.6.3/0.6.4 logs the torch peak with the weights in it (worker.py
    determine_num_available_blocks): the activation is the peak less the weights loaded."""
    peak = logged_term(log, ("peak_torch_gib",))
    weights = logged_term(log, ("weights_gib",))
    if peak is None or weights is None:
        return None
    activation = round(float(peak[0].value) - float(weights[0].value), 2)
    return Fact(value=activation, line=peak[0].line), f"{peak[1]} (peak torch - weights)"


_DERIVED = {"requested_gib": derived_requested, "activation_gib": derived_activation}


def logged_term(log: StartupLog, names: tuple[str, ...]) -> tuple[Fact, str] | None:
    """The figure stating a term: the binding rank's, else the first rank's that logged it."""
    binding = log.rank(binding_rank(log) or "")
    ranks = ([binding] if binding else []) + [r for r in log.ranks if r is not binding]
    for name in names:
        for rank in ranks:
            fact = rank.first(name)
            if fact is not None:
                return fact, rank.rank
    return None


def compare(log: StartupLog, plan: PlanResponse) -> Comparison:
    predicted = _predicted(plan)
    terms = []
    for name, label, unit, figures in TERMS:
        found = logged_term(log, figures)
        if found is None and name in _DERIVED:
            found = _DERIVED[name](log)
        terms.append(
            Term(
                name=name,
                label=label,
                unit=unit,
                predicted=predicted[name],
                logged=float(found[0].value) if found else None,
                line=found[0].line if found else None,
                rank=found[1] if found else None,
            )
        )
    return Comparison(
        terms=terms,
        binding_rank=binding_rank(log),
        **_explain(
            terms, plan.feasibility.memory.cudagraph_subtracted, _log_subtracts_graphs(log, terms)
        ),
    )


def _log_subtracts_graphs(log: StartupLog, terms: list[Term]) -> bool:
    """Whether the logged run took CUDA graphs out of the KV budget: not when its non-KV total
    is just weights + activation + non-torch (v0.19: an estimate only, gpu_worker.py
    determine_available_memory)."""
    found = logged_term(log, ("non_kv_total_gib",))
    parts = [
        t.logged for t in terms if t.name in ("weights_gib", "activation_gib", "non_torch_gib")
    ]
    if found is None or any(p is None for p in parts):
        return True
    return abs(float(found[0].value) - sum(p for p in parts if p is not None)) > 0.02


def _explain(terms: list[Term], planned_subtracts: bool, logged_subtracts: bool) -> dict[str, Any]:
    by_name = {t.name: t for t in terms}
    # KV = requested - the budget terms, so each term moves KV by minus its own difference
    effects: dict[str, float] = {}
    for name in ("requested_gib", *_BUDGET):
        diff = by_name[name].difference
        if (
            name == "cudagraph_gib"
            and planned_subtracts != logged_subtracts
            # a log that states no graph memory shows nothing of the mismatch
            and (planned_subtracts or by_name[name].logged is not None)
        ):
            # one side takes the graphs out of the KV budget, the other does not
            predicted = by_name[name].predicted or 0.0
            effects[name] = -predicted if planned_subtracts else by_name[name].logged or 0.0
            continue
        if diff is None or (name == "cudagraph_gib" and not planned_subtracts):
            continue
        effects[name] = diff if name == "requested_gib" else -diff
    kv = by_name["kv_cache_gib"].difference
    if not effects:
        return {
            "explains": None,
            "explanation": "the log states none of the memory terms, so no term can be blamed",
        }
    if kv is not None and abs(kv) <= ROUNDING_GIB:
        return {
            "explains": None,
            "explanation": "predicted KV cache matches the log within its rounding "
            f"({kv:+.2f} GiB)",
        }
    rest = None if kv is None else kv - sum(effects.values())
    name = max(effects, key=lambda n: abs(effects[n]))
    label = by_name[name].label
    if rest is not None and abs(rest) > abs(effects[name]):
        return {
            "explains": None,
            "explanation": f"predicted KV cache is {kv:+.2f} GiB off the log; {rest:+.2f} GiB "
            "of it is in no term the log states: the requested memory (total x utilization) "
            "differs; check --gpu / --vram-gb and gpu_memory_utilization",
        }
    if kv is None:
        return {
            "explains": name,
            "explanation": f"the largest term difference is {label} "
            f"({by_name[name].difference:+.2f} GiB predicted - logged)",
        }
    mismatch = (
        "; the planned vLLM version and the logged run disagree on taking CUDA graphs out of the "
        "KV budget: check the version (--vllm-version)"
        if name == "cudagraph_gib" and planned_subtracts != logged_subtracts
        else ""
    )
    return {
        "explains": name,
        "explanation": f"predicted KV cache is {kv:+.2f} GiB off the log; {label} accounts for "
        f"{effects[name]:+.2f} GiB of it ("
        + ", ".join(f"{by_name[n].label} {v:+.2f}" for n, v in effects.items())
        + ")"
        + mismatch,
    }
