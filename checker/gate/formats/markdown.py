"""Markdown report (job summary, PR comment): summary table, each failing pair, the diff.

Every value that comes from a profile, a model name or a git ref is untrusted: ``md_text()``
escapes it so it can neither break the table, open HTML, format text nor @mention anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

from checker.gate.formats.common import (
    ARROW,
    changes,
    counts_text,
    fmt_conc,
    fmt_gib,
    fmt_risk,
    fmt_tokens,
    fmt_tput,
)
from checker.gate.result import ArtifactDrift, BaseDiff, CheckResult, InputProblem, PairResult
from checker.render.escape import md_fence, md_text
from checker.render.report import render_report_md

md = md_text  # the escaping every gate markdown shares (publish.py uses it for its notes)
ICON = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌", "ERROR": "⛔"}


def render_markdown(result: CheckResult, color: bool = False) -> str:
    return "".join(markdown_chunks(result))


def markdown_chunks(result: CheckResult) -> Iterator[str]:
    """The report's lines joined by newlines, without trailing whitespace, then a newline: in
    pieces of ``_BATCH`` lines, so a fleet's report is written without being whole in memory
    (and without a piece per line)."""
    lines = markdown_lines(result)
    pending = ""  # whitespace that ends the text so far: written only once more text follows
    separator = ""
    while batch := list(islice(lines, _BATCH)):
        text = pending + separator + "\n".join(batch)
        kept = text.rstrip()
        pending, separator = text[len(kept) :], "\n"
        if kept:
            yield kept
    yield "\n"


_BATCH = 1024  # lines a piece: a few hundred KB at most


def markdown_lines(result: CheckResult) -> Iterator[str]:
    """The report's lines, one pair at a time (write_report streams them to a file)."""
    yield from (
        f"## {ICON[result.verdict]} vllm-wizard check: {result.verdict}",
        "",
        f"{counts_text(result)} (fail on: {result.fail_on.value})",
        "",
    )
    if result.pairs:
        yield from _table(result.pairs)
    failing = [p for p in result.pairs if p.failed or p.verdict != "PASS" or p.suppressed]
    if failing:
        yield from ("### Findings", "")
        for pair in failing:
            yield from _detail(pair)
    if result.errors:
        yield from ("### Input errors", "")
        yield from [_problem(p) for p in result.errors] + [""]
    if result.drift:
        yield from _drift(result.drift)
    yield from (f"> {md_text(n)}" for n in result.notes)
    if result.diff is not None:
        yield from _diff(result.diff)


def _table(pairs: list[PairResult]) -> Iterator[str]:
    yield "| Profile | GPU target | Verdict | KV tokens | Max concurrency | Headroom | OOM risk |"
    yield "|---|---|---|---:|---:|---:|---|"
    for p in pairs:
        yield (
            f"| {md_text(p.profile)} | {md_text(p.target)} | {ICON[p.verdict]} {p.verdict} "
            f"| {fmt_tokens(p.figures.kv_tokens)} | {fmt_conc(p.figures.max_concurrency)} "
            f"| {fmt_gib(p.figures.headroom_gib)} | {fmt_risk(p.figures)} |"
        )
    yield ""


def _detail(pair: PairResult) -> list[str]:
    gpu = f" ({md_text(pair.gpu)})" if pair.gpu and pair.gpu != pair.target.split(":")[0] else ""
    where = f"{md_text(pair.profile)} on {md_text(pair.target)}{gpu}"
    out = [f"#### {ICON[pair.verdict]} {where}: {pair.verdict}", ""]
    if pair.error is not None:
        out.append(_problem(pair.error))
    for f in pair.findings:
        line = f" line {f.line}" if f.line else ""
        at = f"{f.severity.value} at{line} `{_code(f.key)}`"
        out.append(f"- **{md_text(f.rule_id)}** {at}: {md_text(f.message)}")
        if f.fix:
            out.append(f"  - **Fix:** {md_text(f.fix)}")
    for f in pair.suppressed:
        line = f" line {f.line}" if f.line else ""
        out.append(
            f"- ~~{md_text(f.rule_id)}~~ suppressed at{line} `{_code(f.key)}` "
            f"({md_text(f.suppressed or '')}): {md_text(f.message)}"
        )
    if (plan := pair.summary) is not None:
        fig = pair.figures
        out.append(
            f"- Plan: {md_text(pair.model)}, TP {plan.tensor_parallel_size} "
            f"x PP {plan.pipeline_parallel_size}, "
            f"KV cache {fmt_tokens(fig.kv_tokens)} tokens, max concurrency "
            f"{fmt_conc(fig.max_concurrency)} at {plan.max_model_len:,} tokens, "
            f"estimated {fmt_tput(fig.throughput_toks_per_s)} tok/s"
        )
    if pair.failed and (full := pair.full_plan()) is not None:
        title = f"{pair.profile} on {pair.target}"
        body = render_report_md(full, title=title).strip()
        out += ["", "<details><summary>Plan details</summary>", "", body, "", "</details>"]
    return [*out, ""]


def _drift(drift: list[ArtifactDrift]) -> list[str]:
    out = ["### Artifact drift", ""]
    for d in drift:
        line = f" line {d.line}" if d.line else ""
        state = "was rewritten" if d.fixed else "differs from what its profile generates"
        out += [
            f"- {md_text(d.path)} ({md_text(d.kind)}, {md_text(d.profile)}{line}) {state}",
            "",
            "<details><summary>diff</summary>",
            "",
            md_fence(d.diff.splitlines(), "diff"),
            "",
            "</details>",
            "",
        ]
    if not all(d.fixed for d in drift):
        out += ["Regenerate with `vllm-wizard check --fix` (or `generate`) and commit.", ""]
    return out


def _problem(problem: InputProblem) -> str:
    where = f"{problem.path}:{problem.line}" if problem.line else problem.path
    hint = f" ({md_text(problem.hint)})" if problem.hint else ""
    return f"- **{md_text(where)}**: {md_text(problem.message)}{hint}"


_NOT_IN_KEY = re.compile(r"[^A-Za-z0-9_.]")


def _code(text: str) -> str:
    """A dotted key inside a code span: keys are [A-Za-z0-9_.] once validated; drop the rest."""
    return _NOT_IN_KEY.sub("", text)


def _diff(diff: BaseDiff) -> list[str]:
    out = [f"### Changes against {md_text(diff.ref)} ({diff.commit[:12]})", ""]
    moved = diff.with_status("new", "changed", "removed")
    if moved:
        out += [
            "| Profile | Status | GPU target | Verdict | KV tokens | Max concurrency "
            "| Headroom | Throughput tok/s |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for change in moved:
            for pair in change.pairs:
                cells = [_arrow(old, new) for _, old, new in changes(pair.before, pair.after)]
                out.append(
                    f"| {md_text(change.profile)} | {change.status} | {md_text(pair.target)} "
                    f"| {' | '.join(cells)} |"
                )
            if not change.pairs:
                out.append(f"| {md_text(change.profile)} | {change.status} | - |" + " - |" * 5)
        out.append("")
        out += [
            f"- {md_text(c.profile)}: the base copy could not be planned: {md_text(c.base_error)}"
            for c in moved
            if c.base_error
        ]
    same = diff.with_status("unchanged")
    if same:
        names = ", ".join(md_text(c.profile) for c in same[:20])
        more = f" and {len(same) - 20} more" if len(same) > 20 else ""
        out += [f"{len(same)} profile(s) unchanged: {names}{more}", ""]
    return out


def _arrow(old: str, new: str) -> str:
    return old if old == new else f"{old} {ARROW} **{new}**"
