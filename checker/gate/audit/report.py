"""The audit's reports: ``audit.md`` (for people and the job summary) and ``audit.json``.

``audit.json`` is ``AuditResult`` without the full plans (they would make it megabytes);
``check.pairs[*]`` keeps each pair's verdict, figures and findings.
"""

from __future__ import annotations

import re
from pathlib import Path

from checker.errors import ArtifactError
from checker.gate.audit.cost import CostOption, cost_text
from checker.gate.audit.fleet import FleetEntry
from checker.gate.audit.run import AuditResult
from checker.gate.formats.common import counts_text, fmt_conc
from checker.gate.formats.markdown import ICON
from checker.gate.result import PACKED, PairResult
from checker.render.escape import md_text
from checker.schemas.profile_io import write_atomic
from checker.schemas.records import record_json
from checker.schemas.yaml_source import read_prefix


def audit_json(result: AuditResult) -> str:
    return record_json(result, exclude={"check": {"pairs": {"__all__": {"plan", *PACKED}}}})


def audit_markdown(result: AuditResult) -> str:
    check = result.check
    profiles = sorted({p.profile for p in check.pairs})
    out = [
        f"# {ICON[check.verdict]} vllm-wizard audit: {check.verdict}",
        "",
        f"{len(profiles)} profile(s) x {len(result.fleet)} fleet target(s): "
        f"{counts_text(check)} (fail on: {check.fail_on.value})",
        "",
    ]
    if profiles:
        out += _matrix(profiles, result.fleet, check.pairs)
    failing = check.failing()
    if failing:
        out += ["## Failing", "", "| Profile | GPU target | Verdict | Why |", "|---|---|---|---|"]
        out += [
            f"| {md_text(p.profile)} | {md_text(p.target)} | {ICON[p.verdict]} {p.verdict} "
            f"| {_why(p)} |"
            for p in failing
        ]
        out.append("")
    if result.edge:
        out += ["## Close to the edge", "", "| Profile | GPU target | Why |", "|---|---|---|"]
        out += [
            f"| {md_text(e.profile)} | {md_text(e.target)} | {md_text(e.reason)} |"
            for e in result.edge
        ]
        out.append("")
    if result.cheaper:
        out += [
            "## Could move to a cheaper GPU",
            "",
            "| Profile | Now | Also passes on | Price/h now → there | GPU memory now → there |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {md_text(c.profile)} | {md_text(c.current)} | {md_text(c.target)} ({c.verdict}) "
            f"| {_price(c.current_price_per_hour)} → {_price(c.price_per_hour)} "
            f"| {_gib(c.current_memory_gib)} → {_gib(c.memory_gib)} |"
            for c in result.cheaper
        ]
        out.append("")
    out += _costs(result.costs)
    out += _suppressed(check.pairs)
    if check.errors:
        out += ["## Input errors", ""]
        out += [
            f"- **{md_text(e.path)}{f':{e.line}' if e.line else ''}**: {md_text(e.message)}"
            for e in check.errors
        ]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# the first bytes of the reports an audit writes: a file there that starts otherwise is not ours
_OURS = {
    "audit.md": re.compile(r"# \S+ vllm-wizard audit: (PASS|WARN|FAIL)\n"),
    "audit.json": re.compile(r'\{\s*"schema_version": 1,\s*"check": \{'),
}


