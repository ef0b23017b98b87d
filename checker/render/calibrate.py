"""``vllm-wizard calibrate LOG... --profile P``: record what vLLM measured into a calibration file.

Each log must be a start of the profile's own setup: the model, vLLM version, GPU memory,
TP/PP/DP and the settings that change the measured terms are held against the profile's plan,
and any difference is an error naming the log line. max_model_len and gpu_memory_utilization
may differ (they change none of the terms). With several logs of the setup, each stage keeps the
run that left the least KV memory, so the plan never promises more than a run got.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.errors import UsageError
from checker.logs.measured import logged_memory
from checker.logs.reader import StartupLog
from checker.logs.request import logged_model, logged_total_gib, logged_utilization
from checker.planning.engine.settings import Settings, default_utilization
from checker.planning.memory.calibration import (
    LoggedTerms,
    blocks_from_tokens,
    calibration_key,
    measured_stages,
    same_version,
)
from checker.planning.memory.memory import MemoryPlan
from checker.render.escape import terminal
from checker.schemas.calibration import CalibrationEntry, StageTerms
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import ModelInfo

# the log's settings that must equal the plan's (_planned)
_MATCHED = (
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "data_parallel_size",
    "dtype",
    "quantization",
    "kv_cache_dtype",
    "max_num_batched_tokens",
    "max_num_seqs",
    "enforce_eager",
)
_GPU_TOLERANCE = 0.01  # the log's total memory may differ from the plan's by 1 %


def _planned(settings: Settings) -> dict[str, Any]:
    return {
        "tensor_parallel_size": settings.tp,
        "pipeline_parallel_size": settings.pp,
        "data_parallel_size": settings.dp,
        "dtype": settings.dtype,
        "quantization": settings.quantization,
        "kv_cache_dtype": settings.kv_cache_dtype,
        "max_num_batched_tokens": settings.max_num_batched_tokens,
        "max_num_seqs": settings.max_num_seqs,
        "enforce_eager": settings.enforce_eager,
    }


def mismatches(log: StartupLog, request: PlanRequest, settings: Settings) -> list[str]:
    """'LOG:LINE: the log's X is A, the profile's B' for each difference that changes the
    measured terms."""
    found: list[str] = []
    where = log.source
    model, _ = logged_model(log)
    fact = log.settings.get("model")
    if model is not None and fact and model.lower() != request.model.model.lower():
        found.append(
            f"{where}:{fact.line}: the log's model is {model}, the profile's {request.model.model}"
        )
    version = log.settings.get("version")
    if version is not None and not same_version(str(version.value), settings.facts.version):
        found.append(
            f"{where}:{version.line}: the log is vLLM {version.value}, the profile plans "
            f"{settings.facts.version} (pin vllm.version in the profile)"
        )
    total, said = logged_total_gib(log)
    planned_total = settings.gpu.memory_gib
    if total is not None and abs(total - planned_total) > _GPU_TOLERANCE * planned_total:
        found.append(
            f"{where}: the log's GPU has {total:.2f} GiB ({said}), the profile's "
            f"{settings.gpu.name} {planned_total:.2f} GiB"
        )
    found += _drafter_mismatch(log, settings)
    planned = _planned(settings)
    for name in _MATCHED:
        fact = log.settings.get(name)
        if fact is None:
            continue
        logged: Any = fact.value
        if name in ("quantization", "dtype", "kv_cache_dtype") and isinstance(logged, str):
            logged = logged.lower()
        if logged != planned[name]:
            found.append(
                f"{where}:{fact.line}: the log's {name} is {fact.value}, the "
                f"profile's {planned[name]}"
            )
    return found


# the speculative config's keys that change the measured terms: the drafter and its steps
_DRAFTER_KEYS = ("model", "method", "num_speculative_tokens")


def _drafter_mismatch(log: StartupLog, settings: Settings) -> list[str]:
    """The log's drafter against the profile's: its weights, KV layers and CUDA-graph sizes are
    in every term the log measured. Read from the non-default args vLLM prints (a log without
    that line says nothing about it)."""
    if not log.non_default_args and not log.nested_args:
        return []
    logged = log.nested_args.get("speculative_config") or {}
    planned = dict(settings.spec.config) if settings.spec else {}
    differ = [k for k in _DRAFTER_KEYS if k in logged and logged[k] != planned.get(k)]
    if bool(logged) == bool(planned) and not differ:
        return []
    said = {k: logged[k] for k in _DRAFTER_KEYS if k in logged} or "none"
    ours = {k: planned[k] for k in _DRAFTER_KEYS if k in planned} or "none"
    return [f"{log.source}: the log's speculative config is {said}, the profile's {ours}"]


@dataclass(frozen=True)
class Measurement:
    """One log's stages, and what it was started with."""

    stages: tuple[StageTerms, ...]
    max_model_len: int | None
    utilization: float
    lines: str


