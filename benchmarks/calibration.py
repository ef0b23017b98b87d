"""Does a calibration help? Calibrate on one start-up log, predict its neighbours.

    python benchmarks/calibration.py --corpus ../shared/validation/vllm_startup_logs.public.yaml \
        --logs tests/data/vllm_logs --configs ../shared/validation/configs [--json]

Cases come from a corpus's ``raw_excerpt`` (the log lines vLLM printed) and from raw logs (text
or gzip), read as benchmarks/accuracy.py reads them. Two started cases are neighbours when they
share the model, GPU, vLLM version, TP/PP, dtype, quantization, kv-cache dtype, batched tokens
and enforce_eager, and differ only in max_model_len, gpu_memory_utilization or max_num_seqs:
the settings a calibration is meant to carry over. For every ordered pair (A, B) of neighbours
the script writes a calibration entry from A's log (vllm-wizard calibrate's own code) and plans
B without and with it; B's log is held out. "self" pairs share those three settings too (A
itself, or another copy of the same run): the calibration must reproduce the log's KV GiB,
blocks, tokens and concurrency within vLLM's rounding. A PP>1 log's KV GiB is its binding
(least) rank's, while the plan prints rank 0's, as vLLM's first line does.

Prints per pair the KV GiB, tokens and concurrency predicted without and with the calibration
against B's log, then per field the median and max absolute % error of both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from checker.errors import CheckerError
from checker.logs.reader import StartupLog, read_log
from checker.models.config_parser import parse_config
from checker.planning.planner import run_plan
from checker.render.calibrate import calibration_entry
from checker.schemas.calibration import Calibration

sys.path.insert(0, str(Path(__file__).parent))
import accuracy  # noqa: E402  (the case readers of the accuracy benchmark)

FIELDS = ("kv_cache_gib", "kv_cache_tokens", "max_concurrency")
# what two neighbours must share; they differ in max_model_len, utilization or max_num_seqs
_SETUP = (
    "model",
    "gpu_mem_gib",
    "vllm_version",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "dtype",
    "quantization",
    "kv_cache_dtype",
    "max_num_batched_tokens",
    "enforce_eager",
)

_NEIGHBOURING = ("max_model_len", "gpu_memory_utilization", "max_num_seqs")


def corpus_logs(corpus: Path) -> list[tuple[dict[str, Any], StartupLog]]:
    found = []
    for case in accuracy.corpus_cases(corpus):
        if (case.get("observed") or {}).get("kv_cache_gib") and case.get("raw_excerpt"):
            text = "\n".join(map(str, case["raw_excerpt"]))
            try:
                found.append((case, read_log(text, source=str(case["id"]))))
            except CheckerError:  # an excerpt of other lines (a table, a config): no log
                continue
    return found


def raw_logs(paths: list[Path]) -> list[tuple[dict[str, Any], StartupLog]]:
    from checker.render.explain import read_log_file

    found = []
    for path in accuracy.log_files(paths):
        try:
            case = accuracy.log_case(path, None)
        except CheckerError:
            continue
        if case["observed"]["kv_cache_gib"]:
            found.append((case, read_log_file(path)))
    return found


def _setup(case: dict[str, Any]) -> tuple[Any, ...]:
    values = [case.get(k) for k in _SETUP]
    values[1] = round(float(values[1] or 0), 1)
    return tuple(str(v).replace("torch.", "") if v is not None else None for v in values)


def _figures(plan: Any) -> dict[str, float]:
    f = plan.feasibility
    return {
        "kv_cache_gib": f.memory.kv_cache_gib,
        "kv_cache_tokens": f.kv.tokens if f.kv else 0,
        "max_concurrency": f.max_concurrency_at_context,
    }


def evaluate(cases: list[tuple[dict[str, Any], StartupLog]], configs: Path) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for a, log_a in cases:
        config, where = accuracy.case_config(a, configs)
        gpu = accuracy.case_gpu(a)
        if config is None or gpu is None:
            skipped.append({"id": a["id"], "reason": where if config is None else "GPU unknown"})
            continue
        model = parse_config(config, model_id=a["model"], source="local", source_detail=where)
        request_a, _ = accuracy.case_request(a)
        try:
            entry = calibration_entry([log_a], request_a, model, gpu)
        except CheckerError as exc:
            skipped.append({"id": a["id"], "reason": f"cannot calibrate: {exc}"})
            continue
        calibration = Calibration(entries=(entry,), source="benchmark")
        for b, _log_b in cases:
            if _setup(b) != _setup(a):
                continue
            request_b, _ = accuracy.case_request(b)
            observed = b.get("observed") or {}
            uncalibrated = run_plan(request_b, model, gpu)
            plan = run_plan(request_b, model, gpu, calibration)
            rows.append(
                {
                    "calibrated_on": a["id"],
                    "predicted": b["id"],
                    "self": all(a.get(k) == b.get(k) for k in _NEIGHBOURING),
                    "applied": any(f.rule_id == "VW150" for f in plan.feasibility.findings),
                    "observed": {k: observed.get(k) for k in FIELDS},
                    "uncalibrated": _figures(uncalibrated),
                    "calibrated": _figures(plan),
                    # a start that failed after sizing the KV cache ran out of memory later
                    "started": b.get("status") == "ok",
                    "oom_risk": [p.feasibility.oom_risk.value for p in (uncalibrated, plan)],
                }
            )
    others = [r for r in rows if not r["self"]]
    return {
        "self": _stats([r for r in rows if r["self"]]),
        "neighbours": _stats([r for r in others if r["applied"]]),
        # another resolved setting (V0 profiles max_model_len tokens): ignored, VW151
        "not_applied": sorted(
            {f"{r['calibrated_on']} -> {r['predicted']}" for r in others if not r["applied"]}
        ),
        "rows": rows,
        "skipped": skipped,
    }


def _error(row: dict[str, Any], side: str, name: str) -> float | None:
    observed = row["observed"][name]
    return abs(row[side][name] / observed - 1) * 100 if observed else None


def _stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"pairs": len(rows)}
    for name in FIELDS:
        for side in ("uncalibrated", "calibrated"):
            errors = [e for r in rows if (e := _error(r, side, name)) is not None]
            out[f"{name} {side}"] = {
                "median_abs_pct": round(statistics.median(errors), 3) if errors else None,
                "max_abs_pct": round(max(errors), 3) if errors else None,
            }
    return out


def print_table(result: dict[str, Any]) -> None:
    print(
        f"{'calibrated on -> predicted':<70} {'field':<16} {'observed':>11} "
        f"{'uncalib.':>11} {'calib.':>11}"
    )
    for row in result["rows"]:
        label = (
            "self: " + row["predicted"]
            if row["calibrated_on"] == row["predicted"]
            else (f"{row['calibrated_on']} -> {row['predicted']}")
        )
        for name in FIELDS:
            o = row["observed"][name]
            print(
                f"{label[-70:]:<70} {name:<16} {(f'{o:,.2f}' if o else '-'):>11} "
                f"{row['uncalibrated'][name]:>11,.2f} {row['calibrated'][name]:>11,.2f}"
            )
        before, after = row["oom_risk"]
        status = "started" if row["started"] else "failed after sizing the KV cache"
        print(f"{'':<70} {'OOM risk':<16} {status:>11} {before:>11} {after:>11}")
    for part in ("self", "neighbours"):
        stats = result[part]
        print(f"\n{part}: {stats['pairs']} pairs; |error| % median / max")
        for name in FIELDS:
            u, c = stats[f"{name} uncalibrated"], stats[f"{name} calibrated"]
            print(
                f"  {name:<16} uncalibrated {u['median_abs_pct']!s:>7} / {u['max_abs_pct']!s:<7}"
                f" calibrated {c['median_abs_pct']!s:>7} / {c['max_abs_pct']!s}"
            )
    for pair in result["not_applied"]:
        print(f"calibration ignored (VW151), figures as uncalibrated: {pair}")
    for skip in result["skipped"]:
        print(f"skipped {skip['id']}: {skip['reason']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, help="YAML corpus whose cases carry raw_excerpt")
    parser.add_argument("--logs", nargs="+", type=Path, metavar="LOG_OR_DIR", help="raw logs")
    parser.add_argument("--configs", required=True, type=Path, help="folder of org__name.json")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.corpus and not args.logs:
        parser.error("give --corpus FILE and/or --logs LOG_OR_DIR...")
    cases = corpus_logs(args.corpus) if args.corpus else []
    cases += raw_logs(args.logs) if args.logs else []
    result = evaluate(cases, args.configs)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
