"""The plan as markdown: the body of report.md, the PR comment and the job summary."""

from __future__ import annotations

import functools
import shlex

from checker.errors import CheckerError
from checker.render.context import RenderContext
from checker.render.escape import md_code, md_fence, md_text
from checker.render.serve import serve_argv
from checker.schemas.outputs import FeasibilityReport, LatencyFigure, PlanResponse, SLOStatus

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


def _rng(r: tuple[float, float] | None, unit: str) -> str | None:
    return None if r is None else f"{r[0]:,.6g} - {r[1]:,.6g} {unit}"


def _percentiles(figure: LatencyFigure | None) -> str | None:
    if figure is None:
        return None
    return f"{_rng(figure.p50_ms, 'ms')} (p50), {_rng(figure.p90_ms, 'ms')} (p90)"


def _target(status: SLOStatus) -> tuple[str, str]:
    side = "<=" if status.target.endswith("_ms") else ">="
    label = f"Target {status.target.removeprefix('workload.')} {side} {status.limit:,.6g}"
    low, high = status.estimate
    return label, f"{status.status} (estimate {low:,.6g} - {high:,.6g})"


def perf_rows(plan: PlanResponse) -> list[tuple[str, str]]:
    p = plan.performance
    rows = [
        ("Estimated by", "step-level scheduler model" if p.model == "step-level" else None),
        ("Workload", p.workload),
        ("Decode per request", _rng(p.decode_toks_per_s_range, "tok/s")),
        ("Prefill", _rng(p.prefill_toks_per_s_range, "tok/s")),
    ]
    if p.model == "step-level":
        rows += [
            ("Time to first token", _percentiles(p.ttft)),
            ("Time per output token", _percentiles(p.tpot)),
            ("Inter-token latency", _percentiles(p.itl)),
            ("End-to-end latency", _percentiles(p.e2e)),
            ("Output throughput", _rng(p.throughput_toks_per_s_range, "tok/s")),
            ("Output throughput per GPU", _rng(p.throughput_per_gpu_toks_per_s_range, "tok/s")),
            (
                "Requests",
                _rng(p.request_throughput.deployment, "requests/s")
                if p.request_throughput
                else None,
            ),
            ("Saturated request rate", _rng(p.max_request_rate, "requests/s")),
        ]
    else:
        rows += [
            ("Time to first token", _rng(p.ttft_ms_range, "ms")),
            ("Time per output token", _rng(p.tpot_ms_range, "ms")),
            ("Throughput per instance", _rng(p.throughput_toks_per_s_range, "tok/s")),
            ("Throughput per GPU", _rng(p.throughput_per_gpu_toks_per_s_range, "tok/s")),
        ]
    rows += [_target(status) for status in p.slos]
    return [(label, value) for label, value in rows if value is not None]


def perf_widths(plan: PlanResponse) -> list[str]:
    """What drives each step-level range's width, figures with the same cause together."""
    p = plan.performance
    named = [
        ("time to first token", p.ttft),
        ("time per output token", p.tpot),
        ("inter-token latency", p.itl),
        ("end-to-end latency", p.e2e),
        ("throughput", p.output_throughput),
    ]
    causes: dict[str, list[str]] = {}
    for name, figure in named:
        if figure is not None:
            causes.setdefault(figure.width, []).append(name)
    return [f"{', '.join(names)}: {width}" for width, names in causes.items()]


def serve_command(plan: PlanResponse, ctx: RenderContext | None = None) -> str:
    """The serve command as one shell line, or why there is none; with the profile's context
    it carries the profile's own vllm_args too, as serve.sh does."""
    try:
        return " ".join(map(_shell_word, serve_argv(ctx or RenderContext(plan=plan))))
    except CheckerError as exc:
        return f"# no command: {exc}"


# shlex.join's quoting, once per word: a fleet's commands repeat their flags and model ids
_shell_word = functools.lru_cache(maxsize=4096)(shlex.quote)


def kv_summary(plan: PlanResponse) -> str:
    f = plan.feasibility
    if f.kv is None:
        return "none" if f.reaches_kv_cache else "none: vLLM stops before allocating one"
    if not f.kv.bytes_per_token:  # attention-free (Mamba): a request holds one state block
        blocks = f"{f.kv.num_blocks:,} state blocks, one per request and no attention KV"
    else:
        blocks = f"{f.kv.num_blocks:,} blocks of {f.kv.block_size} tokens"
    if f.kv.group_block_sizes:  # vLLM raised these groups' blocks to equal the largest page
        sizes = f.kv.group_block_sizes.items()
        raised = ", ".join(f"{n} in {kind}-attention groups" for kind, n in sizes)
        blocks += f" ({raised})"
    if f.kv.num_groups > 1:  # each group (full, sliding-window...) takes its own blocks
        blocks += f" shared by {f.kv.num_groups} KV cache groups"
    if f.kv.state_bytes_per_request and f.kv.bytes_per_token:  # tokens: left after the states
        blocks += " and a linear-attention state per request"
    headroom = (
        ""
        if f.headroom_gib is None
        # never 1e+06-style: a huge workload's shortfall reads in digits, like every figure
        else f"; {f'{f.headroom_gib:,.2f}'.rstrip('0').rstrip('.')} GiB headroom at the workload"
    )
    engines = (
        f" per DP engine ({f.deployment_kv_tokens:,} tokens across {f.data_parallel_size} engines)"
        if f.data_parallel_size > 1 and f.deployment_kv_tokens
        else ""
    )
    offload = (
        f"; offloaded KV: {f.kv_offload_host_gib:g} GiB of host memory per engine"
        if f.kv_offload_host_gib
        else ""
    )
    return (
        f"{f.kv.tokens:,} tokens in {blocks} (KV cache dtype {f.kv.kv_cache_dtype}); "
        f"{f.max_concurrency_at_context:g}x requests at {f.max_model_len:,} tokens"
        f"{engines}{headroom}{offload}"
    )


