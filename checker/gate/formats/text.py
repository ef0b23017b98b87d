"""Terminal report: an aligned table, then each finding as ``file:line: severity id message``."""

from __future__ import annotations

from collections.abc import Callable

from checker.gate.formats.common import (
    ARROW,
    Located,
    changes,
    counts_text,
    fmt_conc,
    fmt_gib,
    fmt_risk,
    fmt_tokens,
    located,
    one_line,
)
from checker.gate.result import ArtifactDrift, BaseDiff, CheckResult

_COLOURS = {"PASS": "32", "WARN": "33", "FAIL": "31", "ERROR": "31", "error": "31"}
_COLOURS["warning"] = "33"
# each column's alignment: numbers (KV tokens, max concurrency, headroom) to the right
_ALIGN = (str.ljust, str.ljust, str.ljust, str.rjust, str.rjust, str.rjust, str.ljust)
_VERDICT = 2
_HEAD = ("PROFILE", "TARGET", "VERDICT", "KV TOKENS", "MAX CONC", "HEADROOM", "OOM")


def render_text(result: CheckResult, color: bool = False) -> str:
    def paint(word: str, width: int = 0) -> str:
        padded = word.ljust(width)
        code = _COLOURS.get(word)
        return f"\x1b[{code}m{padded}\x1b[0m" if color and code else padded

    rows = [
        (
            one_line(p.profile),
            one_line(p.target),
            p.verdict,
            fmt_tokens(p.figures.kv_tokens),
            fmt_conc(p.figures.max_concurrency),
            fmt_gib(p.figures.headroom_gib),
            fmt_risk(p.figures),
        )
        for p in result.pairs
    ]
    widths = [max(map(len, column)) for column in zip(_HEAD, *rows, strict=True)]
    lines: list[str] = []
    if rows:
        lines.append(_join(_HEAD, widths))
        lines.extend(_join(row, widths, paint) for row in rows)
        lines.append("")
    for item in located(result):
        lines.extend(located_lines(item, paint))
    for drift in result.drift:
        if not drift.fixed:
            lines.extend(_drift_lines(drift))
    lines.extend(f"note: {one_line(n)}" for n in result.notes)
    if result.diff is not None:
        lines.extend(["", *_diff_lines(result.diff)])
    if lines and lines[-1]:
        lines.append("")
    lines.append(f"vllm-wizard check: {paint(result.verdict)} ({counts_text(result)})")
    return "\n".join(lines) + "\n"


def located_lines(item: Located, paint: Callable[[str], str] = str) -> list[str]:
    """``file:line: severity id [targets] message``, then its fix on a line of its own."""
    where = f"{one_line(item.path)}:{item.line}" if item.line else one_line(item.path)
    on = f" [{', '.join(one_line(t) for t in item.targets)}]" if item.targets else ""
    lines = [f"{where}: {paint(item.severity.value)} {item.rule_id}{on} {one_line(item.message)}"]
    if item.fix:
        lines.append(f"    fix: {one_line(item.fix)}")
    return lines


def _join(
    cells: tuple[str, ...], widths: list[int], paint: Callable[[str, int], str] | None = None
) -> str:
    """One table row: numbers right-aligned, the verdict painted."""
    out = [align(c, w) for align, c, w in zip(_ALIGN, cells, widths, strict=True)]
    if paint is not None:
        out[_VERDICT] = paint(cells[_VERDICT], widths[_VERDICT])
    return "  ".join(out).rstrip()


DRIFT_DIFF_LINES = 200  # per artifact; the JSON report and --artifacts-dir carry all of it


def _drift_lines(drift: ArtifactDrift) -> list[str]:
    """The unified diff of a drifted artifact, each line shown safely, within a bound."""
    diff = drift.diff.splitlines()
    lines = ["", f"{one_line(drift.path)}: committed -> expected:"]
    lines += [f"  {one_line(line)}" for line in diff[:DRIFT_DIFF_LINES]]
    if len(diff) > DRIFT_DIFF_LINES:
        lines.append(f"  ... {len(diff) - DRIFT_DIFF_LINES} more diff line(s) not shown")
    return [*lines, ""]


def _diff_lines(diff: BaseDiff) -> list[str]:
    lines = [f"Changes against {one_line(diff.ref)} ({diff.commit[:12]}):"]
    for change in diff.with_status("new", "changed", "removed"):
        lines.append(f"  {change.status:<8} {one_line(change.profile)}")
        if change.base_error:
            lines.append(f"    base could not be read: {one_line(change.base_error)}")
        for pair in change.pairs:
            moved = [
                f"{label} {old} {ARROW} {new}"
                for label, old, new in changes(pair.before, pair.after)
                if old != new
            ]
            if moved:
                lines.append(f"    {one_line(pair.target)}: {', '.join(moved)}")
    same = diff.with_status("unchanged")
    if same:
        lines.append(f"  {len(same)} profile(s) unchanged")
    return lines
