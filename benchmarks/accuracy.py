"""Accuracy of the engine against real vLLM start-up logs.

    python benchmarks/accuracy.py --corpus ../shared/validation/vllm_startup_logs.public.yaml \
        --configs ../shared/validation/configs [--json]
    python benchmarks/accuracy.py --logs LOG_OR_DIR... --configs DIR [--gpu NAME]

Raw logs (text or gzip; a folder's *.log, *.log.gz and *.txt files) become cases through the log
reader (checker/logs/): the model, settings, version and GPU memory the log states, and the
figures it logged as the observed values, so a new public log is a held-out case at once; the
non-default args EngineInput names (dict values such as speculative_config included) become
its engine_args, and those whose value EngineInput rejects are listed as unread_args. A log
that names no model, states no GPU memory (and no --gpu is given) or shows neither a KV cache
size nor a start-up failure is skipped with the reason.

For every case: the model's config (config_model's, when the case names one) is
DIR/org__name.json (keys it lacks, as in partial copies, are filled from the built-in catalog's
config of the same model), else the built-in catalog, else the case is skipped with the reason.
A case's engine_args mapping carries the further engine settings its log states
(kv_transfer_config, speculative_config, data_parallel_size, enable_lora, ...) under
EngineInput's names. A case's install (image or pip) is how the log's vLLM was installed, as
its paths or post show (data/vllm_builds.yaml: the kernels each build holds); left out, the
official image. A case with an out_of_scope reason (a model or feature the engine does not
model) is kept in the corpus with its log and listed with the reason, outside the error figures.
The GPU is the case's gpu_mem_gib when given (as total device memory), else the GPU catalog
entry named in gpu_name; a case's interconnect (pcie, nvlink) is stated only where its log
proves it, else unknown. Prints predicted vs observed weights, KV GiB, KV tokens, max
concurrency and status, then per field the median and max absolute % error and how many
statuses agree.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import yaml

from checker.errors import CheckerError
from checker.models.config_parser import parse_config
from checker.planning.planner import run_plan
from checker.schemas.enums import KVCacheDType, Quantization
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import (
    EngineInput,
    HardwareInput,
    ModelInput,
    PlanRequest,
    PolicyInput,
)
from checker.schemas.outputs import MemoryBreakdown, PlanResponse
from checker.schemas.section import ValidationError

FIELDS = ("weights_gib", "kv_cache_gib", "kv_cache_tokens", "max_concurrency")
_VERSION = re.compile(r"v?(\d+\.\d+)(?:\.\d+)?")


def _catalog_config(model_id: str) -> dict[str, Any] | None:
    from checker.models import catalog

    found = catalog.lookup(model_id)
    return dict(found[0]) if found else None


def case_config(case: dict[str, Any], configs: Path) -> tuple[dict[str, Any] | None, str]:
    """(config, where it came from) or (None, why not). A case's config_model names another
    checkpoint whose config is the logged one's in every field sizing reads (its notes say
    which fields were compared)."""
    model = str(case.get("config_model") or case.get("model") or "")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", model):
        return None, f"model {model!r} is not an org/name id"
    path = configs / (model.replace("/", "__") + ".json")
    catalog = _catalog_config(model)
    if path.is_file():
        local = json.loads(path.read_text(encoding="utf-8"))
        if catalog:  # partial vendored copies leave out what transformers would default
            merged = {**catalog, **local}
            for key, value in local.items():  # and a nested config's fields they did not copy
                if isinstance(value, dict) and isinstance(catalog.get(key), dict):
                    merged[key] = {**catalog[key], **value}
            return merged, f"{path.name} + catalog"
        return local, path.name
    if catalog:
        return catalog, "built-in catalog"
    return None, f"no {path.name} in the configs folder and not in the built-in catalog"


def case_gpu(case: dict[str, Any]) -> GPUSpec | None:
    from checker.hardware.catalog import find_gpu

    full = str(case.get("gpu_name") or "")
    name = re.sub(r"^\d+x\s*", "", re.sub(r"\(.*?\)", "", full).strip())
    size = re.search(r"(\d+)\s*GB", full)
    spec: GPUSpec | None = None
    # "NVIDIA A100 (80GB inferred ...)": the size in the note picks the SKU
    for candidate in (name, f"{name} {size.group(1)}GB" if size else None):
        try:
            spec = find_gpu(candidate) if candidate else None
        except CheckerError:
            continue
        break
    memory = case.get("gpu_mem_gib")
    if spec is None and memory:
        spec = GPUSpec(
            name=name or "unknown",
            memory_gib=float(memory),
            memory_bandwidth_gbs=1000,
            fp16_tflops=100,
            compute_capability="8.0",
            source="benchmark fallback",
        )
    if spec is not None and memory:
        spec = spec.model_copy(update={"memory_gib": float(memory)})
    return spec


# Log formats and the releases that print them (shared/validation/README.md, section 1), for
# cases that state no version.
_LOG_FORMATS = (
    ("Memory profiling results: total_gpu_memory=", "0.6"),  # worker.py ~v0.6.3/0.6.4
    ("the current vLLM instance can use total_gpu_memory", "0.7"),  # V0 v0.6.5-v0.8
    ("Available KV cache memory:", None),  # V1: newest known
)


def case_version(case: dict[str, Any]) -> str | None:
    """The case's vLLM version; else one its notes name; else the release its log format is from."""
    for text in [str(case.get("vllm_version") or ""), *map(str, case.get("notes") or [])]:
        match = _VERSION.search(text)
        if match:
            return match.group(1)
    excerpt = "\n".join(map(str, case.get("raw_excerpt") or []))
    return next((v for marker, v in _LOG_FORMATS if marker in excerpt), None)


