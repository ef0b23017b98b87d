"""What ``run_check`` returns. Every report format (and the GitHub side) reads only this.

Plain records (frozen dataclasses): nothing a user wrote is validated through them, so a cold
start builds no pydantic model for them. The JSON format is ``record_json(result)``: the field
names below, in their order, are its keys, stable within ``schema_version`` 1. Paths are posix
and relative to the directory the check ran in (the repository root in CI, so they work as
annotation and SARIF paths).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic_core import to_json

from checker.schemas.enums import FailOn, OOMRisk, Severity

if TYPE_CHECKING:
    from checker.schemas.outputs import PlanResponse

GateVerdict = Literal["PASS", "WARN", "FAIL", "ERROR"]
ChangeStatus = Literal["new", "removed", "changed", "unchanged"]
_NOT_JSON = {"json": False}  # field metadata: kept in memory, never written


@dataclass(frozen=True, slots=True, kw_only=True)
class InputProblem:
    """A profile (or a profile x target) that could not be checked: bad YAML, an unknown key,
    an unknown GPU, a model found nowhere. Any of these makes the exit code 2."""

    path: str
    line: int | None = None
    column: int | None = None
    message: str
    hint: str | None = None
    details: list[str] = field(default_factory=list)  # further problems, one each


@dataclass(frozen=True, slots=True, kw_only=True)
class GateFinding:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """The numbers a diff compares, before -> after (all None but the verdict for ERROR)."""

    verdict: GateVerdict
    kv_tokens: int | None = None  # GPU KV cache size in tokens, as vLLM logs
    max_concurrency: float | None = None  # requests at max_model_len that fit at once
    headroom_gib: float | None = None  # KV memory left after the workload's concurrency
    # estimated output tokens/s of the instance at the workload's concurrency
    throughput_toks_per_s: tuple[float, float] | None = None
    oom_risk: OOMRisk | None = None
    targets_met: tuple[int, int] | None = None  # (met, stated) serving targets; None: none stated


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanSummary:
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PairResult:
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
    # a FAIL pair's plan as compact JSON (pack_plan), a fifth of the objects' memory: a fleet
    # has thousands; full_plan() and the JSON report unpack it
    packed_plan: bytes | None = field(default=None, repr=False, metadata=_NOT_JSON)

    def full_plan(self) -> PlanResponse | None:
        if self.plan is not None or self.packed_plan is None:
            return self.plan
        from checker.schemas.outputs import PlanResponse

        return PlanResponse.model_validate_json(self.packed_plan)

    def plan_json(self) -> Any:
        """The plan as the JSON report writes it: JSON out of JSON where it is packed
        (pack_plan checked it gives the plan back), so no objects are built only to be
        written out again."""
        if self.plan is None and self.packed_plan is not None:
            return json.loads(self.packed_plan)
        return self.plan


@dataclass(frozen=True, slots=True, kw_only=True)
class PairChange:
    target: str
    before: Figures | None  # None: the target is new in head
    after: Figures | None  # None: the target was dropped in head


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileChange:
    profile: str
    status: ChangeStatus  # changed: the file or any before -> after figure differs
    pairs: list[PairChange] = field(default_factory=list)
    base_error: str | None = None  # why the base copy could not be planned


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseDiff:
    ref: str  # --base as given
    commit: str  # the commit it resolved to
    profiles: list[ProfileChange]  # every profile of either side; reports summarise unchanged

    def with_status(self, *status: ChangeStatus) -> list[ProfileChange]:
        return [p for p in self.profiles if p.status in status]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactDrift:
    """A committed artifact that differs from what its profile generates (--check-artifacts)."""

    profile: str
    kind: str  # command, docker, compose, k8s, helm, report, bench, profile
    path: str  # the artifact file
    line: int | None  # line of outputs.artifacts.<kind> in the profile
    diff: str  # unified diff from the committed text to the generated one
    fixed: bool  # rewritten by --fix (then it does not fail the gate)


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
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


# record type -> the names of its fields the JSON writes, in order
_JSON_FIELDS: dict[type, tuple[str, ...]] = {}


def jsonable(value: Any, *, plans: bool = True) -> Any:
    """``value`` with every record a dict of its JSON fields in order (lists and dicts walked);
    what ``to_json`` writes as it is (text, numbers, enums, a plan's pydantic models) as it
    is. ``plans=False`` leaves out each pair's ``plan`` key."""
    kind = type(value)
    if kind is list or kind is tuple:
        return [jsonable(v, plans=plans) for v in value]
    if kind is dict:
        return {k: jsonable(v, plans=plans) for k, v in value.items()}
    names = _JSON_FIELDS.get(kind)
    if names is None:
        if not is_dataclass(kind):
            return value
        names = tuple(f.name for f in fields(kind) if f.metadata.get("json", True))
        _JSON_FIELDS[kind] = names
    data = {name: jsonable(getattr(value, name), plans=plans) for name in names}
    if kind is PairResult:
        if plans:
            data["plan"] = value.plan_json()
        else:
            del data["plan"]
    return data


def record_json(value: Any, *, indent: int | None = 2, plans: bool = True) -> str:
    """A record as JSON, as pydantic wrote it: keys in field order, non-ASCII kept, a float
    that overflowed to inf or nan written as null (RFC-valid)."""
    return to_json(jsonable(value, plans=plans), indent=indent, inf_nan_mode="null").decode()


def pack_plan(plan: PlanResponse) -> bytes | None:
    """``plan`` as compact JSON, or None where JSON would not give it back as it is: a figure
    that overflowed to inf or nan, which JSON writes as null, or a free-form value (``Any``)
    JSON gives back as another type (then the pair keeps the objects)."""
    from pydantic import ValidationError

    dump = plan.__pydantic_serializer__.to_json
    packed = dump(plan)
    # JSON writes null only for None and for a float that is not finite: without the Nones,
    # no null (nor the word in any text) means no figure overflowed; the typed fields then
    # come back as they are, so only the free-form values need a look (the common case: no
    # objects built again only to compare them)
    if b"null" not in dump(plan, exclude_none=True) and all(map(_plain, _free_values(plan))):
        return packed
    try:
        same = type(plan).model_validate_json(packed) == plan
    except ValidationError:
        same = False
    return packed if same else None


def _free_values(plan: PlanResponse) -> Iterator[Any]:
    """The values of the plan's free-form (``Any``) fields: test_format_json checks that these
    are all of them."""
    for finding in (*plan.feasibility.findings, *plan.feasibility.suppressed):
        yield from finding.fix_values.values()
    yield from plan.config.extra_args.values()
    yield from (rec.value for rec in plan.recommendations)


def _plain(value: Any) -> bool:
    """A value JSON gives back as it is, of the same type: text, a whole number, a finite
    float, a bool, None, or lists and text-keyed mappings of them."""
    kind = type(value)
    if kind in (str, int, bool) or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(map(_plain, value))
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False
