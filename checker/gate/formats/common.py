"""What several report formats share: ordering, figures as text, before -> after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from checker.gate.result import (
    ArtifactDrift,
    CheckResult,
    Figures,
    GateFinding,
    InputProblem,
    PairResult,
)
from checker.render.escape import terminal
from checker.schemas.enums import Severity

SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
ARROW = "→"


class Located(NamedTuple):
    """A finding or an input problem at a file and line, for annotation-like formats."""

    path: str
    line: int | None
    severity: Severity
    rule_id: str
    name: str
    message: str
    fix: str
    targets: tuple[str, ...]
    suppressed: str | None = None  # the reason its rule is ignored: shown, never counted


def located(result: CheckResult) -> list[Located]:
    """Every finding and input problem, merged across targets, most severe first."""
    merged: dict[tuple[str, int | None, str, str], Located] = {}
    for pair in result.pairs:
        for f in (*pair.findings, *pair.suppressed):
            _merge(merged, _of_finding(pair, f))
        if pair.error is not None:
            _merge(merged, _of_problem(pair.error, (pair.target,)))
    for problem in result.errors:
        _merge(merged, _of_problem(problem, ()))
    for drift in result.drift:
        _merge(merged, _of_drift(drift))
    return sorted(
        merged.values(),
        key=lambda x: (SEVERITY_ORDER[x.severity], x.path, x.line or 0, x.rule_id),
    )


def _merge(into: dict[tuple[str, int | None, str, str], Located], item: Located) -> None:
    key = (item.path, item.line, item.rule_id, item.message)
    if key in into:
        old = into[key]
        into[key] = old._replace(targets=(*old.targets, *item.targets))
    else:
        into[key] = item


def _of_finding(pair: PairResult, f: GateFinding) -> Located:
    if f.suppressed is not None:  # shown as a note, whatever its severity was
        message = f"suppressed ({f.suppressed}): {f.severity.value}: {f.message}"
        return Located(
            pair.profile,
            f.line,
            Severity.INFO,
            f.rule_id,
            f.name,
            message,
            "",
            (pair.target,),
            f.suppressed,
        )
    return Located(
        pair.profile, f.line, f.severity, f.rule_id, f.name, f.message, f.fix, (pair.target,)
    )


INPUT_RULE = ("VWG00", "input-error")


def _of_problem(problem: InputProblem, targets: tuple[str, ...]) -> Located:
    return Located(
        problem.path,
        problem.line,
        Severity.ERROR,
        *INPUT_RULE,
        problem.message,
        problem.hint or "",  # every format labels it "fix" already
        targets,
    )


DRIFT_RULE = ("VWG03", "artifact-drift")


def _of_drift(drift: ArtifactDrift) -> Located:
    if drift.fixed:
        return Located(
            drift.profile,
            drift.line,
            Severity.INFO,
            *DRIFT_RULE,
            f"{drift.path} ({drift.kind}) was "
            + ("created" if drift.missing else "rewritten")
            + " from the profile",
            "",
            (),
        )
    return Located(
        drift.profile,
        drift.line,
        Severity.ERROR,
        *DRIFT_RULE,
        f"{drift.path} ({drift.kind}) "
        + ("is missing" if drift.missing else "differs from what the profile generates"),
        "run 'vllm-wizard check --fix' (or generate) and commit the result",
        (),
    )


def fmt_tokens(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def fmt_conc(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fmt_gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} GiB"


def fmt_tput(value: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{value[0]:,.0f}-{value[1]:,.0f}"


def fmt_targets(value: tuple[int, int] | None) -> str:
    return "-" if value is None else f"{value[0]}/{value[1]}"


def fmt_risk(figures: Figures) -> str:
    return figures.oom_risk.value if figures.oom_risk else "-"


FIGURES: tuple[tuple[str, Callable[[Figures], str]], ...] = (
    ("verdict", lambda f: f.verdict),
    ("KV tokens", lambda f: fmt_tokens(f.kv_tokens)),
    ("max concurrency", lambda f: fmt_conc(f.max_concurrency)),
    ("headroom", lambda f: fmt_gib(f.headroom_gib)),
    ("throughput tok/s", lambda f: fmt_tput(f.throughput_toks_per_s)),
    ("targets met", lambda f: fmt_targets(f.targets_met)),
)


def changes(before: Figures | None, after: Figures | None) -> Iterator[tuple[str, str, str]]:
    """(label, before, after) of each figure, "-" for a side that has none."""
    for label, show in FIGURES:
        yield (
            label,
            show(before) if before else "-",
            show(after) if after else "-",
        )


def one_line(text: str) -> str:
    """Untrusted text made safe for one terminal line: no escapes, no control characters."""
    return terminal(text.replace("\n", " "))


def counts_text(result: CheckResult) -> str:
    c = result.counts
    parts = [f"{c['fail']} fail", f"{c['warn']} warn", f"{c['pass']} pass"]
    if c["error"]:
        parts.append(f"{c['error']} input error(s)")
    drifted = sum(not d.fixed for d in result.drift)
    if drifted:
        parts.append(f"{drifted} drifted artifact(s)")
    if written := len(result.drift) - drifted:
        parts.append(f"{written} artifact(s) written by --fix: review and stage them")
    return ", ".join(parts)


def headline(result: CheckResult) -> str:
    return f"vllm-wizard check: {result.verdict} ({counts_text(result)})"
