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


def test_a_case_our_memory_plan_cannot_hold_is_listed_not_scored(tmp_path: Path) -> None:
    # Qwen3-32B on one 80 GB GPU at vLLM 0.33's 0.92 utilization leaves a KV pool smaller than
    # one 32k-token request (0.34's extensible KV cache, at 1.0, holds one)
    corpus = tmp_path / "perf_small.yaml"
    corpus.write_text(
        "cases:\n"
        "  - {id: long, model: Qwen/Qwen3-32B, gpu: H100-SXM-80GB, kind: burst, prompts: 10,\n"
        "     vllm: '0.33',\n"
        "     input_tokens: 32000, output_tokens: 100,\n"
        "     output_tok_s: 5, median_ttft_ms: 1000, median_tpot_ms: 50}\n"
    )
    result = _bench().evaluate(_bench().load_cases([corpus]))
    assert result["cases"] == []
    assert "less than one request" in result["skipped"]["long"]


def test_rate_cases_are_scored_and_the_client_backend_defaults_to_completions() -> None:
    bench = _bench()
    cases = bench.load_cases([REPO / "benchmarks" / "corpora" / "perf_kvcached_v019.yaml"])
    assert {c["backend"] for c in cases} == {"vllm"}
    rate = bench.evaluate([c for c in cases if c["kind"] == "rate"])["summary"]["step-level/rate"]
    # a light Poisson rate: the engine keeps up, so output tok/s is the offered load, and the
    # range holds the seeds' runs (the last request's latency beyond the fixed send span)
    assert rate["output_tok_s"]["median_abs_pct"] < 5
    assert rate["output_tok_s"]["inside_share"] == 1.0


def test_the_corpus_states_each_runs_dataset_and_a_range_ratio_spreads_the_lengths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench()
    cases = bench.load_cases(sorted((REPO / "benchmarks" / "corpora").glob("perf_*.yaml")))
    # ShareGPT runs are marked; the random ones kept vLLM's default range ratio 0
    assert all(c["dataset"] == ("sharegpt" if "sharegpt" in c["id"] else "random") for c in cases)
    assert {c["range_ratio"] for c in cases} == {0.0}
    corpus = tmp_path / "perf_spread.yaml"
    case = (
        "  - {id: %s, model: Qwen/Qwen3-8B, gpu: H100-SXM-80GB, kind: concurrency,"
        " concurrency: 8, prompts: 80, input_tokens: 2000, output_tokens: 200, range_ratio: %s,"
        " output_tok_s: 800, median_ttft_ms: 100, median_tpot_ms: 8}\n"
    )
    corpus.write_text("cases:\n" + case % ("fixed", 0.0) + case % ("spread", 0.9))
    result = bench.evaluate(bench.load_cases([corpus]))
    fixed, spread = (r["models"]["step-level"] for r in result["cases"])
    assert fixed["median_tpot_ms"]["range"] != spread["median_tpot_ms"]["range"]
    assert "step-level/concurrency/random" in result["summary"]
    bench.print_report(bench.evaluate([c for c in cases if c["id"] == "qwen3-8b-sharegpt-c1"]))
    assert "1 ShareGPT cases run at their mean lengths" in capsys.readouterr().out
    corpus.write_text("cases:\n  - {id: x, kind: burst, dataset: sonnet}\n")
    with pytest.raises(SystemExit, match="dataset must be one of"):
        bench.load_cases([corpus])
