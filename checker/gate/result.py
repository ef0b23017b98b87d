"""What ``run_check`` returns. Every report format (and the GitHub side) reads only this.

The JSON format is ``CheckResult.model_dump(mode="json")``: the field names below are its keys
and are stable within ``schema_version`` 1. Paths are posix and relative to the directory the
check ran in (the repository root in CI, so they work as annotation and SARIF paths).
"""

# Annotations evaluated at import, not postponed: pydantic would compile every field's
# annotation string at each start of the CLI (tests/schemas/test_model_annotations.py).
import json
import math
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_serializer
from pydantic_core.core_schema import FieldSerializationInfo, SerializerFunctionWrapHandler

from checker.schemas.defaults import empty_list
from checker.schemas.enums import FailOn, OOMRisk, Severity
from checker.schemas.outputs import PlanResponse

_FROZEN = ConfigDict(extra="forbid", frozen=True, protected_namespaces=(), defer_build=True)

GateVerdict = Literal["PASS", "WARN", "FAIL", "ERROR"]
ChangeStatus = Literal["new", "removed", "changed", "unchanged"]


class InputProblem(BaseModel):
    """A profile (or a profile x target) that could not be checked: bad YAML, an unknown key,
    an unknown GPU, a model found nowhere. Any of these makes the exit code 2."""

    model_config = _FROZEN

    path: str
    line: int | None = None
    column: int | None = None
    message: str
    hint: str | None = None
    details: list[str] = Field(default_factory=empty_list, description="Further problems, one each")


class GateFinding(BaseModel):
    """A planner finding (or the gate's own OOM-risk finding) placed on a profile line."""

    model_config = _FROZEN

    rule_id: str = Field(description="VW1xx/VW2xx/VW3xx from the planner")
    name: str
    severity: Severity = Field(description="error: fails the gate under its fail_on policy")
    estimated: bool = Field(
        False, description="A high (or medium) OOM risk: depends on an estimated term"
    )
    message: str
    key: str = Field(description="Dotted profile key, e.g. model.max_model_len")
    line: int | None = Field(description="1-based line of that key (or its nearest parent)")
    fix: str = ""
    suppressed: str | None = Field(
        None, description="Why its rule is ignored (profile or repo config); None: it counts"
    )


class Figures(BaseModel):
    """The numbers a diff compares, before -> after (all None but the verdict for ERROR)."""

    model_config = _FROZEN

    verdict: GateVerdict
    kv_tokens: int | None = Field(None, description="GPU KV cache size in tokens, as vLLM logs")
    max_concurrency: float | None = Field(
        None, description="Requests at max_model_len that fit at once"
    )
    headroom_gib: float | None = Field(
        None, description="KV memory left after the workload's concurrency"
    )
    throughput_toks_per_s: tuple[float, float] | None = Field(
        None, description="Estimated output tokens/s of the instance at the workload's concurrency"
    )
    oom_risk: OOMRisk | None = None
    targets_met: tuple[int, int] | None = Field(
        None, description="(met, stated) serving targets of the workload; None: none stated"
    )


class PlanSummary(BaseModel):
    """What the reports print of a pair's plan; the full plan is kept only where it is shown
    (a failing pair's details), so a fleet of thousands of pairs stays small in memory."""

    model_config = _FROZEN

    tensor_parallel_size: int
    pipeline_parallel_size: int
    max_model_len: int
    vllm_version: str = Field(description="The vLLM release it was planned for")
    memory_gib: float = Field(description="GPU memory the plan takes on one GPU")
    oom_risk_reason: str = ""
    num_gpus_used: int = Field(1, description="GPUs of the whole deployment (every DP engine)")
    max_request_rate: tuple[float, float] | None = Field(
        None,
        description="Estimated requests/s the deployment completes when saturated (slow, "
        "fast); only where the workload states a request rate",
    )


