"""The gate: every profile on every GPU target, one verdict per pair, and the exit code.

``run_check(CheckOptions(...)) -> CheckResult`` needs no argparse, so the CLI, the GitHub
Action and tests call the same function. Problems with the run as a whole (a bad flag, an
unknown --gpu, a broken repo config, a missing base revision) raise a CheckerError (exit 2);
problems with one profile are reported in the result and the others are still checked.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from checker.errors import EXIT_GATE_FAILED, EXIT_OK, EXIT_USAGE, CheckerError, UsageError
from checker.gate.collection import fewer_collections
from checker.gate.pairs import PairSettings, check_pair, unplanned_target_problems
from checker.gate.result import ArtifactDrift, BaseDiff, CheckResult, InputProblem, PairResult
from checker.gate.sources.discovery import (
    PathSpec,
    RealFolders,
    Unreadable,
    no_profiles_found,
    parse_spec,
    read_working_file,
    repository_root,
    select,
)
from checker.gate.sources.discovery import working_tree_candidates as tree_files
from checker.gate.sources.model_paths import allowed_dirs
from checker.gate.sources.profiles import Loaded, load_side, profile_folder, targets_of
from checker.gate.sources.repo_config import (
    RepoConfig,
    default_repo_config,
    find_repo_config,
    load_repo_config,
)
from checker.schemas.calibration_file import calibration_path, load_calibration
from checker.schemas.enums import FailOn
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import EngineInput
from checker.schemas.profile_io import LoadedProfile, ProfileRequests, Target, parse_target
from checker.schemas.yaml_model import NO_STDIN


class CheckOptions(NamedTuple):
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
    check_artifacts: bool = False  # regenerate committed artifacts; drift fails the gate
    fix: bool = False  # rewrite drifted artifacts (implies check_artifacts)
    artifacts_dir: Path | None = None  # also write each drifted artifact's regenerated text here
    calibration: Path | None = None  # None = the repo config's, else its default file if any
    plans: bool = True  # complete failing pairs' plans: a report printing them is asked for


# A run keeps its first failing plans whole (about 8 KB of objects each) and packs the rest
# (pickled, about 3 KB): the JSON and markdown reports both read a failing pair's plan, and a
# plan kept whole is never packed nor unpacked. The budget, about 128 MB of whole plans, keeps
# a 10,000-profile fleet on 3 GPUs (some 14,000 failing pairs) whole within issue 17's 300 MB
# (149 MB measured), so time grows with the fleet alone; past it, memory grows 3 KB a plan.
WHOLE_PLANS = 16384


class Setup(NamedTuple):
    """What check and audit share once flags and the repo config are read."""

    cwd: Path
    config: RepoConfig
    specs: list[PathSpec]
    settings: PairSettings


def set_up(
    *,
    cwd: Path | None,
    config: Path | None,
    paths: Sequence[str],
    fail_on: FailOn | None,
    offline: bool,
    lockfile: Path | None,
    record: bool,
    vllm_version: str | None,
    extra_gpus: Sequence[GPUSpec] = (),
    calibration: Path | None = None,
) -> Setup:
    where = (cwd or Path.cwd()).resolve()
    config_path = config or find_repo_config(where)
    repo = load_repo_config(config_path) if config_path else default_repo_config()
    if calibration is not None and not calibration.is_absolute():
        calibration = where / calibration
    if repo.calibration is not None and config_path is not None:
        inside_repository(config_path, repo.calibration, "calibration")
    found, must = calibration_path(calibration, config_path, repo.calibration, where)
    check_version(vllm_version, "--vllm-version")
    check_version(repo.vllm_version, f"{config_path}: vllm_version")
    settings = PairSettings(
        fail_on=fail_on or repo.fail_on,
        offline=offline,
        lockfile=lockfile,
        record=record,
        vllm_version=vllm_version,
        default_vllm_version=repo.vllm_version,
        custom_gpus=(*extra_gpus, *repo.gpus),
        ignore=tuple((i.rule, i.reason) for i in repo.ignore),
        calibration=load_calibration(found, must),
        model_dirs=allowed_dirs(repo, config_path),
    )
    return Setup(where, repo, profile_specs(paths, repo, config_path, where), settings)


def check_version(value: str | None, where: str) -> None:
    """A version the planner can model, or a usage error before anything is planned."""
    from checker.planning.engine.versions import version_facts
    from checker.schemas.section import ValidationError

    if value is None:
        return
    try:
        EngineInput(vllm_version=value)
    except ValidationError:
        raise UsageError(f"{where}: {value[:40]!r} is not a vLLM version like 0.19.0") from None
    version_facts(value)


def working_tree(
    setup: Setup,
    then: Callable[[str, LoadedProfile], None] | None = None,
    *,
    keep: bool = True,
    real: RealFolders | None = None,
) -> tuple[Loaded, list[PathSpec], list[str]]:
    """The profiles the specs find in the working tree, the specs that found none, and the
    files named that are our own artifacts. ``then`` gets each profile as soon as it loads;
    without ``keep`` the returned side holds none, nor their texts (a fleet of profiles stays
    small). ``real``: the folders resolved, shared with ``then``."""
    head = Loaded({}, {}, {})

    def add(rel: str, text: str | Unreadable) -> None:
        head.add(rel, text)
        if then is not None and rel in head.profiles:
            then(rel, head.profiles[rel])
            if not keep:
                del head.profiles[rel], head.texts[rel]

    candidates = tree_files(setup.specs, setup.cwd)
    read = read_working_file(setup.cwd, real)
    _, unmatched, artifacts = select(setup.specs, candidates, read, add)
    return head, unmatched, artifacts


def unmatched_report(
    unmatched: Sequence[PathSpec], artifacts: Sequence[str], at_base: Collection[str] = ()
) -> tuple[list[InputProblem], list[str]]:
    """A named path that exists nowhere is an input error; an empty glob or folder a note, and
    so is a named file that vllm-wizard generated (an artifact is not a profile)."""
    errors: list[InputProblem] = []
    notes = [
        f"{rel!r} was generated by vllm-wizard: an artifact, not a profile" for rel in artifacts
    ]
    for spec in unmatched:
        if spec.kind == "missing" and spec.path not in at_base:
            hint = NO_STDIN if spec.text == "-" else None
            errors.append(
                InputProblem(path=spec.text, message="no such file or directory", hint=hint)
            )
        elif spec.kind != "missing":
            notes.append(f"{spec.text!r} matched no profile")
    return errors, notes


def run_check(options: CheckOptions) -> CheckResult:
    setup = set_up(
        cwd=options.cwd,
        config=options.config,
        paths=options.paths,
        fail_on=options.fail_on,
        offline=options.offline,
        lockfile=options.lockfile,
        record=options.update_lockfile,
        vllm_version=options.vllm_version,
        calibration=options.calibration,
    )
    settings = setup.settings._replace(plans=options.plans)
    targets = resolve_targets(options.gpus or setup.config.targets, settings)
    # --gpu means only those; repo-config targets join each profile's own unless targets_only
    add_own = not options.gpus and not setup.config.targets_only
    revision = None
    if options.base:  # git, diff and artifact modules load only when asked for (cold start)
        from checker.gate.sources.git_base import open_revision

        revision = open_revision(options.base, setup.cwd)
    pairs: list[PairResult] = []
    hidden: list[InputProblem] = []  # own targets that --gpu replaced, which must still exist
    whole = 0  # failing plans kept whole so far
    real = RealFolders()  # the folders the reader resolves, profile_folder reads again

    def plan(rel: str, loaded: LoadedProfile) -> None:
        nonlocal whole
        planned = targets_of(loaded, targets, add_own=add_own)
        base_dir = profile_folder(setup.cwd, rel, real)
        requests = ProfileRequests(loaded.profile, base_dir=base_dir)  # shared by its targets
        for target in planned:
            pack = whole >= WHOLE_PLANS
            pair = check_pair(
                loaded, target, settings, base_dir=base_dir, requests=requests, pack=pack
            )
            whole += pair.plan is not None
            pairs.append(pair)
        hidden.extend(unplanned_target_problems(loaded, planned, settings))

    artifacts_asked = bool(options.check_artifacts or options.fix or options.artifacts_dir)
    # each profile is planned as it loads, and kept only where the diff or artifacts need it
    keep = revision is not None or artifacts_asked
    with fewer_collections():
        head, unmatched, artifacts = working_tree(setup, plan, keep=keep, real=real)
    diff = None
    at_base: list[str] = []
    if revision is not None:
        from checker.gate.diff import build_diff

        at_base, _, _ = select(setup.specs, revision.files, revision.read)
        base = load_side(at_base, revision.read)
        diff = build_diff(revision, head, base, pairs, targets, settings, add_own=add_own)
    errors, notes = unmatched_report(unmatched, artifacts, at_base)
    errors[:0] = [*head.all_problems(), *hidden]
    if not pairs and not errors and not (diff and diff.profiles) and not artifacts:
        raise no_profiles_found(setup.specs)
    drift: list[ArtifactDrift] = []
    if artifacts_asked:
        from checker.gate.artifact_check import check_artifacts

        drift, problems = check_artifacts(
            head, settings, setup.cwd, fix=options.fix, out_dir=options.artifacts_dir
        )
        errors += problems
    return assemble(pairs, errors, notes, diff, settings.fail_on, drift)


def resolve_targets(texts: Sequence[str], settings: PairSettings) -> list[Target]:
    """Parse and look up the given GPU targets once, so a typo stops the run (exit 2)."""
    from checker.hardware.catalog import find_gpu

    targets: list[Target] = []
    for text in texts:
        try:
            target = parse_target(text)
        except CheckerError as exc:
            raise UsageError(f"--gpu: {exc.message}", hint=exc.hint) from None
        if target.gpu.strip().lower() != "auto":
            find_gpu(target.gpu, settings.custom_gpus)
        if target not in targets:
            targets.append(target)
    return targets


def profile_specs(
    paths: Sequence[str], config: RepoConfig, config_path: Path | None, cwd: Path
) -> list[PathSpec]:
    if any(not p.strip() for p in paths):  # '' would read as the current directory: all of it
        raise UsageError(
            "an empty path was given",
            hint="an unset variable in the command line? name files, directories or globs",
        )
    if paths:
        return [parse_spec(p, cwd) for p in paths]
    if config_path is None or not config.profiles:
        raise UsageError(
            "no profiles given",
            hint="pass files, directories or globs, or set 'profiles:' in .vllm-wizard.yaml",
        )
    for glob in config.profiles:
        inside_repository(config_path, glob, "profiles")
    folder = config_path.resolve().parent
    return [parse_spec(str(folder / glob), cwd) for glob in config.profiles]


def inside_repository(config_path: Path, relative: str, key: str) -> None:
    """A committed config names the repository's own files: never /usr/**, ../elsewhere or
    /proc/self/environ (a pull request may change the config that CI reads)."""
    folder = config_path.resolve().parent
    root = repository_root(folder)
    if not Path(os.path.normpath(folder / relative)).is_relative_to(root):
        raise UsageError(
            f"{config_path}: {key}: {relative!r} reaches outside the repository ({root})",
            hint="give paths relative to the config, inside the repository; "
            "name other files on the command line",
        )


def assemble(
    pairs: list[PairResult],
    errors: list[InputProblem],
    notes: list[str],
    diff: BaseDiff | None,
    fail_on: FailOn,
    drift: Sequence[ArtifactDrift] = (),
) -> CheckResult:
    counts = {"pass": 0, "warn": 0, "fail": 0, "error": len(errors)}
    for pair in pairs:
        counts[pair.verdict.lower()] += 1
    if counts["error"]:
        code = EXIT_USAGE
    elif any(p.failed for p in pairs) or any(not d.fixed for d in drift):
        code = EXIT_GATE_FAILED
    else:
        code = EXIT_OK
    verdict: Literal["PASS", "WARN", "FAIL"] = (
        "FAIL" if code != EXIT_OK else "WARN" if counts["warn"] else "PASS"
    )
    if code == EXIT_OK and drift:
        # --fix wrote (or created) artifacts: exit 1 like a formatter, so they get staged; a
        # created file is invisible to pre-commit's own check for changed files
        code = EXIT_GATE_FAILED
    return CheckResult(
        verdict=verdict,
        exit_code=code,
        fail_on=fail_on,
        counts=counts,
        pairs=pairs,
        errors=errors,
        notes=notes,
        diff=diff,
        drift=list(drift),
    )
