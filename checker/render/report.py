"""The plan as markdown: the body of report.md, the PR comment and the job summary."""

from __future__ import annotations

import shlex

from checker.errors import CheckerError
from checker.render.context import RenderContext
from checker.render.escape import md_code, md_fence, md_text
from checker.schemas.outputs import PlanResponse

_BADGE = {"PASS": "✅ PASS", "WARN": "⚠️ WARN", "FAIL": "❌ FAIL"}


def memory_rows(plan: PlanResponse) -> list[tuple[str, float, str]]:
    """(label, GiB, basis) for vLLM's start-up arithmetic, in the order vLLM subtracts."""
    m = plan.feasibility.memory
    graphs = "CUDA graphs" + ("" if m.cudagraph_subtracted else " (not subtracted)")
    rows = [
        ("Total GPU memory", m.total_gib, "total_gib"),
        (f"Requested (x {m.gpu_memory_utilization:g})", m.requested_gib, "requested_gib"),
        ("Weights", m.weights_gib, "weights_gib"),
        ("Activation peak", m.activation_gib, "activation_gib"),
        ("Non-torch memory", m.non_torch_gib, "non_torch_gib"),
        (graphs, m.cudagraph_gib, "cudagraph_gib"),
        ("KV cache", m.kv_cache_gib, "kv_cache_gib"),
        ("Outside vLLM's budget", m.outside_budget_gib, "outside_budget_gib"),
    ]
    return [(label, gib, m.basis[key].value if key in m.basis else "") for label, gib, key in rows]


def perf_rows(plan: PlanResponse) -> list[tuple[str, str]]:
    p = plan.performance

    def rng(r: tuple[float, float] | None, unit: str) -> str | None:
        return None if r is None else f"{r[0]:,.6g} - {r[1]:,.6g} {unit}"

    rows = [
        ("Decode per request", rng(p.decode_toks_per_s_range, "tok/s")),
        ("Prefill", rng(p.prefill_toks_per_s_range, "tok/s")),
        ("Time to first token", rng(p.ttft_ms_range, "ms")),
        ("Time per output token", rng(p.tpot_ms_range, "ms")),
        ("Throughput per instance", rng(p.throughput_toks_per_s_range, "tok/s")),
        ("Throughput per GPU", rng(p.throughput_per_gpu_toks_per_s_range, "tok/s")),
    ]
    return [(label, value) for label, value in rows if value is not None]


def serve_command(plan: PlanResponse) -> str:
    """The serve command as one shell line, or why there is none."""
    from checker.render.serve import serve_argv

    try:
        return shlex.join(serve_argv(RenderContext(plan=plan)))
    except CheckerError as exc:
        return f"# no command: {exc}"


def kv_summary(plan: PlanResponse) -> str:
    f = plan.feasibility
    if f.kv is None:
        return "no KV cache"
    return (
        f"{f.kv.tokens:,} tokens in {f.kv.num_blocks:,} blocks of {f.kv.block_size} "
        f"({f.kv.kv_cache_dtype}); {f.max_concurrency_at_context:g}x requests at "
        f"{f.max_model_len:,} tokens; {f.headroom_gib:g} GiB headroom at the workload"
    )


def _lines(plan: PlanResponse, title: str | None) -> list[str]:
    f, c = plan.feasibility, plan.config
    heading = title if title is not None else f"vLLM plan: {c.model} on {f.gpu}"
    out = [f"### {md_text(heading)}", ""]
    risk = f"OOM risk **{f.oom_risk.value}**" + (
        f" ({md_text(f.oom_risk_reason)})" if f.oom_risk_reason else ""
    )
    out += [
        f"**{_BADGE[f.verdict.value]}**: {md_code(c.model)} on {f.num_gpus_used} x "
        f"{md_text(f.gpu)} (TP {f.tensor_parallel_size}, PP {f.pipeline_parallel_size}), "
        f"vLLM {md_text(c.vllm_version)}; {risk}.",
        "",
        f"KV cache: {md_text(kv_summary(plan))}.",
        "",
        "| Memory per GPU | GiB | Basis |",
        "|---|---:|---|",
    ]
    out += [f"| {md_text(name)} | {gib:.2f} | {basis} |" for name, gib, basis in memory_rows(plan)]
    if f.log_lines:
        out += ["", "vLLM should log:", "", md_fence(f.log_lines)]
    if f.findings:
        out += ["", "#### Findings", ""]
        for item in f.findings:
            out.append(
                f"- **{item.severity.value}** {md_code(item.rule_id)} {md_text(item.name)} "
                f"({md_code(item.key)}): {md_text(item.message)}"
            )
            if item.fix:
                out.append(f"  - Fix: {md_text(item.fix)}")
    if plan.recommendations:
        out += ["", "#### Recommended settings", "", "| Setting | Value | Why |", "|---|---|---|"]
        out += [
            f"| {md_code(r.key, table=True)} | {md_code(r.value, table=True)} "
            f"| {md_text(r.reason)} |"
            for r in plan.recommendations
        ]
    out += ["", "#### Performance (estimates, not measurements)", "", "| | Range |", "|---|---|"]
    out += [f"| {label} | {value} |" for label, value in perf_rows(plan)]
    out += [""] + [f"- {md_text(a)}" for a in plan.performance.assumptions]
    out += ["", "#### Serve command", "", md_fence([serve_command(plan)], "sh")]
    return out


def render_report_md(plan: PlanResponse, *, title: str | None = None) -> str:
    """The plan as GitHub-flavoured markdown; untrusted text cannot break out of its place."""
    return "\n".join(_lines(plan, title)) + "\n"
