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


def test_explain_says_how_a_server_on_a_ray_cluster_starts() -> None:
    """The words agree with the artifacts (tests/render/test_ray_cluster.py): a LeaderWorkerSet
    forms the Ray cluster; Helm values, docker and Compose refuse it."""
    resp = plan(LLAMA, gpus=16, gpus_per_node=8, tp=16, max_model_len=8192, version="0.33",
                distributed_executor_backend="ray", explain=True)  # fmt: skip
    words = resp.config.explanations["--distributed-executor-backend"]
    assert words.startswith("ray over 2 nodes of 8 GPUs: a Ray cluster")
    assert "LeaderWorkerSet" in words and "Helm values, docker and Compose cannot" in words
    one_node = plan(LLAMA, gpus=8, tp=8, max_model_len=8192, version="0.33",
                    distributed_executor_backend="ray", explain=True)  # fmt: skip
    assert "--distributed-executor-backend" not in one_node.config.explanations
