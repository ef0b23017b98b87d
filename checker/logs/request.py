"""A plan request rebuilt from what a start-up log says. Pure: log in, request and notes out.

Settings the log does not state stay None, so the planner takes vLLM's default for the version
and GPU, the way vLLM itself did; every guess is said in a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from checker.errors import UsageError
from checker.logs.reader import Fact, StartupLog
from checker.schemas.error_words import error_text
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import EngineInput, PlanRequest
from checker.schemas.profile import normalise_enum_spelling
from checker.schemas.section import ValidationError

# setting -> (request section, field)
_FIELDS = {
    "dtype": ("model", "dtype"),
    "quantization": ("model", "quantization"),
    "kv_cache_dtype": ("model", "kv_cache_dtype"),
    "max_model_len": ("model", "max_model_len"),
    "revision": ("model", "revision"),
    "tensor_parallel_size": ("hardware", "tensor_parallel_size"),
    "pipeline_parallel_size": ("hardware", "pipeline_parallel_size"),
    "gpu_memory_utilization": ("policy", "gpu_memory_utilization"),
    "max_num_seqs": ("engine", "max_num_seqs"),
    "max_num_batched_tokens": ("engine", "max_num_batched_tokens"),
    "block_size": ("engine", "block_size"),
    "enforce_eager": ("engine", "enforce_eager"),
    "enable_prefix_caching": ("engine", "enable_prefix_caching"),
    "kv_cache_memory_bytes": ("engine", "kv_cache_memory_bytes"),
    "data_parallel_size": ("engine", "data_parallel_size"),
    "enable_expert_parallel": ("engine", "enable_expert_parallel"),
}
_HF_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_HF_CACHE = re.compile(r"models--([\w.-]+?)--([\w.-]+)")
_RELEASE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")
# Figures that state the device's total memory, in order of trust.
_TOTAL = ("total_gpu_memory_gib",)


def logged_version(log: StartupLog) -> tuple[str | None, str]:
    """(X.Y[.Z] to plan with, where it came from)."""
    fact = log.settings.get("version")
    match = _RELEASE.match(str(fact.value)) if fact else None
    if fact and match:
        return ".".join(g for g in match.groups() if g is not None), f"line {fact.line}"
    if log.format_release:
        return log.format_release, f"the log's format (printed by vLLM {log.format_release})"
    return None, "not in the log: the newest vLLM we model"


def logged_install(log: StartupLog) -> tuple[str | None, str]:
    """(the build that ran, where it came from): the V1 sampler says whether FlashInfer imported
    (vllm_log_lines.yaml flashinfer-sampler), which only the official image had before 0.11.1."""
    fact = log.settings.get("flashinfer_sampler")
    if fact is None:
        return None, "not in the log: the official image"
    if str(fact.value) == "Using FlashInfer":
        return "image", f"line {fact.line}: FlashInfer samples, as in the official image"
    return "pip", f"line {fact.line}: FlashInfer is not installed, as in the PyPI wheel"


def logged_model(log: StartupLog) -> tuple[str | None, str]:
    """(model id, where it came from). A local path gives its id when it says one: a Hugging Face
    cache folder ("models--org--name"), a served model name that is an id, or the path's last
    two parts ("/data/org/name")."""
    fact = log.settings.get("model")
    if fact is None:
        return None, "not in the log"
    name = str(fact.value).rstrip("/")
    if _HF_ID.fullmatch(name):
        return name, f"line {fact.line}"
    cache = _HF_CACHE.search(name)
    if cache:
        return f"{cache[1]}/{cache[2]}", f"line {fact.line}, the Hugging Face cache folder's name"
    served = log.settings.get("served_model_name")
    if served is not None and _HF_ID.fullmatch(str(served.value)):
        return str(served.value), f"line {served.line} (served model name)"
    parts = [p for p in name.split("/") if p]
    tail = "/".join(parts[-2:])
    if len(parts) >= 3 and _HF_ID.fullmatch(tail):  # a folder right under a root is no org
        return tail, f"line {fact.line}, the local path's last two parts taken as the model id"
    return None, f"line {fact.line} names a local path ({name!r}), not a model id"


def log_engine_args(
    flat: dict[str, Any], nested: dict[str, dict[str, Any]], *, skip: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The non-default args a log states that EngineInput names, less ``skip`` (those the caller
    reads its own way): data_parallel_size, enable_lora, max_loras, speculative_config,
    kv_transfer_config, ...; and the names of those whose logged value EngineInput rejects,
    each checked alone so one bad value leaves the others in."""
    names = set(EngineInput.model_fields) - set(skip)
    kept: dict[str, Any] = {}
    rejected: list[str] = []
    for key, value in {**flat, **nested}.items():
        if key not in names:
            continue
        try:
            EngineInput(**{key: value})
        except ValidationError:
            rejected.append(key)
            continue
        kept[key] = value
    return kept, rejected


def binding_rank(log: StartupLog) -> str | None:
    """The rank that logged the least KV memory (vLLM sizes every rank's cache to it)."""
    logged = [(float(f.value), r.rank) for r in log.ranks if (f := r.first("kv_cache_gib"))]
    return min(logged)[1] if logged else None


