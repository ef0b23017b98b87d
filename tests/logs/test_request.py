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


# llm-d-planner's vLLM 0.19.0 sweep, Llama-3.1-8B with --data-parallel-size 2 given one H100
# (benchmarks/corpora/features_heldout.yaml): the lines the request is rebuilt from
DP2_ON_ONE_GPU = (
    "INFO 04-22 01:41:28 [entrypoints/utils.py:233] non-default args: {'model_tag': "
    "'meta-llama/Llama-3.1-8B-Instruct', 'api_server_count': 2, 'model': "
    "'meta-llama/Llama-3.1-8B-Instruct', 'max_model_len': 8192, 'data_parallel_size': 2, "
    "'gpu_memory_utilization': 0.95, 'enable_prefix_caching': False}\n"
    "(Worker pid=1224) ERROR 04-22 01:41:58 [v1/executor/multiproc_executor.py:857] "
    "AssertionError: DP adjusted local rank 1 is out of bounds. \n"
)


def test_data_and_expert_parallel_args_reach_the_request() -> None:
    from checker.logs.request import request_from_log

    log = read_log(
        "INFO non-default args: {'model': 'Qwen/Qwen3-30B-A3B', 'data_parallel_size': 2, "
        "'enable_expert_parallel': True, 'tensor_parallel_size': 2}\n"
    )
    request, _ = request_from_log(log)
    assert request.engine.data_parallel_size == 2 and request.engine.enable_expert_parallel
    assert request.hardware.gpus == 4  # DP x TP: no worker said it lacked a device


def test_a_dp_device_out_of_bounds_is_a_too_few_gpus_failure_on_the_visible_gpus() -> None:
    from checker.logs.request import logged_device_bound, request_from_log

    log = read_log(DP2_ON_ONE_GPU)
    (failure,) = log.failures
    assert failure.kind == "too-few-gpus"
    assert logged_device_bound(log) == 1  # device index 1 failed: at most one GPU visible
    request, notes = request_from_log(log)
    assert (request.engine.data_parallel_size, request.hardware.gpus) == (2, 1)
    assert any("out of bounds" in note for note in notes)


@pytest.mark.parametrize(
    ("line", "install"),
    [
        # TopKTopPSampler.__init__ (0.8 .. 0.11.0): FlashInfer imported, as in the official image
        (
            "(EngineCore_0 pid=5839) INFO 08-20 18:04:05 [topk_topp_sampler.py:49] Using "
            "FlashInfer for top-p & top-k sampling.",
            "image",
        ),
        # ... or not: the PyPI wheel without extras
        (
            "(EngineCore_0 pid=5839) WARNING 08-20 18:04:05 [topk_topp_sampler.py:61] FlashInfer "
            "is not available. Falling back to the PyTorch-native implementation of top-p & "
            "top-k sampling. For the best performance, please install FlashInfer.",
            "pip",
        ),
        ("INFO 08-20 18:03:40 [api_server.py:1805] vLLM API server version 0.10.1", None),
    ],
)
def test_the_sampler_line_says_which_build_ran(line: str, install: str | None) -> None:
    from checker.logs.request import request_from_log

    args = "INFO non-default args: {'model': 'openai/gpt-oss-120b'}\n"
    request, notes = request_from_log(read_log(args + line + "\n"))
    assert request.engine.install == (install or "image")
    assert any(n.startswith(f"install {install}: line 2") for n in notes) is bool(install)


def test_a_draft_whose_layers_split_is_a_named_failure_and_its_config_reaches_the_request() -> None:
    from checker.logs.request import request_from_log

    # vLLM 0.24.0 refusing a Gemma-3 draft (SpecDecodeBaseProposer.validate_same_kv_cache_group)
    log = read_log(
        "INFO non-default args: {'model': 'google/gemma-3-1b-it', 'speculative_config': "
        "{'model': 'google/gemma-3-1b-it', 'num_speculative_tokens': 3, 'method': "
        "'draft_model'}}\n"
        "(EngineCore_DP0 pid=1) ERROR [core.py:700] AssertionError: All drafting layers should "
        "belong to the same kv cache group\n"
    )
    (failure,) = log.failures
    assert failure.kind == "spec-kv-groups"
    request, notes = request_from_log(log)
    assert request.engine.speculative_config == {
        "model": "google/gemma-3-1b-it",
        "num_speculative_tokens": 3,
        "method": "draft_model",
    }
    assert "engine args read from the log: speculative_config" in notes


def test_args_outside_the_fixed_fields_reach_the_request_and_a_rejected_one_is_a_note() -> None:
    from checker.logs.request import request_from_log

    log = read_log(
        "INFO non-default args: {'model': 'meta-llama/Llama-3.1-8B-Instruct', 'enable_lora': "
        "True, 'max_loras': 4, 'max_lora_rank': 0, 'kv_transfer_config': {'kv_connector': "
        "'LMCacheConnectorV1', 'kv_role': 'kv_both'}, 'compilation_config': {'level': 3}, "
        "'max_num_seqs': 64}\n"
    )
    request, notes = request_from_log(log)
    engine = request.engine
    assert (engine.enable_lora, engine.max_loras, engine.max_num_seqs) == (True, 4, 64)
    assert engine.kv_transfer_config["kv_connector"] == "LMCacheConnectorV1"
    assert engine.max_lora_rank == 16  # the logged 0 is refused: vLLM's default is planned
    assert any(n.startswith("max_lora_rank: ") and "planned without it" in n for n in notes)
    # a dict-valued arg the request has no field for is said, not planned
    assert "compilation_config is not read from a log: planned without it" in notes