class PairResult(BaseModel):
    """One profile on one GPU target."""

    model_config = _FROZEN

    profile: str = Field(description="Path of the profile file")
    target: str = Field(description='The GPU target as requested, "NAME:COUNT"')
    gpu: str | None = Field(description="Canonical catalog (or custom) GPU name it was planned on")
    model: str = Field(description="model.id of the profile")
    verdict: GateVerdict = Field(
        description="FAIL: a finding fails under fail_on (a start-up error, a high OOM risk, "
        "or with fail_on warning any warning); WARN: warnings; ERROR: could not be planned"
    )
    failed: bool = Field(description="Counts against the gate: FAIL or ERROR")
    findings: list[GateFinding] = Field(default_factory=empty_list)
    suppressed: list[GateFinding] = Field(
        default_factory=empty_list,
        description="Findings of ignored rules, with the reason; not counted",
    )
    figures: Figures
    error: InputProblem | None = None
    summary: PlanSummary | None = Field(None, description="None: ERROR, it was not planned")
    plan: PlanResponse | None = Field(
        None, description="The full plan, of a FAIL pair only (the markdown report's details)"
    )
    # A FAIL pair's plan as compact JSON, a fifth of the objects' memory: a fleet has thousands
    _packed_plan: bytes | None = PrivateAttr(None)

    def keep_packed(self, packed: bytes) -> None:
        """Keep a plan packed by ``pack_plan``; ``full_plan()`` and every dump unpack it."""
        self._packed_plan = packed

    def full_plan(self) -> PlanResponse | None:
        if self.plan is not None or self._packed_plan is None:
            return self.plan
        return PlanResponse.model_validate_json(self._packed_plan)

    @field_serializer("plan", mode="wrap")
    def _dump_plan(
        self,
        plan: PlanResponse | None,
        dump: SerializerFunctionWrapHandler,
        info: FieldSerializationInfo,
    ) -> Any:
        if plan is None and self._packed_plan is not None and info.mode_is_json():
            # JSON out of JSON: the packed plan is the plan's dump (pack_plan checked it gives
            # the plan back), so no objects are built only to be written out again
            return json.loads(self._packed_plan)
        return dump(self.full_plan())


class PairChange(BaseModel):
    model_config = _FROZEN

    target: str
    before: Figures | None = Field(description="None: the target is new in head")
    after: Figures | None = Field(description="None: the target was dropped in head")


class ProfileChange(BaseModel):
    model_config = _FROZEN

    profile: str
    status: ChangeStatus = Field(
        description="changed: the file or any before -> after figure differs"
    )
    pairs: list[PairChange] = Field(default_factory=empty_list)
    base_error: str | None = Field(None, description="Why the base copy could not be planned")


class BaseDiff(BaseModel):
    model_config = _FROZEN

    ref: str = Field(description="--base as given")
    commit: str = Field(description="The commit it resolved to")
    profiles: list[ProfileChange] = Field(
        description="Every profile of either side; reports summarise the unchanged ones"
    )

    def with_status(self, *status: ChangeStatus) -> list[ProfileChange]:
        return [p for p in self.profiles if p.status in status]


class ArtifactDrift(BaseModel):
    """A committed artifact that differs from what its profile generates (--check-artifacts)."""

    model_config = _FROZEN

    profile: str
    kind: str = Field(description="command, docker, compose, k8s, helm, report, bench, profile")
    path: str = Field(description="The artifact file")
    line: int | None = Field(description="Line of outputs.artifacts.<kind> in the profile")
    diff: str = Field(description="Unified diff from the committed text to the generated one")
    fixed: bool = Field(description="Rewritten by --fix (then it does not fail the gate)")


class CheckResult(BaseModel):
    """Everything one ``vllm-wizard check`` found; the JSON report is this model."""

    model_config = _FROZEN

    schema_version: Literal[1] = 1
    verdict: Literal["PASS", "WARN", "FAIL"] = Field(
        description="FAIL when a pair fails, an artifact drifted or an input is bad; "
        "else WARN if any pair warns; else PASS"
    )
    exit_code: int = Field(
        description="0 pass, 1 a profile fails, an artifact drifted or --fix wrote one "
        "(stage it), 2 input or usage error"
    )
    fail_on: FailOn
    counts: dict[str, int] = Field(
        description='"pass", "warn", "fail", "error": pairs by verdict; '
        "profiles that failed to load count as errors"
    )
    pairs: list[PairResult] = Field(description="Profile x target, in path then target order")
    errors: list[InputProblem] = Field(
        default_factory=empty_list, description="Profiles that could not be read or validated"
    )
    notes: list[str] = Field(
        default_factory=empty_list, description="E.g. a glob that matched nothing"
    )
    diff: BaseDiff | None = Field(None, description="Present with --base")
    drift: list[ArtifactDrift] = Field(
        default_factory=empty_list, description="With --check-artifacts: artifacts that drifted"
    )

    def failing(self) -> list[PairResult]:
        return [p for p in self.pairs if p.failed]


def pack_plan(plan: PlanResponse) -> bytes | None:
    """``plan`` as compact JSON, or None where JSON would not give it back as it is: a figure
    that overflowed to inf or nan, which JSON writes as null, or a free-form value (``Any``)
    JSON gives back as another type (then the pair keeps the objects)."""
    dump = plan.__pydantic_serializer__.to_json
    packed = dump(plan)
    # JSON writes null only for None and for a float that is not finite: without the Nones,
    # no null (nor the word in any text) means no figure overflowed; the typed fields then
    # come back as they are, so only the free-form values need a look (the common case: no
    # objects built again only to compare them)
    if b"null" not in dump(plan, exclude_none=True) and all(map(_plain, _free_values(plan))):
        return packed
    try:
        same = PlanResponse.model_validate_json(packed) == plan
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
