"""Log formats around vLLM's lines: prefixes, colour, ranks, engines, failures.

The vLLM text in these lines is copied from the public excerpts in tests/data/ and from vLLM's
format strings (checker/data/vllm_log_lines.yaml); the prefixes are those docker, compose,
kubectl and CRI put in front.
"""

from __future__ import annotations

import pytest

from checker.logs.reader import LogReadError, number, read_log

KV = "INFO 04-22 00:04:20 [v1/worker/gpu_worker.py:436] Available KV cache memory: 58.11 GiB"


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "vllm-1  | ",  # docker compose
        "2025-04-22T00:04:20.123456789Z ",  # docker logs --timestamps / kubectl logs --timestamps
        "2025-04-22T00:04:20.123456789Z stdout F ",  # CRI log file
        "[pod/vllm-0/vllm] ",  # kubectl logs --prefix
    ],
)
def test_lines_are_read_behind_any_log_prefix(prefix: str) -> None:
    log = read_log(f"{prefix}(EngineCore pid=242) {KV}")
    assert [(r.rank, r.first("kv_cache_gib")) for r in log.ranks] == [
        ("EngineCore pid=242", log.ranks[0].first("kv_cache_gib"))
    ]
    fact = log.ranks[0].first("kv_cache_gib")
    assert fact is not None and (fact.value, fact.line) == (58.11, 1)


def test_ansi_colour_is_ignored() -> None:
    log = read_log(f"\x1b[1;36m(EngineCore pid=242)\x1b[0;0m \x1b[32m{KV}\x1b[0m")
    assert log.values("kv_cache_gib")[0].value == 58.11


def test_ranks_and_data_parallel_engines_are_kept_apart() -> None:
    text = "\n".join(
        [
            f"(EngineCore_DP0 pid=10) {KV.replace('58.11', '8.60')}",
            f"(EngineCore_DP1 pid=11) {KV.replace('58.11', '8.58')}",
            f"(Worker_TP3 pid=12) {KV.replace('58.11', '7.00')}",
            f"(VllmWorker rank=2 pid=13) {KV.replace('58.11', '6.00')}",
            f"(VllmWorkerProcess pid=14) {KV.replace('58.11', '5.00')}",
            f"(VllmWorkerProcess pid=15) {KV.replace('58.11', '4.00')}",
            "INFO 02-26 09:54:05 executor_base.py:111] # cuda blocks: 0, # CPU blocks: 4681",
            "(APIServer pid=1) DEBUG 04-22 00:47:20 [v1/metrics/loggers.py:273] Engine 001: vllm "
            "cache_config_info with initialization after num_gpu_blocks is: 94097",
        ]
    )
    log = read_log(text)
    assert {r.rank: [f.value for f in r.figures.get("kv_cache_gib", [])] for r in log.ranks} == {
        "EngineCore_DP0": [8.60],
        "EngineCore_DP1": [8.58],
        "Worker_TP3": [7.00],
        "VllmWorker rank=2": [6.00],
        "VllmWorkerProcess pid=14": [5.00],
        "VllmWorkerProcess pid=15": [4.00],
        "main": [],
        "APIServer pid=1 engine 1": [],
    }
    assert [f.value for f in log.values("gpu_blocks")] == [0, 94097]


def test_v1_kv_too_small_reads_every_figure_of_both_wordings() -> None:
    new = (
        "ValueError: To serve at least one request with the models's max seq len (8192), "
        "(0.35 GiB KV cache is needed, which is larger than the available KV cache memory "
        "(0.29 GiB). Based on the available memory, the estimated maximum model length is "
        "6656. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
        "initializing the engine."
    )
    old = (
        "ValueError: To serve at least one request with the models's max seq len (131072), "
        "(16.00 GB KV cache is needed, which is larger than the available KV cache memory "
        "(9.60 GB). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when "
        "initializing the engine."
    )
    log = read_log(f"{new}\n{old}")
    assert [(f.kind, f.line, f.figures) for f in log.failures] == [
        (
            "kv-too-small",
            1,
            {
                "max_model_len": 8192,
                "kv_needed_gib": 0.35,
                "kv_cache_gib": 0.29,
                "estimated_max_model_len": 6656,
            },
        ),
        (
            "kv-too-small",
            2,
            {"max_model_len": 131072, "kv_needed_gib": 16.0, "kv_cache_gib": 9.6},
        ),
    ]


