"""benchmarks/perf_accuracy.py on the measured `vllm bench serve` corpus shipped beside it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO, load_benchmark

CORPUS = REPO / "benchmarks" / "corpora" / "perf_gpustack_v011.yaml"


def _bench() -> ModuleType:
    return load_benchmark("perf_accuracy")


def test_fixed_concurrency_throughput_and_tpot_fall_inside_the_range() -> None:
    bench = _bench()
    result = bench.evaluate(bench.load_cases([CORPUS]))
    summary = result["summary"]
    for model in ("closed-form", "step-level"):
        fixed = summary[f"{model}/concurrency"]
        assert fixed["cases"] >= 4
        assert fixed["output_tok_s"]["inside_share"] == 1.0
        assert fixed["median_tpot_ms"]["inside_share"] == 1.0
        assert fixed["output_tok_s"]["median_abs_pct"] < 15
    # queueing and chunked prefill: the step-level model is far closer on bursts
    closed, stepped = summary["closed-form/burst"], summary["step-level/burst"]
    for key in ("output_tok_s", "median_ttft_ms", "median_tpot_ms"):
        assert stepped[key]["median_abs_pct"] < closed[key]["median_abs_pct"]


def test_a_case_with_an_unknown_workload_kind_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "perf_bad.yaml"
    bad.write_text("cases:\n  - {id: x, kind: closed-loop}\n")
    with pytest.raises(SystemExit, match="kind must be one of"):
        _bench().load_cases([bad])
    bad.write_text("- just a list\n")
    with pytest.raises(SystemExit, match="expected a mapping with a 'cases' list"):
        _bench().load_cases([bad])
