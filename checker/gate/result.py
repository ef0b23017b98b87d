"""What ``run_check`` returns. Every report format (and the GitHub side) reads only this.

Plain records (checker.schemas.records): nothing a user wrote is validated through them, so a
cold start builds no validator for them. The JSON report (gate/formats/json_report.py)
writes them with ``record_json``: the field names below, in their order, are its keys, stable
within ``schema_version`` 1. Paths are posix and relative to the directory the check ran in (the
repository root in CI, so they work as annotation and SARIF paths).
"""

from __future__ import annotations

from dataclasses import field, replace
from typing import TYPE_CHECKING, Literal

from checker.schemas.enums import FailOn, OOMRisk, Severity
from checker.schemas.records import Record, record

if TYPE_CHECKING:
    from checker.schemas.outputs import PlanResponse

PACKED = {"packed_plan"}  # a pair's field the JSON never writes
GateVerdict = Literal["PASS", "WARN", "FAIL", "ERROR"]
ChangeStatus = Literal["new", "removed", "changed", "unchanged"]


@record
class InputProblem(Record):
    """A profile (or a profile x target) that could not be checked: bad YAML, an unknown key,
    an unknown GPU, a model found nowhere. Any of these makes the exit code 2."""

    path: str
    line: int | None = None
    column: int | None = None
    message: str
    hint: str | None = None
    details: list[str] = field(default_factory=list)  # further problems, one each


@record
class GateFinding(Record):
    """A planner finding (or the gate's own OOM-risk finding) placed on a profile line."""

    rule_id: str  # VW1xx/VW2xx/VW3xx from the planner
    name: str
    severity: Severity  # error: fails the gate under its fail_on policy
    estimated: bool = False  # a high (or medium) OOM risk: depends on an estimated term
    message: str
    key: str  # dotted profile key, e.g. model.max_model_len
    line: int | None  # 1-based line of that key (or its nearest parent)
    fix: str = ""
    suppressed: str | None = None  # why its rule is ignored (profile or repo config); None: counts


@record
class Figures(Record):
    """The numbers a diff compares, before -> after (all None but the verdict for ERROR)."""

    verdict: GateVerdict
    kv_tokens: int | None = None  # GPU KV cache size in tokens, as vLLM logs
    max_concurrency: float | None = None  # requests at max_model_len that fit at once
    headroom_gib: float | None = None  # KV memory left after the workload's concurrency
    # estimated output tokens/s of the instance at the workload's concurrency
    throughput_toks_per_s: tuple[float, float] | None = None
    oom_risk: OOMRisk | None = None
    targets_met: tuple[int, int] | None = None  # (met, stated) serving targets; None: none stated


@record
class PlanSummary(Record):
    """What the reports print of a pair's plan; the full plan is kept only where it is shown
    (a failing pair's details), so a fleet of thousands of pairs stays small in memory."""

    tensor_parallel_size: int
    pipeline_parallel_size: int
    max_model_len: int
    vllm_version: str  # the vLLM release it was planned for
    memory_gib: float  # GPU memory the plan takes on one GPU
    oom_risk_reason: str = ""
    num_gpus_used: int = 1  # GPUs of the whole deployment (every DP engine)
    # estimated requests/s the deployment completes when saturated (slow, fast); only where
    # the workload states a request rate
    max_request_rate: tuple[float, float] | None = None


@record
class PairResult(Record):
    """One profile on one GPU target."""

    profile: str  # path of the profile file
    target: str  # the GPU target as requested, "NAME:COUNT"
    gpu: str | None  # canonical catalog (or custom) GPU name it was planned on
    model: str  # model.id of the profile
    # FAIL: a finding fails under fail_on (a start-up error, a high OOM risk, or with fail_on
    # warning any warning); WARN: warnings; ERROR: could not be planned
    verdict: GateVerdict
    failed: bool  # counts against the gate: FAIL or ERROR
    findings: list[GateFinding] = field(default_factory=list)
    suppressed: list[GateFinding] = field(default_factory=list)  # of ignored rules, not counted
    figures: Figures
    error: InputProblem | None = None
    summary: PlanSummary | None = None  # None: ERROR, it was not planned
    plan: PlanResponse | None = None  # the full plan, of a FAIL pair only (markdown details)
    # a FAIL pair's plan packed (pack_plan): a fleet has thousands of them. Not in the JSON:
    # the writers write full_plan() as "plan" (PACKED)
    packed_plan: bytes | None = field(default=None, repr=False)

    def full_plan(self) -> PlanResponse | None:
        if self.plan is not None or self.packed_plan is None:
            return self.plan
        import pickle  # only a failing pair's plan is packed: kept off a passing check's start

        plan: PlanResponse = pickle.loads(self.packed_plan)
        return plan

    def unpacked(self) -> PairResult:
        """As the JSON report writes it: the plan whole (``record_json(..., exclude=PACKED)``)."""
        return self if self.packed_plan is None else replace(self, plan=self.full_plan())


@record
class PairChange(Record):
    """One GPU target's figures, before -> after."""

    target: str
    before: Figures | None  # None: the target is new in head
    after: Figures | None  # None: the target was dropped in head


@record
class ProfileChange(Record):
    """One profile against the base revision."""

    profile: str
    status: ChangeStatus  # changed: the file or any before -> after figure differs
    pairs: list[PairChange] = field(default_factory=list)
    base_error: str | None = None  # why the base copy could not be planned


@record
class BaseDiff(Record):
    """The profiles against --base."""

    ref: str  # --base as given
    commit: str  # the commit it resolved to
    profiles: list[ProfileChange]  # every profile of either side; reports summarise unchanged

    def with_status(self, *status: ChangeStatus) -> list[ProfileChange]:
        return [p for p in self.profiles if p.status in status]


@record
class ArtifactDrift(Record):
    """A committed artifact that differs from what its profile generates (--check-artifacts)."""

    profile: str
    kind: str  # command, docker, compose, k8s, helm, report, bench, profile
    path: str  # the artifact file
    line: int | None  # line of outputs.artifacts.<kind> in the profile
    diff: str  # unified diff from the committed text to the generated one
    fixed: bool  # rewritten by --fix (then it does not fail the gate)
    missing: bool = False  # no committed file (never generated, or deleted): --fix creates it


@record
class CheckResult(Record):
    """Everything one ``vllm-wizard check`` found; the JSON report is this record."""

    schema_version: Literal[1] = 1
    # FAIL when a pair fails, an artifact drifted or an input is bad; else WARN if any pair
    # warns; else PASS
    verdict: Literal["PASS", "WARN", "FAIL"]
    # 0 pass, 1 a profile fails, an artifact drifted or --fix wrote one (stage it), 2 input or
    # usage error
    exit_code: int
    fail_on: FailOn
    # "pass", "warn", "fail", "error": pairs by verdict; profiles that failed to load are errors
    counts: dict[str, int]
    pairs: list[PairResult]  # profile x target, in path then target order
    errors: list[InputProblem] = field(default_factory=list)  # profiles not read or validated
    notes: list[str] = field(default_factory=list)  # e.g. a glob that matched nothing
    diff: BaseDiff | None = None  # present with --base
    drift: list[ArtifactDrift] = field(default_factory=list)  # --check-artifacts: drifted

    def failing(self) -> list[PairResult]:
        return [p for p in self.pairs if p.failed]


def pack_plan(plan: PlanResponse) -> bytes:
    """``plan`` packed (pickled: our own objects, never read from outside this process), a
    fraction of the objects' memory; ``PairResult.full_plan()`` unpacks it."""
    import pickle

    return pickle.dumps(plan, pickle.HIGHEST_PROTOCOL)
