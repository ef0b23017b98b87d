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
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from checker.errors import CheckerError, UsageError, reason
from checker.logs.compare import Comparison, compare
from checker.logs.failures import FailureReport, failed_starts, failure_report
from checker.logs.reader import LogReadError, StartupLog, read_log
from checker.logs.request import logged_total_gib, request_from_log
from checker.planning.engine.spec_config import SHORT_FLAGS
from checker.render import escape
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.outputs import PlanResponse
from checker.schemas.yaml_source import NotRegularFileError, why_not_a_file

MAX_LOG_BYTES = 64 << 20  # a day of a chatty server; a bigger file is not a start-up log
_BINARY_PROBE = 8192
_GZIP_MAGIC = b"\x1f\x8b"
# compressed or archived files that are no text log: (what it is, the command that unpacks it)
_PACKED = {
    _GZIP_MAGIC: ("gzip data", "gzip -dc"),
    b"\xfd7zXZ\x00": ("xz data", "xz -dc"),
    b"BZh": ("bzip2 data", "bzip2 -dc"),
    b"\x28\xb5\x2f\xfd": ("zstd data", "zstd -dc"),
    b"PK\x03\x04": ("a zip archive", "unzip -p"),
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CUT_IT = "cut the log to the server's start-up (up to 'Application startup complete' or the error)"
# the EngineInput fields that ask for speculative decoding (planning/spec_config.py SHORT_FLAGS)
_SPECULATIVE = ("speculative_config", *(field for _, _, field in SHORT_FLAGS))


def read_log_file(path: Path) -> StartupLog:
    """The log at ``path`` ('-': standard input, for ``kubectl logs POD | vllm-wizard explain
    -``); a missing, binary, oversized or unrecognisable file is an error."""
    if str(path) == "-":
        return _read_log_bytes(sys.stdin.buffer.read(MAX_LOG_BYTES + 1), Path("<stdin>"))
    try:
        if not path.is_file():
            why = why_not_a_file(path)
            # a pipe (`<(kubectl logs ...)`, /dev/stdin) is refused rather than waited on
            piped = "pipe the log in and give '-'" if why == NotRegularFileError.WHY else None
            raise LogReadError(why, location=str(path), hint=piped)
        size = path.stat().st_size
        if size > MAX_LOG_BYTES:
            raise LogReadError(
                f"larger than {MAX_LOG_BYTES >> 20} MiB ({size} bytes)",
                location=str(path),
                hint=_CUT_IT,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise LogReadError(f"cannot read: {reason(exc)}", location=str(path)) from None
    return _read_log_bytes(data, path)


def _read_log_bytes(data: bytes, path: Path) -> StartupLog:
    """The log in ``data``, read from ``path``: gzip unpacked, UTF-16 decoded; other packed
    or binary data is an error that says what it is."""
    if len(data) > MAX_LOG_BYTES:
        raise LogReadError(
            f"larger than {MAX_LOG_BYTES >> 20} MiB", location=str(path), hint=_CUT_IT
        )
    gzipped = data[:2] == _GZIP_MAGIC
    if gzipped:  # a rotated or archived log: read up to the same bound
        data = _gunzip(data, path)
    packed = next((kind for magic, kind in _PACKED.items() if data.startswith(magic)), None)
    if packed is not None:
        name, command = packed
        raise LogReadError(
            f"{'a gzip file holding ' if gzipped else ''}{name}, not a text log",
            location=str(path),
            hint=f"decompress it first ({command} FILE > vllm.log); logs are read as text or gzip",
        )
    if data[:2] in _UTF16_BOMS:  # PowerShell's '>' writes UTF-16: the log is text all the same
        return read_log(data.decode("utf-16", errors="replace"), source=str(path))
    if b"\x00" in data[:_BINARY_PROBE]:
        raise LogReadError("a binary file, not a text log", location=str(path))
    return read_log(data.decode("utf-8", errors="replace"), source=str(path))


def _gunzip(data: bytes, path: Path) -> bytes:
    """The text of a gzip file, bounded like a plain log; damage is named, with a way out."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            text = unzipped.read(MAX_LOG_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        cut = isinstance(exc, EOFError)
        raise LogReadError(
            "cannot read: " + ("a gzip file cut short" if cut else "damaged gzip data"),
            location=str(path),
            hint="copy the log again; 'gzip -dc FILE > vllm.log' keeps what can be read",
        ) from None
    if len(text) > MAX_LOG_BYTES:
        raise LogReadError(
            f"larger than {MAX_LOG_BYTES >> 20} MiB once decompressed", location=str(path)
        )
    return text


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


def _with_drafter(
    request: PlanRequest, notes: list[str], *, offline: bool, lockfile: Path | None, record: bool
) -> PlanRequest:
    """``request`` when its drafter resolves as ``plan`` resolves it (catalog, local path,
    lockfile, then the Hub unless offline); else the target alone, said in a note, so that a log
    naming a drafter we cannot find is still held against a plan."""
    from checker.pipeline import resolve_draft

    try:
        resolve_draft(request, offline=offline, lockfile=lockfile, record=record)
    except CheckerError as exc:
        notes.append(
            f"the drafter could not be resolved ({exc.message}): the plan is of the target alone"
        )
        engine = request.engine.model_copy(update=dict.fromkeys(_SPECULATIVE))
        return request.model_copy(update={"engine": engine})
    return request


def explain(args: argparse.Namespace) -> Explanation:
    from checker.pipeline import lockfile_from_args, plan_request

    log = read_log_file(Path(args.log))
    request, notes = _request(args, log)
    lockfile = lockfile_from_args(args)
    request = _with_drafter(
        request, notes, offline=args.offline, lockfile=lockfile, record=args.update_lockfile
    )

    def replan(req: PlanRequest) -> PlanResponse:
        return plan_request(
            req, offline=args.offline, lockfile=lockfile, record=args.update_lockfile
        )

    plan = replan(request)
    logged, where = logged_total_gib(log)
    planned = plan.feasibility.memory.total_gib
    if logged is not None and abs(logged - planned) > 0.01 * planned:
        notes.append(
            f"the log's GPU has {logged:.2f} GiB ({where}) but the plan's {planned:.2f} GiB: "
            "the terms below compare different devices"
        )
    return Explanation(
        source=args.log,
        request_notes=notes,
        plan=plan,
        comparison=compare(log, plan),
        failures=[failure_report(f, log, request, plan, replan) for f in failed_starts(log)],
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
        "failures": [asdict(f) for f in ex.failures],
        "plan": ex.plan.to_dict(),
    }
    return json.dumps(data, indent=2) + "\n"


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def run_explain(args: argparse.Namespace) -> int:
    try:
        ex = explain(args)
    except CheckerError as exc:  # a model or setting the log named: point at the log
        if exc.location is None and args.profile is None:
            exc.location = args.log
        raise
    print(RENDERERS[args.format](ex), end="")
    return 0