@pytest.mark.parametrize(
    ("line", "kind", "figures"),
    [
        (
            "ValueError: No available memory for the cache blocks. Try increasing "
            "`gpu_memory_utilization` when initializing the engine.",
            "no-kv-memory",
            {},
        ),
        (
            "RuntimeError: CUDA out of memory occurred when warming up sampler with 1024 dummy "
            "requests. Please try lowering `max_num_seqs` or `gpu_memory_utilization` when "
            "initializing the engine.",
            "sampler-warmup-oom",
            {"max_num_seqs": 1024},
        ),
        (
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 224.00 MiB. GPU 0 has "
            "a total capacity of 79.19 GiB of which 3.06 MiB is free.",
            "cuda-oom",
            {
                "oom_request_gib": 0.21875,
                "oom_gpu": 0,
                "total_gpu_memory_gib": 79.19,
                "oom_free_gib": 0.002988,
            },
        ),
        (
            "ValueError: Free memory on device (37.95/79.25 GiB) on startup is less than desired "
            "GPU memory utilization (0.9, 71.33 GiB). Decrease GPU memory utilization or reduce "
            "GPU memory used by other processes.",
            "free-memory-at-startup",
            {
                "free_memory_gib": 37.95,
                "total_gpu_memory_gib": 79.25,
                "gpu_memory_utilization": 0.9,
                "requested_gib": 71.33,
            },
        ),
    ],
)
def test_failures_are_named_with_their_figures(
    line: str, kind: str, figures: dict[str, float]
) -> None:
    (failure,) = read_log(
        f"(EngineCore_DP0 pid=7) ERROR 10-09 21:14:07 [core.py:1100] {line}"
    ).failures
    assert (failure.kind, failure.rank, failure.figures) == (kind, "EngineCore_DP0", figures)


def test_version_and_non_default_args_are_settings_with_their_lines() -> None:
    text = "\n".join(
        [
            "(APIServer pid=1) INFO 04-22 00:03:02 [api_server.py:1896] vLLM API server version "
            "0.19.0",
            "(APIServer pid=1) INFO 04-22 00:03:02 [utils.py:233] non-default args: {'model_tag': "
            "'Qwen/Qwen3-8B', 'model': 'Qwen/Qwen3-8B', 'max_model_len': 8192, "
            "'gpu_memory_utilization': 0.95, 'tensor_parallel_size': 2, 'enforce_eager': True, "
            "'kv_cache_dtype': 'fp8'}",
            "(EngineCore pid=7) INFO 04-22 00:03:10 [core.py:90] Initializing a V1 LLM engine "
            "(v0.19.0) with config: model='Qwen/Qwen3-8B', dtype=torch.bfloat16, max_seq_len=8192, "
            "tensor_parallel_size=2, pipeline_parallel_size=1, data_parallel_size=1, "
            "quantization=None, enforce_eager=True, kv_cache_dtype=fp8",
        ]
    )
    log = read_log(text)
    assert {k: (f.value, f.line) for k, f in log.settings.items()} == {
        "version": ("0.19.0", 1),
        "model": ("Qwen/Qwen3-8B", 2),
        "max_model_len": (8192, 2),
        "gpu_memory_utilization": (0.95, 2),
        "tensor_parallel_size": (2, 2),
        "enforce_eager": (True, 2),
        "kv_cache_dtype": ("fp8", 2),
        "engine": ("V1", 3),
        "dtype": ("bfloat16", 3),
        "pipeline_parallel_size": (1, 3),
        "data_parallel_size": (1, 3),
    }
    assert log.non_default_args["model_tag"] == "Qwen/Qwen3-8B"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("hello\nworld\n", "no vLLM start-up line recognised"),
        ("INFO starting the server\n" * 50, "no vLLM start-up line recognised"),
    ],
)
def test_a_log_with_nothing_recognisable_is_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(LogReadError) as info:
        read_log(text, source="serve.log")
    assert str(info.value).startswith(f"serve.log: {says}")