def derived_requested(log: StartupLog) -> tuple[Fact, str] | None:
    """The requested memory where the log gives it only in parts: V1 logs KV = requested - non-KV
    exactly (v1/worker/gpu_worker.py determine_available_memory), V0 0.6.3/0.6.4 logs the total
    and the utilization on one line (worker.py determine_num_available_blocks)."""
    rank = log.rank(binding_rank(log) or "")
    kv = rank.first("kv_cache_gib") if rank else None
    non_kv = rank.first("non_kv_total_gib") if rank else None
    if rank is not None and kv is not None and non_kv is not None:
        total = round(float(kv.value) + float(non_kv.value), 2)
        return Fact(value=total, line=kv.line), f"{rank.rank} (non-KV + KV)"
    util = log.settings.get("gpu_memory_utilization")
    for each in log.ranks:
        device = each.first("total_gpu_memory_gib")
        if device is not None and util is not None and util.line == device.line:
            requested = round(float(device.value) * float(util.value), 2)
            return Fact(value=requested, line=device.line), f"{each.rank} (total x utilization)"
    return None


def logged_total_gib(log: StartupLog) -> tuple[float | None, str]:
    """The device's total memory as vLLM saw it, when the log says it."""
    for name in _TOTAL:
        fact = log.first(name)
        if fact is not None:
            return float(fact.value), f"line {fact.line}"
    requested, util = log.first("requested_gib"), log.settings.get("gpu_memory_utilization")
    if requested is not None and util is not None and float(util.value) > 0:
        total = round(float(requested.value) / float(util.value), 2)
        return total, f"requested memory / utilization, line {requested.line}"
    return None, "not in the log"


def logged_utilization(log: StartupLog, total_gib: float) -> tuple[float | None, str]:
    """The utilization the log states, else its requested memory over the device's total."""
    fact = log.settings.get("gpu_memory_utilization")
    if fact is not None:
        return float(fact.value), f"line {fact.line}"
    requested = log.first("requested_gib") or (derived_requested(log) or (None, ""))[0]
    if requested is None:
        return None, "not in the log"
    util = round(float(requested.value) / total_gib, 3)
    if not 0 < util <= 1:
        return None, f"requested memory (line {requested.line}) exceeds {total_gib:.2f} GiB"
    return util, f"requested memory (line {requested.line}) / {total_gib:.2f} GiB"


def logged_device_bound(log: StartupLog) -> int | None:
    """The most GPUs the machine can have had when a DP worker's device index was out of
    bounds: v1/worker/gpu_worker.py Worker.init_device asserts index < device count, so the
    lowest failing index bounds the count; None when no worker failed that way."""
    ranks = [
        int(f.figures["dp_adjusted_local_rank"])
        for f in log.failures
        if f.kind == "too-few-gpus" and "dp_adjusted_local_rank" in f.figures
    ]
    return max(1, min(ranks)) if ranks else None


def request_from_log(
    log: StartupLog,
    *,
    model: str | None = None,
    gpu: GPUSpec | None = None,
    vllm_version: str | None = None,
) -> tuple[PlanRequest, list[str]]:
    """The request vLLM was started with, as far as the log says; notes say what was assumed."""
    notes: list[str] = []
    model_id, where = (model, "given") if model else logged_model(log)
    if model_id is None:
        raise UsageError(
            f"the log does not name the model ({where})",
            hint="give --model ID (or --profile P)",
        )
    notes.append(f"model {model_id}: {where}")
    data: dict[str, Any] = {"model": {"model": model_id}, "hardware": {}, "policy": {}}
    data["engine"] = {}
    for name, (section, field) in _FIELDS.items():
        fact = log.settings.get(name)
        if fact is None:
            continue
        value: Any = fact.value
        if field in ("dtype", "quantization", "kv_cache_dtype"):
            try:
                value = normalise_enum_spelling(field, value)
            except ValueError:
                notes.append(f"{name} {value!r} (line {fact.line}) is not one we model: ignored")
                continue
        data[section][field] = value
    if "gpu_memory_utilization" not in data["policy"] and gpu is not None:
        util, where = logged_utilization(log, gpu.memory_gib)
        if util is not None:
            data["policy"]["gpu_memory_utilization"] = util
            notes.append(f"gpu_memory_utilization {util}: {where}")
    version, where = (vllm_version, "given") if vllm_version else logged_version(log)
    data["engine"]["vllm_version"] = version
    notes.append(f"vLLM {version or 'newest'}: {where}")
    install, where = logged_install(log)
    if install is not None:
        data["engine"]["install"] = install
        notes.append(f"install {install}: {where}")
    # _FIELDS and the version and build above are read their own way
    read = {f for s, f in _FIELDS.values() if s == "engine"} | {"vllm_version", "install"}
    args, rejected = log_engine_args(log.non_default_args, log.nested_args, skip=read)
    data["engine"].update(args)
    if args:
        notes.append("engine args read from the log: " + ", ".join(args))
    notes += [
        f"{name}: the log's value is not one we model: planned without it" for name in rejected
    ]
    # a dict-valued arg EngineInput does not name (compilation_config, ...): said, not planned
    notes += [
        f"{name} is not read from a log: planned without it"
        for name in log.nested_args
        if name not in args and name not in rejected
    ]
    tp = int(data["hardware"].get("tensor_parallel_size") or 1)
    pp = int(data["hardware"].get("pipeline_parallel_size") or 1)
    dp = int(data["engine"].get("data_parallel_size") or 1)
    visible = logged_device_bound(log)
    data["hardware"]["gpus"] = visible or tp * pp * dp
    if visible is not None:
        notes.append(f"{visible} GPU(s): a DP worker's device index was out of bounds")
    if gpu is not None:
        data["hardware"]["gpu"] = gpu.name
        data["hardware"]["custom_gpu"] = gpu.model_dump()
    try:
        return PlanRequest.model_validate(data), notes
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UsageError(f"the log's {where} cannot be planned: {error_text(err)}") from None
