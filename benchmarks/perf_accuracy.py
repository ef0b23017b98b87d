"""Accuracy of the performance estimate against measured `vllm bench serve` results.

    python benchmarks/perf_accuracy.py [CORPUS.yaml ...] [--json]

Without arguments it reads every benchmarks/corpora/perf_*.yaml. Each case names a catalog
model and GPU, the parallelism, the vLLM release (``vllm:`` per file or per case), the workload
kind (``concurrency``: --max-concurrency C; ``burst``: all prompts at once; ``rate``: Poisson
--request-rate R) with its mean input and output lengths and the client's dataset (``random``,
whose lengths --random-range-ratio ``range_ratio`` spreads uniformly around the means, vLLM's
default 0 keeping them fixed; or ``sharegpt``, whose per-request lengths come from the dataset
file and are modelled at the means, a closed loop's first wave spread around them so that its
clients drift apart as varied lengths make them), the server's --max-model-len and
--gpu-memory-utilization where it set them, the client's --backend (``openai-chat`` renders the
chat template in the API server; default ``vllm``, the completions endpoint), and the measured
output tok/s, median TTFT and median TPOT. Cases our memory plan cannot run (a KV cache
smaller than one request) are listed, not scored. Two estimators are held against them: the
closed form (``check`` of a profile without targets: one roofline step at the workload's
concurrency; a rate keeps rate x end-to-end latency in flight, Little's law) and the
step-level scheduler model (``plan``, and any workload with targets or a rate). Per workload
kind and metric the report gives the median and max absolute % error of the middle of our
range (geometric mean of its ends) and the share
of measured values inside the range, and the same for the random-dataset cases alone (the
lengths the model runs are exactly those of the measured run).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from checker.hardware.catalog import find_gpu
from checker.models.catalog import lookup
from checker.models.config_parser import parse_config
from checker.planning.performance.batching import Workload
from checker.planning.performance.lengths import longest
from checker.planning.performance.perf import rate_span_fixed
from checker.planning.performance.serving import prefix_caching, simulate_workload
from checker.planning.planner import choose_tp, engine_model, plan_settings, run_plan
from checker.planning.rules.base import RuleContext
from checker.schemas.inputs import (
    EngineInput,
    HardwareInput,
    ModelInput,
    PlanRequest,
    PolicyInput,
    WorkloadInput,
)
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import PerfEstimate

CORPORA = Path(__file__).resolve().parent / "corpora"
# measured key -> the estimate's range
METRICS = {
    "output_tok_s": "throughput_toks_per_s_range",
    "median_ttft_ms": "ttft_ms_range",
    "median_tpot_ms": "tpot_ms_range",
}
KINDS = ("concurrency", "rate", "burst")
DATASETS = ("random", "sharegpt")


def load_cases(paths: list[Path]) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
            raise SystemExit(f"{path}: expected a mapping with a 'cases' list")
        sources = data.get("sources") or {}
        for case in data["cases"]:
            if case.get("kind") not in KINDS:
                raise SystemExit(f"{path}: case {case.get('id')!r}: kind must be one of {KINDS}")
            source = sources.get(case.get("source"), case.get("source"))
            # the corpus's vLLM release, client backend and dataset, unless the case names its own
            defaults = {
                "vllm": data.get("vllm"),
                "backend": data.get("backend", "vllm"),
                "dataset": data.get("dataset", "random"),
                "range_ratio": data.get("range_ratio", 0.0),
            }
            merged = {**defaults, **case, "source": source}
            if merged["dataset"] not in DATASETS:
                raise SystemExit(
                    f"{path}: case {case.get('id')!r}: dataset must be one of {DATASETS}"
                )
            cases.append(merged)
    return cases


def _request(case: dict[str, Any], concurrency: int) -> PlanRequest:
    tp, pp = int(case.get("tp", 1)), int(case.get("pp", 1))
    return PlanRequest(
        model=ModelInput(model=case["model"], max_model_len=case.get("max_model_len")),
        hardware=HardwareInput(
            gpu=case["gpu"], gpus=tp * pp, tensor_parallel_size=tp, pipeline_parallel_size=pp
        ),
        workload=WorkloadInput(
            concurrency=concurrency,
            prompt_tokens=int(case["input_tokens"]),
            gen_tokens=int(case["output_tokens"]),
            random_range_ratio=float(case["range_ratio"]),
        ),
        policy=PolicyInput(gpu_memory_utilization=case.get("gpu_memory_utilization")),
        engine=EngineInput(vllm_version=case.get("vllm")),
    )


def _model(case: dict[str, Any]) -> ModelInfo:
    found = lookup(case["model"])
    if found is None:
        raise SystemExit(f"case {case['id']!r}: {case['model']} is not in the built-in catalog")
    return parse_config(dict(found[0]), model_id=case["model"], source="catalog")


def closed_form(case: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The roofline estimate (estimate_perf) at the workload's concurrency: a burst keeps its
    prompts in flight, a rate keeps rate x end-to-end latency (Little's law)."""
    model, gpu = _model(case), find_gpu(case["gpu"])

    def plan(concurrency: int) -> PerfEstimate:
        return run_plan(_request(case, concurrency), model, gpu).performance

    if case["kind"] == "concurrency":
        perf = plan(int(case["concurrency"]))
    elif case["kind"] == "burst":
        perf = plan(int(case["prompts"]))
    else:
        first = plan(1)
        ttft, tpot = (first.ttft_ms_range or (0, 0))[1], (first.tpot_ms_range or (0, 0))[1]
        latency_s = (ttft + tpot * int(case["output_tokens"])) / 1000
        perf = plan(max(1, math.ceil(float(case["request_rate"]) * latency_s)))
    return {key: getattr(perf, field) or (0.0, 0.0) for key, field in METRICS.items()}