def test_a_very_long_line_is_read_up_to_the_bound() -> None:
    log = read_log("x" * 100_000 + KV + "\n" + KV)
    assert [f.line for f in log.values("kv_cache_gib")] == [2]


@pytest.mark.parametrize(
    ("text", "value"),
    [("1,505,552", 1505552), ("1.93GiB", 1.93), ("14.9888 GB", 14.9888), ("-1.05GiB", -1.05)],
)
def test_numbers_as_vllm_prints_them(text: str, value: float) -> None:
    assert number(text) == value


def test_a_failure_pasted_wrapped_over_lines_is_read_at_its_first_line() -> None:
    text = "\n".join(
        [
            "some earlier line",
            "ValueError: To serve at least one request with the models's max seq len (202752),",
            "(71.16 GiB KV cache is needed, which is larger than the available KV cache memory",
            "(28.57 GiB). Based on the available memory, the estimated maximum model length is",
            "81392. Try increasing `gpu_memory_utilization` or decreasing `max_model_len`.",
        ]
    )
    (failure,) = read_log(text).failures
    assert (failure.kind, failure.line) == ("kv-too-small", 2)
    assert failure.figures == {
        "max_model_len": 202752,
        "kv_needed_gib": 71.16,
        "kv_cache_gib": 28.57,
        "estimated_max_model_len": 81392,
    }


@pytest.mark.parametrize(
    ("line", "figures"),
    [
        (  # torch before 2.1
            "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; "
            "4.00 GiB total capacity; 3.36 GiB already allocated; 0 bytes free; 3.48 GiB reserved "
            "in total by PyTorch)",
            {
                "oom_request_gib": 0.019531,
                "oom_gpu": 0,
                "total_gpu_memory_gib": 4.0,
                "oom_free_gib": 0.0,
            },
        ),
        (  # cut short after the amount
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB.",
            {"oom_request_gib": 1.96},
        ),
    ],
)
def test_cuda_oom_of_every_torch_wording_is_one_failure(
    line: str, figures: dict[str, float]
) -> None:
    (failure,) = read_log(line).failures
    assert (failure.kind, failure.figures) == ("cuda-oom", figures)


def test_the_version_of_033_and_newer_start_up_lines() -> None:
    # entrypoints/common/startup.py log_version_and_model (0.33.0, 0.34.0): a plain line where
    # the logo is off, else a coloured logo carrying the version on its second line
    plain = "(APIServer pid=1) INFO 11-20 10:00:00 [startup.py:39] vLLM server version 0.34.0, "
    plain += "serving model Qwen/Qwen3-8B"
    assert read_log(plain).settings["version"].value == "0.34.0"
    logo = (
        "(APIServer pid=1) INFO 11-20 10:00:00 [startup.py:39] \n"
        "       \x1b[1m█     █     █▄   ▄█\x1b[0m\n"
        " \x1b[93m▄▄\x1b[0m \x1b[94m▄█\x1b[0m \x1b[1m█     █     █ ▀▄▀ █\x1b[0m  version "
        "\x1b[1m0.34.0\x1b[0m\n"
        "  \x1b[93m█\x1b[0m\x1b[94m▄█▀\x1b[0m \x1b[1m█     █     █     █\x1b[0m  model   "
        "\x1b[1mQwen/Qwen3-8B\x1b[0m\n"
    )
    found = read_log(logo).settings["version"]
    assert (found.value, found.line) == ("0.34.0", 3)


def test_the_blocks_an_extensible_kv_cache_committed() -> None:
    # 0.34.0 v1/worker/extensible_kv_cache.py extend_kv_cache, the block count's only info line
    line = "(EngineCore pid=7) INFO 11-20 10:00:30 [extensible_kv_cache.py:536] Extended KV "
    line += "cache to 6,175 blocks (54.31 GiB)."
    found = read_log(line).first("gpu_blocks")
    assert found is not None and found.value == 6175
