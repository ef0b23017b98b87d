"""benchmarks/calibration.py: calibrating on one log improves its held-out neighbours."""

from __future__ import annotations

from tests.conftest import REPO, load_benchmark

DATA = REPO / "tests" / "data"


def test_calibration_reproduces_its_log_and_improves_the_neighbours() -> None:
    bench = load_benchmark("calibration")
    cases = bench.corpus_logs(DATA / "vllm_startup_logs.public.yaml")
    cases += bench.raw_logs([DATA / "vllm_logs"])
    result = bench.evaluate(cases, DATA / "configs")
    own = [r for r in result["rows"] if r["calibrated_on"] == r["predicted"]]
    assert len(own) >= 20
    for row in own:  # the log it was calibrated on, within vLLM's rounding
        observed, calibrated = row["observed"], row["calibrated"]
        if observed["kv_cache_tokens"]:
            assert calibrated["kv_cache_tokens"] == observed["kv_cache_tokens"], row
        if observed["max_concurrency"]:
            assert abs(calibrated["max_concurrency"] - observed["max_concurrency"]) <= 0.01, row
    neighbours = result["neighbours"]
    assert neighbours["pairs"] >= 20
    for field in bench.FIELDS:
        before = neighbours[f"{field} uncalibrated"]
        after = neighbours[f"{field} calibrated"]
        assert after["median_abs_pct"] < before["median_abs_pct"]
        assert after["max_abs_pct"] < before["max_abs_pct"]