def placement(plan: PlanResponse) -> str:
    """ "2 x L4", or "1 of 2 x L4" where the plan leaves given GPUs idle."""
    f = plan.feasibility
    used = f"{f.num_gpus_used}"
    if f.num_gpus_given > f.num_gpus_used:
        used += f" of {f.num_gpus_given}"
    elif f.num_gpus_given < f.num_gpus_used:
        used += f" (only {f.num_gpus_given} given)"
    return f"{used} x {f.gpu} ({parallel_shape(f)})"


def parallel_shape(f: FeasibilityReport) -> str:
    """ "TP 2, PP 1", with DP / EP / nodes where the deployment uses them."""
    shape = f"TP {f.tensor_parallel_size}, PP {f.pipeline_parallel_size}"
    if f.data_parallel_size > 1:
        shape = f"DP {f.data_parallel_size}, " + shape
    if f.expert_parallel:
        shape += ", EP"
    if f.nodes > 1:
        shape += f", {f.nodes} nodes"
    return shape


def fail_reason(plan: PlanResponse) -> str | None:
    """Why a failing plan fails, for the line under the verdict: the weights first, since
    vLLM stops loading them before anything else is reached."""
    f = plan.feasibility
    if not f.weights_fit:
        m = f.memory
        return (
            f"the weights need {m.weights_gib:.2f} GiB per GPU, more than the {f.gpu}'s "
            f"{m.total_gib:.2f} GiB: loading runs out of memory"
        )
    failing = (x for x in f.findings if x.severity.value == "error" and not x.estimated)
    first = next(failing, None)  # an estimated one is the OOM-risk line's already
    return None if first is None else f"{first.rule_id} {first.message}"


def risk_summary(plan: PlanResponse) -> str | None:
    """The OOM risk, where vLLM gets as far as a KV cache (else it never serves a request)."""
    f = plan.feasibility
    if not f.reaches_kv_cache:
        return None
    return f"{f.oom_risk.value} (estimated" + (
        f": {f.oom_risk_reason})" if f.oom_risk_reason else ")"
    )


def _lines(plan: PlanResponse, title: str | None, ctx: RenderContext | None) -> list[str]:
    f, c = plan.feasibility, plan.config
    heading = title if title is not None else f"vLLM plan: {c.model} on {f.gpu}"
    out = [f"### {md_text(heading)}", ""]
    out += [
        f"**{_BADGE[f.verdict.value]}**: {md_code(c.model)} on {md_text(placement(plan))}, "
        f"vLLM {md_text(c.vllm_version)}.",
        "",
    ]
    reason = fail_reason(plan) if f.verdict.value == "FAIL" else None
    if reason:
        out += [f"Fails: {md_text(reason)}", ""]
    risk = risk_summary(plan)
    if risk:
        out += [f"OOM risk: **{md_text(risk)}**", ""]
    out += [
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
    if f.suppressed:
        out += ["", "#### Suppressed (not counted)", ""]
        out += [
            f"- {md_code(item.rule_id)} {md_text(item.name)} ({md_code(item.key)}), "
            f"ignored because {md_text(item.suppressed)}: {item.severity.value}: "
            f"{md_text(item.message)}"
            for item in f.suppressed
        ]
    if plan.recommendations:
        out += ["", "#### Recommended settings", "", "| Setting | Value | Why |", "|---|---|---|"]
        out += [
            f"| {md_code(r.key, table=True)} | {md_code(r.value, table=True)} "
            f"| {md_text(r.reason)} |"
            for r in plan.recommendations
        ]
    if f.weights_fit:  # a model that does not load has no speed
        out += ["", "#### Performance (estimates, not measurements)", "", "| | Range |"]
        out += ["|---|---|", *(f"| {label} | {value} |" for label, value in perf_rows(plan))]
        out += [""] + [f"- {md_text(a)}" for a in plan.performance.assumptions]
        out += [f"- Range of {md_text(w)}" for w in perf_widths(plan)]
    out += ["", "#### Serve command", "", md_fence([serve_command(plan, ctx)], "sh")]
    return out


def render_report_md(
    plan: PlanResponse, *, title: str | None = None, ctx: RenderContext | None = None
) -> str:
    """The plan as GitHub-flavoured markdown; untrusted text cannot break out of its place.
    ``ctx``: the artifacts' context, so report.md shows the command serve.sh runs."""
    return "\n".join(_lines(plan, title, ctx)) + "\n"
