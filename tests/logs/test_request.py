"""The request rebuilt from a log: model ids from local paths, utilization, version."""

from __future__ import annotations

import pytest

from checker.logs.reader import read_log
from checker.logs.request import logged_model, logged_version


@pytest.mark.parametrize(
    ("args", "model"),
    [
        ("'model': 'Qwen/Qwen3-8B'", "Qwen/Qwen3-8B"),
        # a Hugging Face cache folder names its model
        (
            "'model': '/mnt/models/models--meta-llama--Llama-3.1-70B-Instruct'",
            "meta-llama/Llama-3.1-70B-Instruct",
        ),
        # a path's last two parts, when the path has an org folder
        (
            "'model': '/root/autodl-tmp/deepseek-ai/DeepSeek-R1-Distill-Qwen-14B'",
            "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B",
        ),
        # the served model name when it is an id
        ("'model': '/models/qwen3', 'served_model_name': 'Qwen/Qwen3-8B'", "Qwen/Qwen3-8B"),
        # a folder under a root is no org: no guess
        ("'model': '/models/QwQ-32B-unsloth-bnb-4bit'", None),
    ],
)
def test_the_model_id_of_a_local_path(args: str, model: str | None) -> None:
    log = read_log("INFO 04-22 00:03:02 [utils.py:233] non-default args: {" + args + "}")
    assert logged_model(log)[0] == model


@pytest.mark.parametrize(
    ("line", "version"),
    [
        (
            "INFO llm_engine.py:234] Initializing a V0 LLM engine (v0.7.3.dev233+gad5a35c2) with "
            "config: model='x/y'",
            "0.7.3",
        ),
        ("vLLM API server version 0.10.1.1", "0.10.1"),
        # no version printed: the release whose format the log has
        (
            "Memory profiling results: total_gpu_memory=23.58GiB initial_memory_usage=15.34GiB "
            "peak_torch_memory=17.06GiB memory_usage_post_profile=15.35GiB "
            "non_torch_memory=0.35GiB kv_cache_size=3.81GiB gpu_memory_utilization=0.90",
            "0.6",
        ),
        ("Available KV cache memory: 1.00 GiB", None),
    ],
)
def test_the_version_to_plan_with(line: str, version: str | None) -> None:
    assert logged_version(read_log(line))[0] == version
