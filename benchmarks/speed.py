"""Speed benchmark: the gate over many generated profiles, and the CLI's cold start.

    python benchmarks/speed.py [-n 1000] [--runs 5] [--no-scale] [--no-tracemalloc]

Writes N profiles (built-in catalog models; varied max_model_len, dtype, KV dtype, TP and
utilization) as YAML into a temporary directory and checks them on three GPUs through the same
in-process path as ``vllm-wizard check`` (``checker.gate.check.run_check``). Each size runs in
a fresh child process, so its time includes the first-use cost of catalogs and caches and its
peak RSS is its own; a second child measures the peak of Python allocations with tracemalloc
(which slows it down, so it is not timed). The same is done for 10 x N to show the cost grows
linearly. Then the cold start of ``vllm-wizard check`` on one profile and of
``vllm-wizard --version`` (best of --runs), and the imports ``--version`` pays for most.

Targets on 2 cores: 1,000 x 3 in under 2 s, cold start under 300 ms, peak memory under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GPUS = ("H100-SXM-80GB:8", "A100-80GB:8", "L4:8")
TARGET_S_PER_1000 = 2.0  # for 1,000 profiles x 3 GPUs
TARGET_COLD_S = 0.300
TARGET_PEAK_MB = 200.0
MAX_LENS = (None, 2048, 4096, 8192, 16384, 32768, 131072)
DTYPES = ("auto", "bfloat16", "float16")
KV_DTYPES = ("auto", "fp8")
TPS = (1, 2, 4, 8)


def write_profiles(folder: Path, count: int, seed: int) -> None:
    """``count`` profiles over the built-in catalog, reproducible from ``seed``."""
    import yaml

    from checker.models import catalog

    models = [e.id for e in catalog.entries()]
    rng = random.Random(seed)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for index in range(count):
        tp = rng.choice(TPS)
        model: dict[str, Any] = {
            "id": rng.choice(models),
            "dtype": rng.choice(DTYPES),
            "kv_cache_dtype": rng.choice(KV_DTYPES),
        }
        if (length := rng.choice(MAX_LENS)) is not None:
            model["max_model_len"] = length
        profile = {
            "profile_version": 1,
            "model": model,
            "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": tp, "tp_size": tp},
            "workload": {"concurrency": rng.choice((1, 8, 32, 128))},
            "policy": {"gpu_memory_utilization": round(rng.uniform(0.80, 0.95), 2)},
        }
        text = yaml.dump(profile, Dumper=dumper, sort_keys=False)
        (folder / f"profile-{index:06d}.yaml").write_text(text, encoding="utf-8")


def _gate(folder: Path) -> tuple[float, int, dict[str, int]]:
    from checker.gate.check import CheckOptions, run_check

    start = time.perf_counter()
    result = run_check(CheckOptions(paths=[str(folder)], gpus=GPUS, offline=True, cwd=folder))
    return time.perf_counter() - start, len(result.pairs), dict(result.counts)


def child(count: int, seed: int, trace: bool) -> dict[str, Any]:
    """One measurement in this (fresh) process; printed as JSON for the parent."""
    with tempfile.TemporaryDirectory(prefix="vw-speed-") as tmp:
        folder = Path(tmp)
        write_profiles(folder, count, seed)
        if trace:
            import tracemalloc

            tracemalloc.start()
            _gate(folder)
            return {"tracemalloc_peak_mb": tracemalloc.get_traced_memory()[1] / 1e6}
        seconds, pairs, counts = _gate(folder)
    return {
        "seconds": seconds,
        "pairs": pairs,
        "counts": counts,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(count: int, seed: int, trace: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", str(count), "--seed", str(seed)]
    done = subprocess.run(
        [*args, *(["--trace"] if trace else [])], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("vllm-wizard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "checker"]


def cold_start(args: list[str], runs: int, cwd: Path) -> tuple[float, int, str]:
    """Best wall time of ``runs`` fresh processes, the last exit code and stderr tail."""
    best, code, err = float("inf"), 0, ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [*_cli(), *args], cwd=cwd, capture_output=True, text=True, check=False
        )
        best = min(best, time.perf_counter() - start)
        code, err = done.returncode, done.stderr.strip()[-300:]
    return best, code, err


def import_offenders(limit: int = 12) -> list[tuple[int, int, str]]:
    """(self us, cumulative us, module) of the slowest imports of ``--version``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "checker", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), match[4]))
    total = max((r[1] for r in rows), default=0)
    top = sorted(rows, key=lambda r: r[1], reverse=True)[:limit]
    print(f"  sum of top-level import time: {total / 1000:.1f} ms")
    return top


