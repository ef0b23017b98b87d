"""Multi-node launches (issue 13 item 2): --nnodes as vLLM's engine/arg_utils.py
EngineArgs.create_engine_config checks it (0.19.0 .. 0.33.0)."""

from __future__ import annotations

import pytest

from tests.planning.plans import fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.mark.parametrize(
    ("version", "text"),
    [
        ("0.24", "world_size=3 must be divisible by nnodes=2."),
        (
            "0.33",
            "Invalid data-parallel launch options: `--nnodes 2` must evenly divide the total "
            "world size (3). Adjust `--nnodes`, `--data-parallel-size`, "
            "`--pipeline-parallel-size`, `--tensor-parallel-size`, or "
            "`--prefill-context-parallel-size`.",
        ),
    ],
)
def test_nnodes_must_split_the_world_evenly(version: str, text: str) -> None:
    resp = plan(LLAMA, gpus=3, gpus_per_node=2, max_model_len=8192, version=version,
                data_parallel_size=3, nnodes=2)  # fmt: skip
    assert only(resp, "VW306").message == text
    even = plan(LLAMA, gpus=4, gpus_per_node=2, max_model_len=8192, version=version,
                data_parallel_size=4, nnodes=2)  # fmt: skip
    assert not fired(even, "VW306")


def test_explain_says_how_a_multi_node_server_starts() -> None:
    resp = plan(LLAMA, gpus=16, gpus_per_node=8, tp=16, max_model_len=8192, version="0.33",
                nnodes=2, explain=True)  # fmt: skip
    words = resp.config.explanations["--nnodes"]
    assert words.startswith("2 nodes of 8 GPUs") and "LeaderWorkerSet" in words
