"""The log reader recovers every figure of every public log excerpt in tests/data/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.logs.reader import LogReadError, StartupLog, read_log

DATA = Path(__file__).resolve().parent.parent / "data"
CASES: list[dict[str, Any]] = yaml.safe_load(
    (DATA / "vllm_startup_logs.public.yaml").read_text(encoding="utf-8")
)["cases"]

# observed key -> the reader's figures that state it (weights are printed twice: when loaded and
# in the profiling summary; the graph pool by its own line and by "Graph capturing finished")
FIGURES = {
    "weights_gib": ("weights_gib", "profile_weights_gib"),
    "activation_peak_gib": ("activation_gib",),
    "non_torch_gib": ("non_torch_gib",),
    "non_kv_total_gib": ("non_kv_total_gib",),
    "kv_cache_gib": ("kv_cache_gib",),
    "gpu_blocks": ("gpu_blocks",),
    "kv_cache_tokens": ("kv_cache_tokens",),
    "max_concurrency": ("max_concurrency",),
    "cuda_graph_gib": ("cudagraph_gib", "graph_capture_gib"),
    "cuda_graph_estimated_gib": ("cudagraph_estimated_gib",),
    "peak_torch_incl_weights_gib": ("peak_torch_gib",),
    "initial_memory_usage_gib": ("initial_memory_gib",),
}
# Figures the collector derived from lines outside the stored excerpt (the requested memory is
# total x utilization; the CUDA context is measured before vLLM's baseline): not in the text.
NOT_IN_EXCERPT = {"requested_memory_gib", "init_cuda_context_gib"}
# Per case: observed figures quoted from a user's prose, not from a log line (see the case notes).
FROM_PROSE = {
    "gh-vllm-13061-2x4090-r1-distill-qwen14b-tp2-fail": {
        "non_torch_gib",
        "activation_peak_gib",
        "kv_cache_gib",
    },
}
# Cases whose excerpt is not a log (the case notes say so): the reader must refuse them.
NOT_A_LOG = {"repo-llmservingsim-rtx4090-llama31-8b-v0190-32k"}


def _values(log: StartupLog, names: tuple[str, ...], rank: str | None = None) -> list[Any]:
    ranks = [r for r in log.ranks if rank is None or r.rank == rank]
    return [f.value for r in ranks for n in names for f in r.figures.get(n, [])]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["id"] not in NOT_A_LOG], ids=lambda c: c["id"]
)
def test_reader_recovers_every_observed_figure(case: dict[str, Any]) -> None:
    log = read_log("\n".join(case["raw_excerpt"]), source=case["id"])
    skipped = NOT_IN_EXCERPT | FROM_PROSE.get(case["id"], set())
    for key, expected in case["observed"].items():
        if key == "per_stage":
            for stage in expected:
                for name, value in stage.items():
                    if name != "stage":
                        assert value in _values(log, FIGURES[name], stage["stage"]), (key, stage)
        elif key in skipped:
            assert str(expected) not in "\n".join(case["raw_excerpt"]).replace(",", ""), key
        else:
            assert expected in _values(log, FIGURES[key]), (key, expected)


@pytest.mark.parametrize("case", [c for c in CASES if c["id"] in NOT_A_LOG], ids=lambda c: c["id"])
def test_an_excerpt_that_is_not_a_log_is_refused(case: dict[str, Any]) -> None:
    with pytest.raises(LogReadError, match="no vLLM start-up line recognised"):
        read_log("\n".join(case["raw_excerpt"]), source=case["id"])


def test_every_case_is_walked() -> None:
    assert len(CASES) == 40
    assert NOT_A_LOG | set(FROM_PROSE) <= {c["id"] for c in CASES}


@pytest.mark.parametrize(
    ("case_id", "settings"),
    [
        (
            "nb-colab-t4-qwen25-15b-fp16-u050-32k",
            {
                "version": "0.7.2",
                "engine": "V0",
                "model": "Qwen/Qwen2.5-1.5B-Instruct",
                "dtype": "float16",
                "max_model_len": 32768,
                "tensor_parallel_size": 1,
                "gpu_memory_utilization": 0.5,
                "enable_prefix_caching": True,
            },
        ),
        (
            "page-myoceane-a100-gpt-oss-20b-u065-131k",
            {
                "model": "openai/gpt-oss-20b",
                "max_model_len": 131072,
                "gpu_memory_utilization": 0.65,
            },
        ),
        ("gh-vllm-13882-rtx4060-qwen25-7b-bnb4-fail", {"quantization": "bitsandbytes"}),
    ],
)
def test_settings_come_from_the_config_line_and_non_default_args(
    case_id: str, settings: dict[str, Any]
) -> None:
    case = next(c for c in CASES if c["id"] == case_id)
    log = read_log("\n".join(case["raw_excerpt"]))
    assert {k: log.settings[k].value for k in settings} == settings


def test_failures_of_the_public_failed_starts_are_read() -> None:
    kinds = {}
    for case in CASES:
        if case["id"] in NOT_A_LOG or case["status"] == "ok":
            continue
        log = read_log("\n".join(case["raw_excerpt"]))
        kinds[case["id"]] = [f.kind for f in log.failures]
    assert kinds == {
        "gh-vllm-10517-rtx3090-llama31-8b-29k-fail": ["kv-too-small"],
        # V0 0.7.3 logs the negative budget and 0 blocks; the raise itself is not in the excerpt
        "gh-vllm-13882-rtx4060-qwen25-7b-bnb4-fail": [],
        "gh-vllm-13061-2x4090-r1-distill-qwen14b-tp2-fail": ["kv-too-small"],
        # the sampler warm-up OOM that stopped these is in the case notes, not the excerpt
        "planner-v0190-openai-gpt-oss-20b-h100-80gb-tp1pp1dp1-8192-failed": [],
        "planner-v0190-openai-gpt-oss-20b-h100-80gb-tp2pp1dp1-8192-failed": [],
    }
