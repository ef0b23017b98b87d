"""``vllm-wizard explain LOG``: a start-up log held against our plan of the same settings.

Reads the log (bounded, text only), rebuilds the request from it (or takes the profile given),
plans it, and shows predicted vs logged term by term. For a failed start: which budget ran out,
by how much, and the fixes the planner's own rules give, re-planned to confirm they start.
Everything the log says is untrusted text and is escaped in every format.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checker.errors import CheckerError, UsageError
from checker.logs.compare import Comparison, compare
from checker.logs.reader import Failure, LogReadError, StartupLog, read_log
from checker.logs.request import logged_total_gib, request_from_log
from checker.render import escape
from checker.schemas.enums import Severity
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import request_field

MAX_LOG_BYTES = 64 << 20  # a day of a chatty server; a bigger file is not a start-up log
_BINARY_PROBE = 8192
_GZIP_MAGIC = b"\x1f\x8b"
# failure kind -> the rules that predict it (checker/planning/rules/memory.py)
_RULES = {
    "no-kv-memory": ("VW202", "VW201"),
    "kv-too-small": ("VW203",),
    "sampler-warmup-oom": ("VW205",),
    "cuda-oom": ("VW201", "VW205"),
    "free-memory-at-startup": (),
    "not-divisible": ("VW119", "VW101"),
}
_BUDGETS = {
    "no-kv-memory": "KV cache budget (requested memory minus weights, activation and non-torch)",
    "kv-too-small": "KV cache for one request at max_model_len",
    "sampler-warmup-oom": "memory left outside vLLM's budget for the sampler warm-up",
    "cuda-oom": "free device memory",
    "free-memory-at-startup": "free device memory at start-up (other processes hold some)",
    "not-divisible": "none: a layer does not split evenly over the tensor-parallel ranks",
}


def read_log_file(path: Path) -> StartupLog:
    """The log at ``path``; a missing, binary, oversized or unrecognisable file is an error."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise LogReadError("not a regular file", location=str(path))
        if size > MAX_LOG_BYTES:
            raise LogReadError(
                f"larger than {MAX_LOG_BYTES >> 20} MiB ({size} bytes)",
                location=str(path),
                hint="cut the log to the server's start-up (up to 'Application startup "
                "complete' or the error)",
            )
        data = path.read_bytes()
        if data[:2] == _GZIP_MAGIC:  # a rotated or archived log: read up to the same bound
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                data = unzipped.read(MAX_LOG_BYTES + 1)
            if len(data) > MAX_LOG_BYTES:
                raise LogReadError(
                    f"larger than {MAX_LOG_BYTES >> 20} MiB once decompressed", location=str(path)
                )
    except (OSError, EOFError, zlib.error) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise LogReadError(f"cannot read: {why}", location=str(path)) from None
    if b"\x00" in data[:_BINARY_PROBE]:
        raise LogReadError("a binary file, not a text log", location=str(path))
    return read_log(data.decode("utf-8", errors="replace"), source=str(path))


@dataclass(frozen=True)
class FailureReport:
    kind: str
    line: int
    text: str
    budget: str
    short_by: str | None
    fixes: list[str] = field(default_factory=list)
    outcome: str = ""


@dataclass(frozen=True)
class Explanation:
    source: str
    request_notes: list[str]
    plan: PlanResponse
    comparison: Comparison
    failures: list[FailureReport]


def _gpu(args: argparse.Namespace, log: StartupLog, notes: list[str]) -> GPUSpec:
    from checker.hardware.catalog import find_gpu

    total, where = logged_total_gib(log)
    if args.vram_gb is not None:
        total, where = args.vram_gb, "given (--vram-gb)"
    if args.gpu_name:
        spec = find_gpu(args.gpu_name)
        notes.append(f"GPU {spec.name}: given (--gpu)")
        if total is not None:
            notes.append(f"GPU memory {total:.2f} GiB: {where}")
            spec = spec.model_copy(update={"memory_gib": total})
        return spec
    if total is None:
        raise UsageError(
            "the log does not state the GPU or its memory",
            hint="give --gpu NAME (see 'vllm-wizard gpus') or --vram-gb GIB",
        )
    notes.append(
        f"GPU memory {total:.2f} GiB: {where}; compute capability assumed 8.0 (give --gpu for "
        "the GPU's own)"
    )
    return GPUSpec(
        name=f"GPU of the log ({total:.2f} GiB)",
        memory_gib=total,
        memory_bandwidth_gbs=1000,
        fp16_tflops=100,
        compute_capability="8.0",
        source="the log's total memory",
    )


