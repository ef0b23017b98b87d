"""The memory terms a start-up log measured, per pipeline stage. Pure: log in, figures out.

A stage's figures are those of its rank with the least "Available KV cache memory" (vLLM sizes
every rank's cache to the minimum, v1/core/kv_cache_utils.py unify_kv_cache_configs). The
block count and tokens are logged once for the whole engine, so they are returned beside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from checker.logs.compare import derived_activation
from checker.logs.reader import Fact, LogReadError, RankFigures, StartupLog

_STAGE = re.compile(r"PP(\d+)")
# term -> the log's figures that state it, in order of preference (the CUDA-graph pool as
# captured before vLLM's own estimate of it)
_TERMS = {
    "weights_gib": ("weights_gib", "profile_weights_gib"),
    "activation_gib": ("activation_gib",),
    "non_torch_gib": ("non_torch_gib",),
    "cudagraph_gib": ("cudagraph_gib", "graph_capture_gib", "cudagraph_estimated_gib"),
    "kv_cache_gib": ("kv_cache_gib",),
}


@dataclass(frozen=True)
class LoggedStage:
    stage: int
    rank: str
    terms: dict[str, Fact]  # _TERMS' names that the rank logged


@dataclass(frozen=True)
class LoggedMemory:
    stages: tuple[LoggedStage, ...]
    gpu_blocks: Fact | None  # the engine's block count, after unification
    kv_cache_tokens: Fact | None


def _terms(rank: RankFigures) -> dict[str, Fact]:
    found: dict[str, Fact] = {}
    for term, names in _TERMS.items():
        fact = next((f for n in names if (f := rank.first(n)) is not None), None)
        if fact is not None:
            found[term] = fact
    return found


def logged_memory(log: StartupLog, pipeline_stages: int) -> LoggedMemory:
    """Each stage's logged terms; a log that sized no KV cache, or whose ranks do not say
    which stage they are, is a LogReadError."""
    by_stage: dict[int, list[tuple[RankFigures, dict[str, Fact]]]] = {}
    for rank in log.ranks:
        terms = _terms(rank)
        if "kv_cache_gib" not in terms:
            continue
        match = _STAGE.search(rank.rank)
        stage = int(match.group(1)) if match else (0 if pipeline_stages == 1 else -1)
        by_stage.setdefault(stage, []).append((rank, terms))
    if not by_stage:
        raise LogReadError(
            "the log states no 'Available KV cache memory' (or V0 KV cache size): vLLM did not "
            "get as far as sizing the KV cache, so it measured nothing to calibrate with",
            location=log.source,
            hint="calibrate with the log of a start that reached 'GPU KV cache size'; for a "
            "failed start use 'vllm-wizard explain'",
        )
    missing = [s for s in range(pipeline_stages) if s not in by_stage]
    if missing:
        raise LogReadError(
            f"the log has no KV cache figure for pipeline stage(s) {missing} of {pipeline_stages}",
            location=log.source,
            hint="give the full log of every worker (their lines start with '(Worker_PP<n>')",
        )
    stages = []
    for stage in range(pipeline_stages):
        rank, terms = min(by_stage[stage], key=lambda rt: float(rt[1]["kv_cache_gib"].value))
        if "activation_gib" not in terms:  # V0 0.6.3/0.6.4: peak torch less the weights
            derived = derived_activation(log)
            if derived is not None:
                terms = {**terms, "activation_gib": derived[0]}
        stages.append(LoggedStage(stage, rank.rank, terms))
    return LoggedMemory(tuple(stages), log.first("gpu_blocks"), log.first("kv_cache_tokens"))
