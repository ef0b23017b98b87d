"""Plan one profile on one GPU target and judge it for the gate.

The gate's verdict is the plan's under the run's fail_on policy (checker.planning.verdict),
the same function ``plan`` uses: the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from checker.errors import CheckerError, GPUNotFoundError, ModelConfigError
from checker.gate.result import (
    Figures,
    GateFinding,
    GateVerdict,
    InputProblem,
    PairResult,
    PlanSummary,
    pack_plan,
)
from checker.gate.sources.model_paths import check_model_paths
from checker.hardware.catalog import find_gpu
from checker.pipeline import assess_request, draft_and_key, own_gpu_errors, target_key
from checker.planning.planner import complete
from checker.planning.verdict import judge_feasibility
from checker.schemas.enums import FailOn, Verdict
from checker.schemas.gpu import GPUSpec
from checker.schemas.outputs import FeasibilityReport, Finding, PerfEstimate
from checker.schemas.profile_io import LoadedProfile, ProfileRequests, Target

if TYPE_CHECKING:  # its classes are defined only where a calibration file is read
    from checker.schemas.calibration import Calibration


class PairSettings(NamedTuple):
    """What every pair of one run shares."""

    fail_on: FailOn = FailOn.ERROR
    offline: bool = False
    lockfile: Path | None = None
    record: bool = False  # add models fetched from the Hub to the lockfile
    vllm_version: str | None = None  # overrides every profile's pin (--vllm-version)
    default_vllm_version: str | None = None  # for profiles that pin none (repo config)
    custom_gpus: tuple[GPUSpec, ...] = ()  # the repo config's
    ignore: tuple[tuple[str, str], ...] = ()  # the repo config's (rule id, reason)
    keep_plans: bool = False  # every pair keeps its plan's objects; else a FAIL pair, packed
    # a FAIL pair's plan is completed (recommendations) and kept: the reports that print it
    # (formats.PLAN_FORMATS) are asked for; else its figures and findings only
    plans: bool = True
    calibration: Calibration | None = None  # measured terms (vllm-wizard calibrate)
    model_dirs: tuple[Path, ...] = ()  # outside the repository, where model.config may lead


def check_pair(
    loaded: LoadedProfile,
    target: Target,
    settings: PairSettings,
    *,
    base_dir: Path,
    requests: ProfileRequests | None = None,
    pack: bool = True,
) -> PairResult:
    """Plan ``loaded`` on ``target``; a problem with the input becomes an ERROR pair.
    ``requests``: the profile's requests (same ``base_dir``), shared by its targets; ``pack``:
    a FAIL pair's plan is packed (pack_plan), else kept whole (a few KB more)."""
    profile = loaded.profile
    display = loaded.path.as_posix()
    try:
        requests = requests or ProfileRequests(profile, base_dir=base_dir)
        request, hardware = requests.sections(target)  # one copy below sets all they change
        model = profile.model
        drafter = draft_and_key(request)
        paths = (model.config, model.id, base_dir, settings.model_dirs, drafter)
        if paths not in requests.checked:  # the profile's other targets read the same paths
            check_model_paths(*paths)
            requests.checked.add(paths)
        if hardware.custom_gpu is None and target.gpu.strip().lower() != "auto":
            customs = (*profile.hardware.custom_gpus, *settings.custom_gpus)
            hardware = hardware.model_copy(update={"custom_gpu": find_gpu(target.gpu, customs)})
        engine = request.engine
        version = settings.vllm_version or engine.vllm_version or settings.default_vllm_version
        if version != engine.vllm_version:  # most pairs keep their pin: no copy
            engine = engine.model_copy(update={"vllm_version": version})
        ignore = {**dict(settings.ignore), **request.ignore}  # the profile's reason first
        assessment = assess_request(
            request.model_copy(update={"hardware": hardware, "engine": engine, "ignore": ignore}),
            offline=settings.offline,
            lockfile=settings.lockfile,
            record=settings.record,
            calibration=settings.calibration,
        )
        # its findings under fail_on; only a failing pair's plan is printed (or a kept one):
        # the others need no advice
        feasibility = judge_feasibility(assessment.feasibility, settings.fail_on)
        failing = feasibility.verdict is Verdict.FAIL
        wanted = (failing and settings.plans) or settings.keep_plans
        plan = complete(assessment, feasibility) if wanted else None
    except CheckerError as exc:
        key = exc.key or ("model.config" if isinstance(exc, ModelConfigError) else "model.id")
        if isinstance(exc, GPUNotFoundError):
            key = target_key(loaded, target)
        return PairResult(
            profile=display,
            target=str(target),
            gpu=None,
            model=profile.model.id,
            verdict="ERROR",
            failed=True,
            figures=Figures(verdict="ERROR"),
            error=problem_from_error(exc, display, loaded.line_of(key)),
        )
    performance = assessment.performance
    version = assessment.context.settings.facts.version
    verdict = _VERDICTS[feasibility.verdict]
    keep = settings.keep_plans or not pack
    packed = pack_plan(plan) if plan is not None and not keep else None
    return PairResult(
        profile=display,
        target=str(target),
        gpu=feasibility.gpu,
        model=profile.model.id,
        verdict=verdict,
        failed=verdict == "FAIL",
        findings=[_gate_finding(f, loaded) for f in feasibility.findings],
        suppressed=[_gate_finding(f, loaded) for f in feasibility.suppressed],
        figures=figures_of(feasibility, performance),
        summary=summary_of(feasibility, performance, version),
        plan=plan if keep else None,
        packed_plan=packed,
    )