def _request(args: argparse.Namespace, log: StartupLog) -> tuple[PlanRequest, list[str]]:
    if args.profile:
        from checker.pipeline import request_from_args

        request, _ = request_from_args(args)
        return request, [f"settings from the profile {args.profile}"]
    notes: list[str] = []
    gpu = _gpu(args, log, notes)
    request, more = request_from_log(log, model=args.model, gpu=gpu, vllm_version=args.vllm_version)
    if args.model_config:
        model = request.model.model_copy(update={"config_path": args.model_config})
        request = request.model_copy(update={"model": model})
    return request, more + notes


def _failures(log: StartupLog) -> list[Failure]:
    """The failures the log reports (each kind once: every rank reports it), plus the ones its
    figures show (a negative KV budget)."""
    found = list({f.kind: f for f in reversed(log.failures)}.values())[::-1]
    kv, blocks = log.first("kv_cache_gib"), log.first("gpu_blocks")
    for fact in (kv, blocks):
        if fact is not None and float(fact.value) <= 0 and not found:
            found.append(
                Failure(kind="no-kv-memory", line=fact.line, rank="", text="(from the figures)")
            )
    return found


def _short_by(failure: Failure, log: StartupLog) -> str | None:
    f = failure.figures
    if failure.kind == "kv-too-small" and "kv_needed_gib" in f:
        return f"{float(f['kv_needed_gib']) - float(f['kv_cache_gib']):.2f} GiB"
    if failure.kind == "kv-too-small" and "kv_cache_tokens" in f:
        return f"{int(f['max_model_len']) - int(f['kv_cache_tokens'])} tokens"
    if failure.kind == "no-kv-memory":
        kv = log.first("kv_cache_gib")
        return f"{-float(kv.value):.2f} GiB" if kv is not None and float(kv.value) < 0 else None
    if failure.kind == "cuda-oom" and "oom_free_gib" in f:
        return f"{float(f['oom_request_gib']) - float(f['oom_free_gib']):.2f} GiB"
    if failure.kind == "free-memory-at-startup":
        return f"{float(f['requested_gib']) - float(f['free_memory_gib']):.2f} GiB"
    return None


def _log_check(failure: Failure, log: StartupLog, values: dict[str, Any]) -> str | None:
    """The fix held against the log's own figures, where they say enough: a utilization moves
    the KV cache by the same share of the device (the other terms do not depend on it); a
    max_model_len must fit the tokens the log's KV cache held."""
    util = values.get("policy.gpu_memory_utilization")
    length = values.get("model.max_model_len")
    kv, old = log.first("kv_cache_gib"), log.settings.get("gpu_memory_utilization")
    total, _ = logged_total_gib(log)
    if util is not None and kv is not None and old is not None and total is not None:
        after = float(kv.value) + (float(util) - float(old.value)) * total
        verdict = "enough for blocks" if after > 0 else "still none"
        return f"by the log's own figures the KV cache would be {after:.2f} GiB ({verdict})"
    tokens = failure.figures.get("estimated_max_model_len") or failure.figures.get(
        "kv_cache_tokens"
    )
    if length is not None and tokens is not None:
        fits = "fits" if int(length) <= int(tokens) else "does not fit"
        return f"by the log's own figures the KV cache holds {tokens} tokens: {length} {fits}"
    return None


def _fixed(request: PlanRequest, fix_values: dict[str, Any]) -> PlanRequest:
    data = request.model_dump()
    for key, value in fix_values.items():
        section, name = request_field(key)
        data[section][name] = value
    return PlanRequest.model_validate(data)


def _report(
    failure: Failure,
    log: StartupLog,
    request: PlanRequest,
    plan: PlanResponse,
    replan: Any,
) -> FailureReport:
    rules = _RULES.get(failure.kind, ())
    matched = [
        f for f in plan.feasibility.findings if f.severity is Severity.ERROR and f.rule_id in rules
    ]
    base = FailureReport(
        kind=failure.kind,
        line=failure.line,
        text=failure.text,
        budget=_BUDGETS.get(failure.kind, failure.kind),
        short_by=_short_by(failure, log),
    )
    if not matched:
        f = plan.feasibility
        risk = f"; OOM risk {f.oom_risk.value}: {f.oom_risk_reason}" if f.oom_risk_reason else ""
        outcome = (
            f"our plan does not predict this failure (verdict {f.verdict.value}{risk}); the "
            "term differences above show where it is optimistic"
        )
        return FailureReport(**{**base.__dict__, "outcome": outcome})
    fixes = [f"{f.rule_id} {f.name}: {f.fix}" for f in matched]
    values = {k: v for f in matched for k, v in f.fix_values.items()}
    if not values:
        return FailureReport(
            **{**base.__dict__, "fixes": fixes, "outcome": "no single setting fixes it"}
        )
    fixed_plan: PlanResponse = replan(_fixed(request, values))
    errors = [f.rule_id for f in fixed_plan.feasibility.findings if f.severity is Severity.ERROR]
    change = ", ".join(f"{k}={v}" for k, v in values.items())
    if errors:
        outcome = f"with {change} the plan still fails ({', '.join(errors)})"
    else:
        fx = fixed_plan.feasibility
        tokens = fx.kv.tokens if fx.kv else 0
        outcome = (
            f"with {change} the planner confirms it starts: KV cache "
            f"{fx.memory.kv_cache_gib:.2f} GiB, {tokens:,} tokens, "
            f"{fx.max_concurrency_at_context:.2f}x at {fx.max_model_len} tokens"
        )
    check = _log_check(failure, log, values)
    if check:
        outcome += f"; {check}"
    return FailureReport(**{**base.__dict__, "fixes": fixes, "outcome": outcome})