def _context(case: dict[str, Any]) -> RuleContext:
    """The plan `plan` makes of the case: settings and memory as vLLM would start them."""
    model, gpu = _model(case), find_gpu(case["gpu"])
    request = _request(case, int(case.get("concurrency") or 1))
    model = engine_model(model, request)
    settings, memory = plan_settings(request, model, gpu, tp=choose_tp(request, model, gpu))
    return RuleContext(request, model, gpu, settings, memory)


def unplannable(case: dict[str, Any]) -> str | None:
    """Why the step model cannot run the case, if it cannot: our memory plan leaves a KV cache
    smaller than one of its requests (the served run shows vLLM had more)."""
    ctx = _context(case)
    held = ctx.memory.binding.kv.tokens
    length = longest(int(case["input_tokens"]), int(case["output_tokens"]), case["range_ratio"])
    if held < length:
        return f"our memory plan holds {held} KV tokens, less than one request ({length})"
    return None


def stepped(case: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """The step-level scheduler model (planning/performance/batching.py) run on the workload."""
    ctx = _context(case)
    work = Workload(
        prompts=int(case["prompts"]),
        prompt_tokens=int(case["input_tokens"]),
        output_tokens=int(case["output_tokens"]),
        concurrency=int(case["concurrency"]) if case["kind"] == "concurrency" else None,
        request_rate=float(case["request_rate"]) if case["kind"] == "rate" else None,
        prefix_caching=prefix_caching(ctx),
        chat=case["backend"] == "openai-chat",
        range_ratio=float(case["range_ratio"]),
        varied_lengths=case["dataset"] == "sharegpt",
        span_fixed=rate_span_fixed(ctx.settings.facts.version),
    )
    runs = [simulate_workload(ctx, work, end) for end in (0, 1)]
    # the API server's queue can turn an end around: a slower front end spreads a burst out
    return {
        "output_tok_s": _span(r.output_tok_s for r in runs),
        "median_ttft_ms": _span(r.median_ttft_s() * 1000 for r in runs),
        "median_tpot_ms": _span(r.median_tpot_s() * 1000 for r in runs),
    }


def _span(values: Iterable[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[0], ordered[-1]


ESTIMATORS = {"closed-form": closed_form, "step-level": stepped}


def evaluate(cases: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    skipped = {}
    for case in cases:
        reason = unplannable(case)
        if reason is not None:
            skipped[case["id"]] = reason
            continue
        row: dict[str, Any] = {
            "id": case["id"],
            "kind": case["kind"],
            "dataset": case["dataset"],
            "models": {},
        }
        for name, estimator in ESTIMATORS.items():
            metrics = {}
            for key, (low, high) in estimator(case).items():
                measured = float(case[key])
                middle = math.sqrt(low * high)
                metrics[key] = {
                    "measured": measured,
                    "range": [round(low, 2), round(high, 2)],
                    "abs_pct": abs(middle - measured) / measured * 100,
                    "inside": low <= measured <= high,
                }
            row["models"][name] = metrics
        rows.append(row)
    summary: dict[str, dict[str, Any]] = {}
    groups = [(kind, None) for kind in KINDS] + [(kind, "random") for kind in KINDS]
    for name in ESTIMATORS:
        for kind, dataset in groups:
            of_kind = [
                r["models"][name]
                for r in rows
                if r["kind"] == kind and dataset in (None, r["dataset"])
            ]
            if not of_kind:
                continue
            entry: dict[str, Any] = {"cases": len(of_kind)}
            for key in METRICS:
                errors = [m[key]["abs_pct"] for m in of_kind]
                inside = [m[key]["inside"] for m in of_kind]
                entry[key] = {
                    "median_abs_pct": round(statistics.median(errors), 1),
                    "max_abs_pct": round(max(errors), 1),
                    "inside_share": round(sum(inside) / len(inside), 2),
                }
            summary[f"{name}/{kind}" + (f"/{dataset}" if dataset else "")] = entry
    return {"cases": rows, "summary": summary, "skipped": skipped}


def print_report(result: dict[str, Any]) -> None:
    print(f"{'case':34} {'model':11} {'metric':15} {'measured':>10} {'range':>22} {'err %':>6}")
    for row in result["cases"]:
        for name, metrics in row["models"].items():
            for key, m in metrics.items():
                low, high = m["range"]
                mark = "in" if m["inside"] else "out"
                print(
                    f"{row['id']:34} {name:11} {key:15} {m['measured']:10.1f}"
                    f" {low:10.1f} - {high:9.1f} {m['abs_pct']:6.0f} {mark}"
                )
    print()
    print(f"{'model/kind (cases)':35} {'metric':15} {'median %':>9} {'max %':>8} {'in range':>9}")
    for label, by_metric in result["summary"].items():
        for key in METRICS:
            s = by_metric[key]
            print(
                f"{label + ' (' + str(by_metric['cases']) + ')':35} {key:15}"
                f" {s['median_abs_pct']:9.1f} {s['max_abs_pct']:8.1f} {s['inside_share']:9.0%}"
            )
    for case_id, reason in result["skipped"].items():
        print(f"not estimated: {case_id}: {reason}")
    sharegpt = sum(row["dataset"] == "sharegpt" for row in result["cases"])
    if sharegpt:
        print(
            f"{sharegpt} ShareGPT cases run at their mean lengths: no published source gives"
            " the dataset's per-request length distribution"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="*", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = args.corpus or sorted(CORPORA.glob("perf_*.yaml"))
    result = evaluate(load_cases(paths))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