def summary_of(
    feasibility: FeasibilityReport, performance: PerfEstimate, version: str
) -> PlanSummary:
    f = feasibility
    return PlanSummary(
        tensor_parallel_size=f.tensor_parallel_size,
        pipeline_parallel_size=f.pipeline_parallel_size,
        max_model_len=f.max_model_len,
        vllm_version=version,
        memory_gib=f.memory.total_gib,
        oom_risk_reason=f.oom_risk_reason,
        num_gpus_used=f.num_gpus_used,
        max_request_rate=performance.max_request_rate,
    )


_VERDICTS: dict[Verdict, GateVerdict] = {
    Verdict.PASS: "PASS",
    Verdict.WARN: "WARN",
    Verdict.FAIL: "FAIL",
}


def _gate_finding(f: Finding, loaded: LoadedProfile) -> GateFinding:
    return GateFinding(
        rule_id=f.rule_id,
        name=f.name,
        severity=f.severity,
        message=f.message,
        key=f.key,
        line=loaded.line_of(f.key),
        estimated=f.estimated,
        fix=f.fix,
        suppressed=f.suppressed,
    )


def figures_of(feasibility: FeasibilityReport, performance: PerfEstimate) -> Figures:
    """A plan's figures; the KV ones only where vLLM gets as far as a KV cache."""
    f = feasibility
    starts = f.reaches_kv_cache
    slos = performance.slos
    return Figures(
        verdict=_VERDICTS[f.verdict],
        kv_tokens=f.kv.tokens if f.kv else None,
        max_concurrency=f.max_concurrency_at_context if starts else None,
        headroom_gib=f.headroom_gib,
        throughput_toks_per_s=performance.throughput_toks_per_s_range if starts else None,
        oom_risk=f.oom_risk if starts else None,
        targets_met=(sum(s.status == "met" for s in slos), len(slos)) if slos else None,
    )


def unplanned_target_problems(
    loaded: LoadedProfile, planned: Sequence[Target], settings: PairSettings
) -> list[InputProblem]:
    """The profile's own GPU targets this run does not plan (``--gpu`` replaced them) must
    still exist."""
    errors = own_gpu_errors(loaded, skip=planned, customs=settings.custom_gpus)
    return [
        problem_from_error(e, loaded.path.as_posix(), loaded.line_of(e.key or "")) for e in errors
    ]


def problem_from_error(exc: CheckerError, path: str, line: int | None = None) -> InputProblem:
    """An input problem at the error's own location, else at ``path:line``."""
    column: int | None = None
    if exc.location:
        path, line, column = split_location(exc.location)
    return InputProblem(
        path=path,
        line=line,
        column=column,
        message=exc.message,
        hint=exc.hint,
        details=exc.details[1:],
    )


def problems_from_error(exc: CheckerError, path: str) -> list[InputProblem]:
    """The error and every related one (all the schema problems of a file), each at its line."""
    return [problem_from_error(e, path) for e in (exc, *exc.related)]


def split_location(location: str) -> tuple[str, int | None, int | None]:
    """ "file:line:col" (or "file:line", or "file") into its parts."""
    parts = location.rsplit(":", 2)
    numbers: list[int] = []
    while len(parts) > 1 and parts[-1].isdigit():
        numbers.insert(0, int(parts.pop()))
    path = ":".join(parts)
    return path, (numbers[0] if numbers else None), (numbers[1] if len(numbers) > 1 else None)
