"""The plan for a terminal: verdict, memory, predicted log lines, findings, settings, speed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields

from checker.render.escape import terminal
from checker.render.report import (
    fail_reason,
    kv_summary,
    memory_rows,
    perf_rows,
    perf_widths,
    placement,
    risk_summary,
    serve_command,
)
from checker.schemas.outputs import PlanResponse

_COLORS = {"PASS": "32", "WARN": "33", "FAIL": "31", "error": "31", "warning": "33", "info": "36"}


class _Style:
    def __init__(self, color: bool) -> None:
        self.color = color

    def paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def bold(self, text: str) -> str:
        return self.paint(text, "1")

    def tone(self, text: str, key: str) -> str:
        return self.paint(text, "1;" + _COLORS[key]) if key in _COLORS else text


def _table(rows: Sequence[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def _settings(plan: PlanResponse, explain: bool) -> list[tuple[str, ...]]:
    c = plan.config
    fields = [
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "dtype",
        "quantization",
        "kv_cache_dtype",
        "max_model_len",
        "gpu_memory_utilization",
        "max_num_seqs",
        "max_num_batched_tokens",
        "block_size",
        "enforce_eager",
        "enable_prefix_caching",
        "enable_chunked_prefill",
        "kv_cache_memory_bytes",
        "cudagraph_memory_profiling",
    ]
    if c.disable_hybrid_kv_cache_manager:
        fields.append("disable_hybrid_kv_cache_manager")
    rows: list[tuple[str, ...]] = []
    for name in fields:
        value = getattr(c, name)
        if value is None:
            continue
        if name == "max_model_len" and c.max_model_len_auto:
            value = f"auto (vLLM fits {value})"
        row = (name, terminal(value))
        rows.append(row + ((terminal(c.explanations.get(name, "")),) if explain else ()))
    for name, value in sorted(c.extra_args.items()):  # passed through as the profile said
        text = json.dumps(value) if isinstance(value, (dict, list)) else value
        why = c.explanations.get(f"--{name}", "")
        rows.append((f"--{name}", terminal(text)) + ((terminal(why),) if explain else ()))
    return rows


def _feature_costs(plan: PlanResponse) -> list[tuple[str, ...]]:
    """Explanations of what a feature costs that belong to no setting or flag row (the
    vision tower and its encoder profile run)."""
    c = plan.config
    shown = {f.name for f in fields(c)} | {f"--{name}" for name in c.extra_args}
    return [
        (terminal(subject), terminal(words))
        for subject, words in c.explanations.items()
        if subject not in shown
    ]


def _recommendations(plan: PlanResponse, explain: bool) -> list[str]:
    """Changes the plan suggests (every recommendation with --explain), one per line."""
    out = []
    for rec in plan.recommendations:
        current = getattr(plan.config, rec.key, None)
        if current == rec.value and not explain:
            continue
        mark = "keep" if current == rec.value else "change to"
        out.append(f"  {terminal(rec.key)}: {mark} {terminal(rec.value)}: {terminal(rec.reason)}")
    return out


def render_plan_text(plan: PlanResponse, *, explain: bool, color: bool) -> str:
    """A readable plan; ANSI colour only when ``color``; untrusted text never drives the tty."""
    s, f, c = _Style(color), plan.feasibility, plan.config
    verdict = s.tone(f.verdict.value, f.verdict.value)
    out = [f"{verdict}  {terminal(c.model)} on {terminal(placement(plan))}, vLLM {c.vllm_version}"]
    reason = fail_reason(plan) if f.verdict.value == "FAIL" else None
    if reason:
        out.append(f"  Fails: {terminal(reason)}")
    risk = risk_summary(plan)
    if risk:
        out.append(f"  OOM risk: {terminal(risk)}")
    out += [f"  KV cache: {terminal(kv_summary(plan))}", "", s.bold("Memory per GPU (GiB)")]
    out += _table([(label, f"{gib:.2f}", basis) for label, gib, basis in memory_rows(plan)], {1})
    if f.log_lines:
        out += ["", s.bold("vLLM should log")]
        out += [f"  {terminal(line)}" for line in f.log_lines]
    if f.findings:
        out += ["", s.bold("Findings")]
        for item in f.findings:
            sev = s.tone(item.severity.value.upper(), item.severity.value)
            out.append(f"  {sev} {item.rule_id} {terminal(item.key)}: {terminal(item.message)}")
            if item.fix:
                out.append(f"      fix: {terminal(item.fix)}")
    if f.suppressed:
        out += ["", s.bold("Suppressed (ignored by the profile; not counted)")]
        out += [
            f"  {item.rule_id} {terminal(item.key)} ({terminal(item.suppressed)}): "
            f"{item.severity.value}: {terminal(item.message)}"
            for item in f.suppressed
        ]
    out += ["", s.bold("Settings in the artifacts")]
    out += _table(_settings(plan, explain), set())
    costs = _feature_costs(plan) if explain else []
    if costs:
        out += ["", s.bold("Feature costs"), *_table(costs, set())]
    recommendations = _recommendations(plan, explain)
    if recommendations:
        out += ["", s.bold("Recommendations"), *recommendations]
    if f.weights_fit:  # a model that does not load has no speed
        out += ["", s.bold("Performance (estimates)"), *_table(perf_rows(plan), set())]
        out += [f"  range of {terminal(w)}" for w in perf_widths(plan)]
    out += ["", s.bold("Serve command"), f"  {terminal(serve_command(plan))}"]
    return "\n".join(out)
