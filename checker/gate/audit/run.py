"""``vllm-wizard audit``: every profile on every GPU of a fleet, in parallel processes.

Besides the verdicts it looks for what is close to the edge (it passes, but with little
concurrency to spare or a medium OOM risk) and for profiles that would also pass on a
cheaper fleet entry (a lower price, or less GPU memory when prices are not given), and ranks
each profile's priced options by their estimated cost per million output tokens at its targets.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from checker.gate.audit.cost import CostOption, cost_ranking
from checker.gate.audit.fleet import Fleet, FleetEntry
from checker.gate.audit.readout import CheaperOption, EdgeCase, cheaper_options, edge_cases
from checker.gate.check import assemble, set_up, unmatched_report, working_tree
from checker.gate.collection import fewer_collections
from checker.gate.pairs import PairSettings, check_pair
from checker.gate.progress import Progress
from checker.gate.result import CheckResult, PairResult
from checker.gate.sources.discovery import no_profiles_found
from checker.gate.sources.profiles import profile_folder
from checker.schemas.enums import FailOn
from checker.schemas.profile_io import ProfileRequests, Target, load_profile_text
from checker.schemas.records import Record, record


@dataclass(frozen=True)
class AuditOptions:
    fleet: Fleet
    paths: Sequence[str] = ()  # () = the repo config's globs
    config: Path | None = None
    vllm_version: str | None = None
    fail_on: FailOn | None = None
    offline: bool = False
    lockfile: Path | None = None
    jobs: int = 0  # processes; 0 = CPU count, 1 = in this process
    cwd: Path | None = None
    calibration: Path | None = None  # None = the repo config's, else its default file if any


@record
class AuditResult(Record):
    """The check of profiles x fleet, plus what the audit reads out of it."""

    schema_version: int = 1
    check: CheckResult
    fleet: list[FleetEntry]
    edge: list[EdgeCase]
    cheaper: list[CheaperOption]
    costs: list[CostOption]


def run_audit(options: AuditOptions, progress: Progress | None = None) -> AuditResult:
    setup = set_up(
        cwd=options.cwd,
        config=options.config,
        paths=options.paths,
        fail_on=options.fail_on,
        offline=options.offline,
        lockfile=options.lockfile,
        record=False,  # worker processes must not race on writing the lockfile
        vllm_version=options.vllm_version,
        extra_gpus=options.fleet.custom_gpus,
        calibration=options.calibration,
    )
    options.fleet.check_gpus(setup.settings.custom_gpus)
    side, unmatched, artifacts = working_tree(setup)
    jobs = [(side.texts[rel], rel, str(profile_folder(setup.cwd, rel))) for rel in side.profiles]
    targets = [entry.target for entry in options.fleet.targets]
    with fewer_collections():  # the serial batch, and the results the workers send back
        pairs = _run_all(jobs, targets, setup.settings, options.jobs, progress)
    errors, notes = unmatched_report(unmatched, artifacts)
    errors[:0] = side.all_problems()
    if not pairs and not errors and not artifacts:
        raise no_profiles_found(setup.specs)
    check = assemble(pairs, errors, notes, None, setup.settings.fail_on)
    return AuditResult(
        check=check,
        fleet=options.fleet.targets,
        edge=edge_cases(check.pairs, side.profiles),
        cheaper=cheaper_options(check.pairs, options.fleet, side.profiles, setup.settings),
        costs=cost_ranking(check.pairs, options.fleet, side.profiles),
    )


_Job = tuple[str, str, str]  # a profile's text, its path, the folder its paths are read from
_CHUNKS_PER_WORKER = 8  # enough for the workers to finish together
_MAX_CHUNK = 16  # profiles: progress moves at least every 16 x len(targets) pairs


def _plan_profile(job: _Job, targets: Sequence[Target], settings: PairSettings) -> list[PairResult]:
    """The profile on each target, parsed once and its request shared (as ``check`` plans)."""
    text, rel, base_dir = job
    loaded, folder = load_profile_text(text, rel), Path(base_dir)
    requests = ProfileRequests(loaded.profile, base_dir=folder)
    return [check_pair(loaded, t, settings, base_dir=folder, requests=requests) for t in targets]


def _plan_chunk(
    chunk: Sequence[_Job], targets: Sequence[Target], settings: PairSettings
) -> list[list[PairResult]]:
    with fewer_collections():  # a worker's own batch
        return [_plan_profile(job, targets, settings) for job in chunk]


def _run_all(
    jobs: Sequence[_Job],
    targets: Sequence[Target],
    settings: PairSettings,
    workers: int,
    progress: Progress | None,
) -> list[PairResult]:
    """Plan every profile on every target, in worker processes unless one worker (or one
    profile) is asked for. Progress counts pairs: 0, then each pair as its profile is done."""
    results: list[list[PairResult]] = [[] for _ in jobs]
    total, done = len(jobs) * len(targets), 0

    def finish(i: int, planned: list[PairResult]) -> None:
        nonlocal done
        results[i] = planned
        for _ in planned:
            done += 1
            if progress:
                progress(done, total)

    if progress:
        progress(0, total)
    workers = workers or os.cpu_count() or 1
    # the first profile is planned here: the imports and catalogs it loads are then inherited
    # by the forked workers, not loaded again in each
    first = 1 if workers > 1 else len(jobs)
    for i in range(min(first, len(jobs))):
        finish(i, _plan_profile(jobs[i], targets, settings))
    rest = len(jobs) - first
    if rest > 0:
        workers = min(workers, rest)
        # a task per chunk of profiles, not per pair: each costs the parent a pickle both ways
        size = max(1, min(_MAX_CHUNK, rest // (workers * _CHUNKS_PER_WORKER)))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {
                pool.submit(_plan_chunk, jobs[start : start + size], targets, settings): start
                for start in range(first, len(jobs), size)
            }
            for future in as_completed(futures):
                for offset, planned in enumerate(future.result()):
                    finish(futures[future] + offset, planned)
    return [pair for planned in results for pair in planned]
