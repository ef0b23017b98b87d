"""The one verdict: PASS / WARN / FAIL from a plan's findings under the fail_on policy.

``plan`` (text, JSON and exit code), ``check`` and ``audit`` all take their verdict from here,
so they cannot disagree. A start-up error (vLLM's deterministic arithmetic or a deterministic
rule) and a high OOM risk (an ``estimated`` error: the shortfall depends on an estimated term)
fail under either policy. ``fail_on: warning`` fails warnings too, and then reports them as
errors, so every format shows a failing verdict with an error behind it.
"""

from __future__ import annotations

from collections.abc import Iterable

from checker.schemas.enums import FailOn, Severity, Verdict
from checker.schemas.outputs import FeasibilityReport, Finding, PlanResponse


def fails(severity: Severity, fail_on: FailOn) -> bool:
    return severity is Severity.ERROR or (
        severity is Severity.WARNING and fail_on is FailOn.WARNING
    )


def verdict_of(findings: Iterable[Finding], fail_on: FailOn = FailOn.ERROR) -> Verdict:
    verdict = Verdict.PASS
    for f in findings:  # one pass, no lists: every gate pair is judged twice
        if fails(f.severity, fail_on):
            return Verdict.FAIL
        if f.severity is Severity.WARNING:
            verdict = Verdict.WARN
    return verdict


def judge(plan: PlanResponse, fail_on: FailOn) -> PlanResponse:
    """The plan with its verdict, and the severity of each finding, under ``fail_on``."""
    feasibility = judge_feasibility(plan.feasibility, fail_on)
    if feasibility is plan.feasibility:
        return plan  # unchanged under ``fail_on``: no copy (the gate judges every pair)
    return plan.model_copy(update={"feasibility": feasibility})


def judge_feasibility(feasibility: FeasibilityReport, fail_on: FailOn) -> FeasibilityReport:
    """``judge`` of a plan's feasibility alone: the gate judges each pair so before it knows
    whether a report prints the pair's plan (planner.complete takes the judged report)."""
    findings = [
        f.model_copy(update={"severity": Severity.ERROR})
        if f.severity is not Severity.ERROR and fails(f.severity, fail_on)
        else f  # an error stays the same object: the report is then returned uncopied
        for f in feasibility.findings
    ]
    verdict = verdict_of(findings, fail_on)
    if verdict is feasibility.verdict and all(
        a is b for a, b in zip(findings, feasibility.findings, strict=True)
    ):
        return feasibility
    return feasibility.model_copy(update={"findings": findings, "verdict": verdict})
