"""The gate: every profile on every GPU target, one verdict per pair, and the exit code.

``run_check(CheckOptions(...)) -> CheckResult`` needs no argparse, so the CLI, the GitHub
Action and tests call the same function. Problems with the run as a whole (a bad flag, an
unknown --gpu, a broken repo config, a missing base revision) raise a CheckerError (exit 2);
problems with one profile are reported in the result and the others are still checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from checker.errors import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE, CheckerError, UsageError
from checker.gate.diff import build_diff
from checker.gate.discovery import PathSpec, parse_spec, read_working_file, select
from checker.gate.discovery import working_tree_candidates as tree_files
from checker.gate.git_base import open_revision
from checker.gate.pairs import PairSettings, check_pair
from checker.gate.profiles import load_side, targets_of
from checker.gate.repo_config import FailOn, RepoConfig, find_repo_config, load_repo_config
from checker.gate.result import BaseDiff, CheckResult, InputProblem, PairResult
from checker.schemas.profile_io import Target, parse_target


@dataclass(frozen=True)
class CheckOptions:
    paths: Sequence[str] = ()  # files, directories, globs; () = the repo config's globs
    gpus: Sequence[str] = ()  # "NAME[:COUNT]"; () = repo config targets, else each profile's
    config: Path | None = None  # repo config; None = .vllm-wizard.yaml found from cwd up
    vllm_version: str | None = None  # check every profile against this version
    fail_on: FailOn | None = None  # None = the repo config's (default: error)
    base: str | None = None  # git revision to diff against
    offline: bool = False  # never contact the Hugging Face Hub
    lockfile: Path | None = None  # model metadata lockfile, read before the Hub
    update_lockfile: bool = False  # record models fetched from the Hub into it
    cwd: Path | None = None  # where relative paths start; None = the current directory


def run_check(options: CheckOptions) -> CheckResult:
    cwd = (options.cwd or Path.cwd()).resolve()
    config_path = options.config or find_repo_config(cwd)
    config = load_repo_config(config_path) if config_path else RepoConfig()
    settings = PairSettings(
        fail_on=options.fail_on or config.fail_on,
        offline=options.offline,
        lockfile=options.lockfile,
        record=options.update_lockfile,
        vllm_version=options.vllm_version,
        default_vllm_version=config.vllm_version,
        custom_gpus=tuple(config.gpus),
    )
    targets = resolve_targets(options.gpus or config.targets, settings)
    specs = profile_specs(options.paths, config, config_path, cwd)
    revision = open_revision(options.base, cwd) if options.base else None

    chosen, unmatched = select(specs, tree_files(specs, cwd), read_working_file(cwd))
    head = load_side(chosen, read_working_file(cwd))
    pairs = [
        check_pair(loaded, target, settings, base_dir=(cwd / rel).parent)
        for rel, loaded in head.profiles.items()
        for target in targets_of(loaded, targets)
    ]
    diff = None
    at_base: set[str] = set()
    if revision is not None:
        base_chosen, _ = select(specs, revision.files, revision.read)
        at_base = set(base_chosen)
        base = load_side(base_chosen, revision.read)
        diff = build_diff(revision, head, base, pairs, targets, settings)
    errors = list(head.problems.values())
    notes: list[str] = []
    for spec in unmatched:
        if spec.kind == "missing" and spec.path not in at_base:
            errors.append(InputProblem(path=spec.text, message="no such file or directory"))
        elif spec.kind != "missing":
            notes.append(f"{spec.text!r} matched no profile")
    if not pairs and not errors and not (diff and diff.profiles):
        raise UsageError(
            f"no profiles found in {', '.join(s.text for s in specs)}",
            hint="a profile is a YAML file with a top-level 'model' mapping",
        )
    return assemble(pairs, errors, notes, diff, settings.fail_on)


def resolve_targets(texts: Sequence[str], settings: PairSettings) -> list[Target]:
    """Parse and look up the given GPU targets once, so a typo stops the run (exit 2)."""
    from checker.hardware.catalog import find_gpu

    targets: list[Target] = []
    for text in texts:
        try:
            target = parse_target(text)
        except CheckerError as exc:
            raise UsageError(f"--gpu: {exc.message}") from None
        if target.gpu.strip().lower() != "auto":
            find_gpu(target.gpu, settings.custom_gpus)
        if target not in targets:
            targets.append(target)
    return targets


def profile_specs(
    paths: Sequence[str], config: RepoConfig, config_path: Path | None, cwd: Path
) -> list[PathSpec]:
    if paths:
        return [parse_spec(p, cwd) for p in paths]
    if config_path is None or not config.profiles:
        raise UsageError(
            "no profiles given",
            hint="pass files, directories or globs, or set 'profiles:' in .vllm-wizard.yaml",
        )
    folder = config_path.resolve().parent
    return [parse_spec(str(folder / glob), cwd) for glob in config.profiles]


def assemble(
    pairs: list[PairResult],
    errors: list[InputProblem],
    notes: list[str],
    diff: BaseDiff | None,
    fail_on: FailOn,
) -> CheckResult:
    counts = {"pass": 0, "warn": 0, "fail": 0, "error": len(errors)}
    for pair in pairs:
        counts[pair.verdict.lower()] += 1
    if counts["error"]:
        code = EXIT_USAGE
    elif any(p.failed for p in pairs):
        code = EXIT_GATE_FAILED
    else:
        code = EXIT_OK
    verdict: Literal["PASS", "WARN", "FAIL"] = (
        "FAIL" if code != EXIT_OK else "WARN" if counts["warn"] else "PASS"
    )
    return CheckResult(
        verdict=verdict,
        exit_code=code,
        fail_on=fail_on,
        counts=counts,
        pairs=pairs,
        errors=errors,
        notes=notes,
        diff=diff,
    )