def refuse_others(out_dir: Path) -> None:
    """Before an audit runs: its report names in ``out_dir`` hold nothing vllm-wizard did not
    write (the default directory is the current one, where a hand-written audit.md may live)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ArtifactError(
            "--output-dir names a file, not a directory",
            location=str(out_dir),
            hint="give a directory (created if missing)",
        )
    for name, ours in _OURS.items():
        path = out_dir / name
        try:
            head = read_prefix(path, 256).decode("utf-8", errors="replace")
        except OSError:  # missing, or not a file: the write says what is wrong
            continue
        if head.strip() and not ours.match(head):
            raise ArtifactError(
                "exists and was not written by vllm-wizard audit; not overwriting it",
                location=str(path),
                hint="give --output-dir another directory (e.g. audit/), or move the file away",
            )


def write_audit(result: AuditResult, out_dir: Path) -> tuple[Path, Path]:
    md_path, json_path = out_dir / "audit.md", out_dir / "audit.json"
    write_atomic(md_path, audit_markdown(result))
    write_atomic(json_path, audit_json(result) + "\n")
    return md_path, json_path


def _matrix(profiles: list[str], fleet: list[FleetEntry], pairs: list[PairResult]) -> list[str]:
    """Profiles down, fleet targets across; each cell the verdict and max concurrency."""
    heads = [_head(e) for e in fleet]
    cells = {(p.profile, p.target): p for p in pairs}
    rows = ["| Profile | " + " | ".join(heads) + " |", "|---|" + "---|" * len(fleet)]
    for profile in profiles:
        row = [_cell(cells.get((profile, str(entry.target)))) for entry in fleet]
        rows.append(f"| {md_text(profile)} | " + " | ".join(row) + " |")
    legend = "Cells: verdict and max concurrency at max_model_len (a failing pair has none)."
    return [*rows, "", legend, ""]


def _cell(pair: PairResult | None) -> str:
    if pair is None:
        return "-"
    if pair.failed:  # its figures describe a deployment that does not happen
        return f"{ICON[pair.verdict]} {pair.verdict}"
    return f"{ICON[pair.verdict]} {fmt_conc(pair.figures.max_concurrency)}"


def _costs(costs: list[CostOption]) -> list[str]:
    """Each profile's priced options, cheapest first, then those without a cost and why."""
    if not costs:
        return []
    out = [
        "## Cost per million output tokens (estimated)",
        "",
        "Per profile, cheapest first: the price of the fleet instances the deployment takes "
        "(with the replicas its stated rate or throughput needs) over the output tokens it "
        "serves at its targets; low-high from the estimate's fast and slow ends. "
        "⭐ the cheapest that passes.",
        "",
        "| Profile | # | GPU target (price/h) | Verdict | Replicas x GPUs | Output tok/s "
        "| Per 1M tokens | Why not |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        target = f"{md_text(c.target)} ({_price(c.price_per_hour)})"
        if c.cost_per_million_tokens is None:
            out.append(
                f"| {md_text(c.profile)} | - | {target} | {ICON[c.verdict]} {c.verdict} "
                f"| - | - | - | {md_text(c.excluded or '-')} |"
            )
            continue
        star = "⭐ " if c.cheapest else ""
        replicas = c.replicas or (1, 1)
        count = f"{replicas[1]}" if replicas[0] == replicas[1] else f"{replicas[1]}-{replicas[0]}"
        low, high = sorted(c.output_toks_per_s or (0.0, 0.0))
        toks = f"{low:,.0f}" if low == high else f"{low:,.0f}-{high:,.0f}"
        out.append(
            f"| {md_text(c.profile)} | {star}{c.rank} | {target} | {ICON[c.verdict]} {c.verdict} "
            f"| {count} x {c.gpus} | {toks} | {cost_text(c)} | - |"
        )
    return [*out, ""]


def _suppressed(pairs: list[PairResult]) -> list[str]:
    """Each ignored rule of each profile once, with its reason and the targets it hid on."""
    seen: dict[tuple[str, str, str], list[str]] = {}
    for pair in pairs:
        for f in pair.suppressed:
            seen.setdefault((pair.profile, f.rule_id, f.suppressed or ""), []).append(pair.target)
    if not seen:
        return []
    out = [
        "## Suppressed (not counted)",
        "",
        "| Profile | Rule | Reason | On |",
        "|---|---|---|---|",
    ]
    out += [
        f"| {md_text(profile)} | {md_text(rule)} | {md_text(reason)} | "
        f"{md_text(', '.join(targets))} |"
        for (profile, rule, reason), targets in seen.items()
    ]
    return [*out, ""]


def _head(entry: FleetEntry) -> str:
    price = entry.price_per_hour
    return md_text(str(entry.target)) + (f" ({_price(price)}/h)" if price is not None else "")


def _why(pair: PairResult) -> str:
    if pair.error is not None:
        return md_text(pair.error.message)
    worst = [f for f in pair.findings if f.severity.value == "error"] or pair.findings
    return "; ".join(f"{md_text(f.rule_id)}: {md_text(f.message)}" for f in worst[:2]) or "-"


def _price(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} GiB"