def _enum_value(text: Any, enum: type[Quantization] | type[KVCacheDType], default: str) -> str:
    token = str(text or default).split()[0].replace("torch.", "")
    return token if token in {e.value for e in enum} else default


def case_engine_args(case: dict[str, Any]) -> dict[str, Any]:
    """The case's engine_args: further engine settings the log states (speculative_config,
    kv_transfer_config, data_parallel_size, enable_lora, ...), named as EngineInput names them."""
    extra = case.get("engine_args") or {}
    if not isinstance(extra, dict):
        raise CheckerError(f"engine_args must be a mapping, not {type(extra).__name__}")
    return dict(extra)


def case_request(case: dict[str, Any]) -> tuple[PlanRequest, int]:
    dtype = str(case.get("dtype") or "auto").replace("torch.", "").split()[0]
    if dtype not in ("auto", "float16", "bfloat16", "float32"):
        dtype = "auto"
    tp = int(case.get("tensor_parallel_size") or 1)
    pp = int(case.get("pipeline_parallel_size") or 1)
    extra = case_engine_args(case)
    try:
        engine = EngineInput(
            vllm_version=case_version(case),
            max_num_seqs=case.get("max_num_seqs"),
            max_num_batched_tokens=case.get("max_num_batched_tokens"),
            block_size=case.get("block_size") if case.get("block_size") != 16 else None,
            enforce_eager=bool(case.get("enforce_eager")),
            enable_prefix_caching=case.get("enable_prefix_caching"),
            install=case.get("install") or "image",
            **extra,
        )
    except (TypeError, ValidationError) as exc:
        raise CheckerError(f"engine_args: {exc}") from None
    request = PlanRequest(
        model=ModelInput(
            model=case["model"],
            dtype=dtype,
            quantization=_enum_value(case.get("quantization"), Quantization, "none"),
            kv_cache_dtype=_enum_value(case.get("kv_cache_dtype"), KVCacheDType, "auto"),
            max_model_len=case.get("max_model_len"),
        ),
        hardware=HardwareInput(
            gpu="case",
            # the GPUs the log's machine had: fewer than DP x TP x PP is vLLM's start-up error
            gpus=int(case.get("num_gpus") or tp * pp * engine.data_parallel_size),
            tensor_parallel_size=tp,
            pipeline_parallel_size=pp,
            # what the log proves of the GPUs' links (custom all-reduce's PCIe-only warning)
            interconnect=case.get("interconnect") or "unknown",
        ),
        policy=PolicyInput(gpu_memory_utilization=case.get("gpu_memory_utilization")),
        engine=engine,
    )
    return request, tp


def available_kv_gib(memory: MemoryBreakdown) -> float:
    """vLLM's "Available KV cache memory", negative where the other terms exceed the budget:
    v1/worker/gpu_worker.py determine_available_memory logs it signed, then
    v1/core/kv_cache_utils.py check_enough_kv_cache_memory refuses it (0.10.1). The plan
    reports it clamped at 0, so the benchmark adds the terms back up."""
    if memory.kv_cache_gib > 0:
        return memory.kv_cache_gib
    graphs = memory.cudagraph_gib if memory.cudagraph_subtracted else 0.0
    used = memory.weights_gib + memory.activation_gib + memory.non_torch_gib + graphs
    return round(memory.requested_gib - used, 2)