def measure(log: StartupLog, settings: Settings, memory: MemoryPlan) -> Measurement:
    """The terms ``log`` measured, per stage, on the plan's layout."""
    logged = logged_memory(log, settings.pp)
    util, _ = logged_utilization(log, settings.gpu.memory_gib)
    if util is None:  # vLLM prints only the arguments that differ from its defaults
        util = (
            default_utilization(settings.facts, settings.extensible_kv)
            if log.non_default_args
            else settings.gpu_memory_utilization
        )
    count = int(logged.gpu_blocks.value) if logged.gpu_blocks else None
    blocks = None if count is None else (count, count)
    if blocks is None and logged.kv_cache_tokens is not None:
        blocks = blocks_from_tokens(memory, int(logged.kv_cache_tokens.value))
    terms = [
        LoggedTerms(
            kv_cache_gib=float(s.terms["kv_cache_gib"].value),
            **{name: float(fact.value) for name, fact in s.terms.items() if name != "kv_cache_gib"},
        )
        for s in logged.stages
    ]
    lines = sorted({f.line for s in logged.stages for f in s.terms.values()})
    length = log.settings.get("max_model_len")
    return Measurement(
        measured_stages(memory, terms, gpu_memory_utilization=util, gpu_blocks=blocks),
        int(length.value) if length else None,
        util,
        f"{log.source}:{','.join(map(str, lines))}",
    )


def calibration_entry(
    logs: Sequence[StartupLog],
    request: PlanRequest,
    model: ModelInfo,
    gpu: GPUSpec,
    draft: ModelInfo | None = None,
) -> CalibrationEntry:
    """The entry for the profile's setup from its logs, on exactly the settings and memory
    layout the plan uses (``draft``: the speculative config's drafter, as the plan resolves
    it); a log of another setup is a UsageError listing every difference."""
    from checker.planning.planner import engine_setup

    _, settings, memory = engine_setup(request, model, gpu, draft=draft)
    problems = [p for log in logs for p in mismatches(log, request, settings)]
    if problems:
        error = UsageError(
            f"{problems[0]}; a calibration holds only starts of the profile's own setup",
            hint="calibrate each log with the profile it was started from",
        )
        error.details = problems
        raise error
    runs = [measure(log, settings, memory) for log in logs]
    # each stage: the run that took the most before the KV cache (the least KV left)
    stages = tuple(
        max((run.stages[s] for run in runs), key=lambda t: t.non_kv_gib) for s in range(settings.pp)
    )
    worst = max(runs, key=lambda r: r.stages[0].non_kv_gib)
    return CalibrationEntry(
        key=calibration_key(request, settings),
        max_num_seqs=settings.max_num_seqs,
        max_model_len=worst.max_model_len,
        gpu_memory_utilization=worst.utilization,
        stages=stages,
        logs=tuple(run.lines for run in runs),
    )


def run_calibrate(args: argparse.Namespace) -> int:
    from checker.models.resolve import resolve_model
    from checker.pipeline import (
        located,
        lockfile_from_args,
        request_from_args,
        resolve_draft,
        resolve_gpu,
    )
    from checker.render.explain import read_log_file
    from checker.schemas.calibration import read_calibration, write_calibration

    if args.logs.count("-") > 1:  # the second read of standard input finds it already empty
        raise UsageError(
            "'-' (standard input) is given more than once; it can be read only once",
            hint="pipe one log in and name the others as files",
        )
    request, loaded = request_from_args(args)
    found = {"offline": args.offline, "lockfile": lockfile_from_args(args)}
    with located(loaded):
        model = resolve_model(request.model, **found, record=args.update_lockfile)
        draft = resolve_draft(request, **found, record=args.update_lockfile)
        gpu = resolve_gpu(request.hardware)
    output = Path(args.output)
    existing = read_calibration(output, to_update=True)  # a file it must not replace stops here
    logs = [read_log_file(Path(p)) for p in args.logs]
    entry = calibration_entry(logs, request, model, gpu, draft)
    write_calibration(output, existing.with_entry(entry))
    t = terminal
    k = entry.key
    print(
        f"wrote {t(output)}: {t(k.model)} on {t(k.gpu)}, vLLM {t(k.vllm_version)}, "
        f"TP {k.tensor_parallel_size} PP {k.pipeline_parallel_size} "
        f"DP {k.data_parallel_size}, max_num_seqs {entry.max_num_seqs}"
    )
    for s in entry.stages:
        terms = ", ".join(
            f"{label} {value:.2f}"
            for label, value in (
                ("weights", s.weights_gib),
                ("activation", s.activation_gib),
                ("non-torch", s.non_torch_gib),
                ("CUDA graphs", s.cudagraph_gib),
            )
            if value is not None
        )
        print(
            f"  stage {s.stage}: {terms or 'no term logged'}; before the KV cache "
            f"{s.non_kv_gib:.3f} GiB (GiB per rank)"
        )
    print(
        "plan, check and audit use it for this setup at any max_model_len and "
        "gpu_memory_utilization (pass --calibration FILE, or keep it at the repo config's path)"
    )
    return 0
