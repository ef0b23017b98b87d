"""Complete public start-up logs: the reader recovers every figure their authors extracted."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from checker.logs.reader import StartupLog, read_log

LOGS = Path(__file__).resolve().parent.parent / "data" / "vllm_logs"
ROWS = list(csv.DictReader((LOGS / "results_raw.csv").read_text("utf-8").splitlines()))

# results_raw.csv column -> the reader's figures that state it
FIGURES = {
    "init_free_memory_gib": ("free_memory_gib",),
    "init_total_memory_gib": ("total_gpu_memory_gib",),
    "init_cuda_memory_gib": ("init_cuda_context_gib",),
    "init_non_torch_memory_gib": ("init_non_torch_gib",),
    "requested_memory_gib": ("requested_gib",),
    "weight_memory_gib": ("weights_gib",),
    "weights_memory_gib": ("profile_weights_gib",),
    "activation_memory_gib": ("activation_gib",),
    "non_torch_forward_gib": ("non_torch_gib",),
    "total_non_kv_cache_gib": ("non_kv_total_gib",),
    "cuda_graph_estimated_gib": ("cudagraph_estimated_gib",),
    "cuda_graph_actual_gib": ("cudagraph_gib",),
    "kv_cache_memory_gib": ("kv_cache_gib",),
    "kv_cache_tokens": ("kv_cache_tokens",),
    "kv_cache_blocks": ("gpu_blocks",),
    "max_concurrency": ("max_concurrency",),
    "summary_free_gib": ("free_memory_gib",),
    "summary_total_gib": ("total_gpu_memory_gib",),
}
SETTINGS = {
    "model": "model",
    "tp": "tensor_parallel_size",
    "pp": "pipeline_parallel_size",
    "dp": "data_parallel_size",
    "max_model_len": "max_model_len",
    "dtype": "dtype",
    "quantization": "quantization",
    "kv_cache_dtype": "kv_cache_dtype",
    "gpu_memory_utilization": "gpu_memory_utilization",
}
# Counts of CUDA graphs captured, read by the planner project from progress bars: not figures.
NOT_READ = {"cudagraph_piecewise_count", "cudagraph_piecewise_largest", "cudagraph_full_count"}
ROW_KEYS = {"log_file", "status", "gpu"}


def _read(name: str) -> StartupLog:
    with gzip.open(LOGS / f"{name}.gz", "rt", encoding="utf-8") as handle:
        return read_log(handle.read(), source=name)


def test_every_column_is_mapped() -> None:
    assert set(ROWS[0]) == set(FIGURES) | set(SETTINGS) | NOT_READ | ROW_KEYS
    assert len(ROWS) == len(list(LOGS.glob("*.log.gz")))


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["log_file"])
def test_reader_recovers_every_figure_and_setting(row: dict[str, str]) -> None:
    log = _read(row["log_file"])
    for column, names in FIGURES.items():
        if row[column]:
            found = [f.value for name in names for f in log.values(name)]
            assert float(row[column]) in found, column
    for column, name in SETTINGS.items():
        expected = row[column].removeprefix("torch.")
        got = log.settings.get(name)
        if expected == "None":
            assert got is None, column
        else:
            assert got is not None and str(got.value) == expected, column
    assert bool(log.failures) == (row["status"] == "failed")
