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
from checker.gate.pairs import PairSettings, check_pair
from checker.gate.progress import Progress
from checker.gate.result import CheckResult, PairResult
from checker.gate.sources.discovery import no_profiles_found
from checker.gate.sources.profiles import profile_folder
from checker.schemas.enums import FailOn
from checker.schemas.profile_io import Target, load_profile_text
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
    jobs = [
        (side.texts[rel], rel, str(profile_folder(setup.cwd, rel)), entry.target, setup.settings)
        for rel in side.profiles
        for entry in options.fleet.targets
    ]
    pairs = _run_all(jobs, options.jobs, progress)
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


_Job = tuple[str, str, str, Target, PairSettings]


def _plan_one(job: _Job) -> PairResult:
    text, rel, base_dir, target, settings = job
    return check_pair(load_profile_text(text, rel), target, settings, base_dir=Path(base_dir))


def _run_all(jobs: list[_Job], workers: int, progress: Progress | None) -> list[PairResult]:
    """Plan every job, in worker processes unless one worker (or one job) is asked for."""
    results: list[PairResult | None] = [None] * len(jobs)
    workers = workers or os.cpu_count() or 1
    if progress:
        progress(0, len(jobs))
    if workers == 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            results[i] = _plan_one(job)
            if progress:
                progress(i + 1, len(jobs))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            futures = {pool.submit(_plan_one, job): i for i, job in enumerate(jobs)}
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                if progress:
                    progress(done, len(jobs))
    return [r for r in results if r is not None]