def predicted(plan: PlanResponse) -> dict[str, Any]:
    f = plan.feasibility
    # A start-up error predicts a failure; a high OOM risk (estimated) is reported beside it.
    failed = not f.fits
    return {
        "weights_gib": f.memory.weights_gib,
        "kv_cache_gib": available_kv_gib(f.memory),
        "kv_cache_tokens": f.kv.tokens if f.kv else 0,
        "max_concurrency": f.max_concurrency_at_context,
        "status": "failed" if failed else "started",
        "oom_risk": f.oom_risk.value,
        "findings": [x.rule_id for x in f.findings],
    }


def corpus_cases(corpus: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(corpus.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise SystemExit(f"{corpus}: expected a mapping with a 'cases' list")
    return list(data["cases"])


_LOG_SUFFIXES = (".log", ".log.gz", ".txt")
# case field -> the log reader's setting
_LOG_SETTINGS = {
    "dtype": "dtype",
    "quantization": "quantization",
    "kv_cache_dtype": "kv_cache_dtype",
    "max_model_len": "max_model_len",
    "tensor_parallel_size": "tensor_parallel_size",
    "pipeline_parallel_size": "pipeline_parallel_size",
    "max_num_seqs": "max_num_seqs",
    "max_num_batched_tokens": "max_num_batched_tokens",
    "block_size": "block_size",
    "enforce_eager": "enforce_eager",
    "enable_prefix_caching": "enable_prefix_caching",
}


def log_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.name.endswith(_LOG_SUFFIXES))
        else:
            found.append(path)
    return found


def log_case(path: Path, gpu_name: str | None) -> dict[str, Any]:
    """A corpus case from a raw log; raises CheckerError with the reason it cannot be one."""
    from checker.logs.compare import TERMS, logged_term
    from checker.logs.request import (
        log_engine_args,
        logged_device_bound,
        logged_install,
        logged_model,
        logged_total_gib,
        logged_utilization,
        logged_version,
    )
    from checker.render.explain import read_log_file

    log = read_log_file(path)
    model, where = logged_model(log)
    if model is None:
        raise CheckerError(f"the model: {where}")
    total, _ = logged_total_gib(log)
    if total is None and not gpu_name:
        raise CheckerError("the log states no GPU memory (give --gpu)")
    observed = {}
    for name, _label, _unit, figures in TERMS:
        found = logged_term(log, figures)
        observed[name] = found[0].value if found else None
    if (
        observed["kv_cache_gib"] is None
        and observed["kv_cache_tokens"] is None
        and not log.failures
    ):
        raise CheckerError("the log shows neither a KV cache size nor a start-up failure")
    failed = bool(log.failures) or (observed["kv_cache_gib"] or 1) <= 0
    case: dict[str, Any] = {
        "id": path.name,
        "model": model,
        "gpu_name": gpu_name or "",
        "gpu_mem_gib": total,
        "vllm_version": logged_version(log)[0],
        "install": logged_install(log)[0],
        "status": "failed: " + ",".join(f.kind for f in log.failures) if failed else "ok",
        "observed": observed,
    }
    for field, setting in _LOG_SETTINGS.items():
        fact = log.settings.get(setting)
        case[field] = fact.value if fact else None
    case["engine_args"], case["unread_args"] = log_engine_args(
        log.non_default_args, log.nested_args, skip=_CASE_ENGINE_FIELDS
    )
    if total is not None:
        case["gpu_memory_utilization"] = logged_utilization(log, total)[0]
    visible = logged_device_bound(log)
    if visible is not None:
        case["num_gpus"] = visible
    return case


# EngineInput fields a case carries in its own fields, not in engine_args
_CASE_ENGINE_FIELDS = {"vllm_version", *_LOG_SETTINGS}


def _case_or_reason(path: Path, gpu_name: str | None) -> dict[str, Any] | str:
    try:
        return log_case(path, gpu_name)
    except CheckerError as exc:
        return f"not a case: {exc}"


def log_corpus(
    paths: list[Path], gpu_name: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Cases from raw logs, and the logs skipped with the reason."""
    cases, skipped = [], []
    for path in log_files(paths):
        found = _case_or_reason(path, gpu_name)
        if isinstance(found, str):
            skipped.append({"id": path.name, "reason": found})
        else:
            cases.append(found)
    return cases, skipped


def evaluate(corpus: Path, configs: Path) -> dict[str, Any]:
    return evaluate_cases(corpus_cases(corpus), configs)


def evaluate_cases(
    corpus: list[dict[str, Any]], configs: Path, skipped: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    cases: list[dict[str, Any]] = []
    skipped = list(skipped or [])
    out_of_scope: list[dict[str, str]] = []
    for case in corpus:
        if case.get("out_of_scope"):
            out_of_scope.append({"id": case["id"], "reason": str(case["out_of_scope"])})
            continue
        config, where = case_config(case, configs)
        gpu = case_gpu(case)
        if config is None or gpu is None:
            skipped.append(
                {
                    "id": case["id"],
                    "reason": where
                    if config is None
                    else f"GPU {case.get('gpu_name')!r} unknown and no gpu_mem_gib",
                }
            )
            continue
        try:
            request, _ = case_request(case)
            model = parse_config(
                config, model_id=case["model"], source="local", source_detail=where
            )
            plan = run_plan(request, model, gpu)
        except CheckerError as exc:
            skipped.append({"id": case["id"], "reason": f"cannot plan: {exc}"})
            continue
        observed = case.get("observed") or {}
        row: dict[str, Any] = {
            "id": case["id"],
            "config": where,
            "predicted": predicted(plan),
            "observed": {k: observed.get(k) for k in FIELDS},
        }
        row["observed"]["status"] = "started" if case.get("status") == "ok" else "failed"
        cases.append(row)
    fields = {}
    for name in FIELDS:
        errors = [
            abs(r["predicted"][name] / r["observed"][name] - 1) * 100
            for r in cases
            if r["observed"].get(name)
        ]
        fields[name] = {
            "n": len(errors),
            "median_abs_pct": round(statistics.median(errors), 2) if errors else None,
            "max_abs_pct": round(max(errors), 2) if errors else None,
        }
    agree = sum(r["predicted"]["status"] == r["observed"]["status"] for r in cases)
    return {
        "fields": fields,
        "status": {"n": len(cases), "agree": agree},
        "skipped": skipped,
        "out_of_scope": out_of_scope,
        "cases": cases,
    }


def _pct(p: float, o: float | None) -> str:
    return f"{(p / o - 1) * 100:+6.1f}%" if o else "      -"


def print_table(result: dict[str, Any]) -> None:
    print(f"{'case':<58} {'field':<16} {'predicted':>12} {'observed':>12} {'error':>8}")
    for row in result["cases"]:
        for name in FIELDS:
            p, o = row["predicted"][name], row["observed"][name]
            print(
                f"{row['id'][:58]:<58} {name:<16} {p:>12,.2f} "
                f"{(f'{o:,.2f}' if o is not None else '-'):>12} {_pct(p, o)}"
            )
        ps, os_ = row["predicted"]["status"], row["observed"]["status"]
        risk = f"OOM risk {row['predicted']['oom_risk']}"
        mark = "ok" if ps == os_ else "MISS"
        print(f"{'':<58} {'status':<16} {ps:>12} {os_:>12} {mark:>8}  {risk}")
    print("\nfield             n   median |err| %   max |err| %")
    for name, stats in result["fields"].items():
        print(
            f"{name:<16} {stats['n']:>3}   {stats['median_abs_pct']!s:>14}   "
            f"{stats['max_abs_pct']!s:>11}"
        )
    s = result["status"]
    print(f"status agree: {s['agree']}/{s['n']}")
    for skip in result["skipped"]:
        print(f"skipped {skip['id']}: {skip['reason']}")
    for case in result["out_of_scope"]:
        print(f"out of scope {case['id']}: {case['reason']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="YAML corpus of cases")
    parser.add_argument(
        "--logs", nargs="+", type=Path, metavar="LOG_OR_DIR", help="raw vLLM start-up logs"
    )
    parser.add_argument("--configs", required=True, type=Path, help="folder of org__name.json")
    parser.add_argument("--gpu", help="GPU catalog name for logs (their memory still wins)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.corpus and not args.logs:
        parser.error("give --corpus FILE and/or --logs LOG_OR_DIR...")
    if not args.configs.is_dir():
        # a mistyped folder would quietly fall back to the catalog and score other configs
        parser.error(f"--configs {args.configs}: no such folder")
    cases = corpus_cases(args.corpus) if args.corpus else []
    skipped: list[dict[str, str]] = []
    if args.logs:
        more, skipped = log_corpus(args.logs, args.gpu)
        cases += more
    result = evaluate_cases(cases, args.configs, skipped)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