def _size(count: int, seed: int, trace: bool) -> dict[str, Any]:
    timed = _run_child(count, seed, trace=False)
    if trace:
        timed.update(_run_child(count, seed, trace=True))
    return timed


def _report_size(count: int, data: dict[str, Any]) -> None:
    pairs, seconds = data["pairs"], data["seconds"]
    peak = data.get("tracemalloc_peak_mb")
    traced = f", tracemalloc peak {peak:.1f} MB" if peak is not None else ""
    print(
        f"{count:>7,} profiles x {len(GPUS)} GPUs = {pairs:,} pairs: {seconds:.2f} s, "
        f"{pairs / seconds:,.0f} pairs/s, {seconds / pairs * 1e6:.0f} us/pair; "
        f"peak RSS {data['maxrss_mb']:.1f} MB{traced}  {data['counts']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5, help="cold-start runs (best is shown)")
    parser.add_argument("--no-scale", action="store_true", help="skip the 10 x N run")
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child, args.seed, args.trace)))
        return 0

    trace = not args.no_tracemalloc
    print(f"gate (run_check, offline) on {', '.join(GPUS)}; Python {sys.version.split()[0]}")
    small = _size(args.count, args.seed, trace)
    _report_size(args.count, small)
    failed = []
    budget = TARGET_S_PER_1000 * args.count / 1000
    if small["seconds"] > budget:
        failed.append(f"{args.count} x 3 took {small['seconds']:.2f} s > {budget:.2f} s")
    peaks = [small["maxrss_mb"], small.get("tracemalloc_peak_mb", 0.0)]
    if not args.no_scale:
        large = _size(10 * args.count, args.seed, trace)
        _report_size(10 * args.count, large)
        ratio = large["seconds"] / small["seconds"]
        print(f"  10x the profiles took {ratio:.1f}x the time (linear: 10x)")
        growth = large["maxrss_mb"] / small["maxrss_mb"]
        print(
            f"  10x the profiles took {growth:.1f}x the peak memory (every pair's plan is kept "
            "for the report)"
        )
    # The targets are for N profiles (1,000 x 3); 10 x N only shows how the cost grows.
    if max(peaks) > TARGET_PEAK_MB:
        failed.append(f"peak memory {max(peaks):.0f} MB > {TARGET_PEAK_MB:.0f} MB")

    with tempfile.TemporaryDirectory(prefix="vw-cold-") as tmp:
        folder = Path(tmp)
        write_profiles(folder, 1, args.seed)
        one = next(folder.glob("*.yaml")).name
        check_args = ["check", one, "--gpu", GPUS[0], "--offline", "--no-comment"]
        for label, cli_args in (("check (1 profile)", check_args), ("--version", ["--version"])):
            best, code, err = cold_start(cli_args, args.runs, folder)
            note = f" (exit {code}: {err.splitlines()[-1] if err else ''})" if code > 1 else ""
            print(
                f"cold start, vllm-wizard {label}: {best * 1000:.0f} ms best of {args.runs}{note}"
            )
            if best > TARGET_COLD_S:
                failed.append(f"cold start of {label} {best * 1000:.0f} ms > 300 ms")
    print("slowest imports of 'vllm-wizard --version' (python -X importtime):")
    for own, cumulative, module in import_offenders():
        print(f"  {cumulative / 1000:7.1f} ms cumulative  {own / 1000:6.1f} ms self  {module}")
    print("targets: " + ("all met" if not failed else "MISSED: " + "; ".join(failed)))
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