def explain(args: argparse.Namespace) -> Explanation:
    from checker.pipeline import lockfile_from_args, plan_request

    log = read_log_file(Path(args.log))
    request, notes = _request(args, log)
    lockfile = lockfile_from_args(args)

    def replan(req: PlanRequest) -> PlanResponse:
        return plan_request(req, offline=not args.online, lockfile=lockfile)

    plan = replan(request)
    return Explanation(
        source=args.log,
        request_notes=notes,
        plan=plan,
        comparison=compare(log, plan),
        failures=[_report(f, log, request, plan, replan) for f in _failures(log)],
    )


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if unit in ("blocks", "tokens") else f"{value:,.2f}"


def _diff(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:+,.0f}" if unit in ("blocks", "tokens") else f"{value:+,.2f}"


def _rows(ex: Explanation) -> list[tuple[str, str, str, str, str, str]]:
    return [
        (
            f"{t.label} ({t.unit})",
            _fmt(t.predicted, t.unit),
            _fmt(t.logged, t.unit),
            _diff(t.difference, t.unit),
            str(t.line) if t.line else "-",
            t.rank or "-",
        )
        for t in ex.comparison.terms
    ]


def render_text(ex: Explanation) -> str:
    t = escape.terminal
    out = [f"explain {t(ex.source)}: {t(ex.plan.model.model_id)} on {t(ex.plan.feasibility.gpu)}"]
    out += [f"  {t(note)}" for note in ex.request_notes]
    header = ("term", "predicted", "logged", "diff", "line", "rank")
    rows = [header, *[tuple(t(c) for c in row) for row in _rows(ex)]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    out.append("")
    for row in rows:
        out.append(
            "  ".join(
                c.ljust(w) if i in (0, 5) else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    out += ["", f"difference: {t(ex.comparison.explanation)}"]
    for f in ex.failures:
        out.append(f"failed start (line {f.line}): {t(f.kind)}: {t(f.text)}")
        short = f", short by {f.short_by}" if f.short_by else ""
        out.append(f"  budget that ran out: {f.budget}{short}")
        out += [f"  fix {t(fix)}" for fix in f.fixes]
        out.append(f"  {t(f.outcome)}")
    return "\n".join(out) + "\n"


def render_markdown(ex: Explanation) -> str:
    md = escape.md_text
    out = [
        f"### vllm-wizard explain {md(ex.source)}",
        "",
        f"{md(ex.plan.model.model_id)} on {md(ex.plan.feasibility.gpu)}",
        "",
        *[f"- {md(note)}" for note in ex.request_notes],
        "",
        "| term | predicted | logged | diff | line | rank |",
        "|---|---:|---:|---:|---:|---|",
    ]
    out += [f"| {md(a)} | {b} | {c} | {d} | {e} | {md(r)} |" for a, b, c, d, e, r in _rows(ex)]
    out += ["", f"**Difference:** {md(ex.comparison.explanation)}"]
    for f in ex.failures:
        short = f", short by {md(f.short_by)}" if f.short_by else ""
        out += [
            "",
            f"**Failed start** (line {f.line}, {md(f.kind)}): {md(f.text)}",
            "",
            f"- budget that ran out: {md(f.budget)}{short}",
            *[f"- fix {md(fix)}" for fix in f.fixes],
            f"- {md(f.outcome)}",
        ]
    return "\n".join(out) + "\n"


def render_json(ex: Explanation) -> str:
    data = {
        "log": ex.source,
        "model": ex.plan.model.model_id,
        "gpu": ex.plan.feasibility.gpu,
        "notes": ex.request_notes,
        "terms": [{**t.model_dump(), "difference": t.difference} for t in ex.comparison.terms],
        "binding_rank": ex.comparison.binding_rank,
        "explains": ex.comparison.explains,
        "explanation": ex.comparison.explanation,
        "failures": [f.__dict__ for f in ex.failures],
        "plan": ex.plan.to_dict(),
    }
    return json.dumps(data, indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def run_explain(args: argparse.Namespace) -> int:
    try:
        ex = explain(args)
    except LogReadError:
        raise
    except CheckerError as exc:
        if exc.location is None and args.profile is None:
            exc.location = args.log
        raise
    print(RENDERERS[args.format](ex), end="")
    return 0
