"""Bad command-line flags: one error line that names the flag (or the setting it feeds), exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

PLAN = ("plan", "-m", "Qwen/Qwen3-8B", "--gpu", GPU, "--offline", "--json")

# extra flags, and the words of which at least one must name the culprit
PLAN_CASES = [
    (("--max-model-len", "abc"), ("--max-model-len",)),
    (("--max-model-len", "99999999999999999999999"), ("max_model_len", "--max-model-len")),
    (("--max-model-len", "-5"), ("max_model_len", "--max-model-len")),
    (("--max-model-len", "0"), ("max_model_len", "--max-model-len")),
    (("--gpu-memory-utilization", "nan"), ("gpu_memory_utilization", "--gpu-memory-utilization")),
    (("--gpu-memory-utilization", "inf"), ("gpu_memory_utilization", "--gpu-memory-utilization")),
    (("--gpu-memory-utilization", "0"), ("gpu_memory_utilization", "--gpu-memory-utilization")),
    (("--gpu-memory-utilization", "1.5"), ("gpu_memory_utilization", "--gpu-memory-utilization")),
    (("--gpu-memory-utilization", "x"), ("--gpu-memory-utilization",)),
    (("--tp", "0"), ("--tensor-parallel-size",)),
    (("--tp", "-1"), ("--tensor-parallel-size",)),
    (("--gpus", "0"), ("gpus", "--gpus")),
    (("--vram-gb", "inf"), ("vram_gb", "--vram-gb")),
    (("--vram-gb", "nan"), ("vram_gb", "--vram-gb")),
    (("--vram-gb", "1e400"), ("vram_gb", "--vram-gb")),
    (("--params-b", "nan"), ("params_b", "--params-b")),
    (("--fragmentation-factor", "3"), ("fragmentation_factor", "--fragmentation-factor")),
    (("--concurrency", "0"), ("concurrency", "--concurrency")),
    (("--random-range-ratio", "1"), ("random_range_ratio", "--random-range-ratio")),
    (("--block-size", "0"), ("block_size", "--block-size")),
    (("--max-num-seqs", "0"), ("max_num_seqs", "--max-num-seqs")),
    (("--dtype", "fp4"), ("dtype", "--dtype")),
    (("--quantization", "int8"), ("--quantization",)),
    (("--kv-cache-dtype", "int8"), ("--kv-cache-dtype",)),
    (("--interconnect", "warp"), ("interconnect", "--interconnect")),
    (("--batching-mode", "turbo"), ("batching_mode", "--batching-mode")),
    (("--vllm-version", "latest"), ("vllm_version", "--vllm-version")),
    (("--vllm-version", "0.0"), ("0.0",)),
    (("--gpu", "NoSuchGPU"), ("NoSuchGPU",)),
    (("--gpu", "A100"), ("ambiguous",)),
    (("--model", ""), ("model",)),
    (("--model", "../../etc"), ("../../etc",)),
    (("--model-config", "/nonexistent/config.json"), ("/nonexistent/config.json",)),
]


@pytest.mark.parametrize(("extra", "names"), PLAN_CASES, ids=[" ".join(c[0]) for c in PLAN_CASES])
def test_plan_flags(
    cli: Callable[..., Run], extra: tuple[str, ...], names: tuple[str, ...]
) -> None:
    run = cli(*PLAN, *extra)
    assert_clean_usage_error(run)
    assert any(name in run.error_line for name in names), run.error_line
    assert run.out == ""


CHECK_CASES = [
    (("--gpu", "H100-SXM-80GB:0"), "--gpu"),
    (("--gpu", "H100-SXM-80GB:9999"), "--gpu"),
    (("--gpu", ""), "--gpu"),
    (("--gpu", "NoSuchGPU:2"), "NoSuchGPU"),
    (("--fail-on", "bogus"), "--fail-on"),
    (("--format", "xml"), "--format"),
    (("--config", "nothere.yaml"), "nothere.yaml"),
    (("--vllm-version", "1.2.3.4"), "version"),
]


@pytest.mark.parametrize(("extra", "name"), CHECK_CASES, ids=[" ".join(c[0]) for c in CHECK_CASES])
def test_check_flags(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    extra: tuple[str, ...],
    name: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text("model:\n  id: Qwen/Qwen3-8B\n")
    run = cli(
        "check",
        "p.yaml",
        "--offline",
        "--no-comment",
        *(("--gpu", GPU) if "--gpu" not in extra else ()),
        *extra,
    )
    assert_clean_usage_error(run, name)


@pytest.mark.parametrize(
    "argv",
    [("bogus",), ("plan",), ("plan", "--nope"), ("check",), ("audit",), ("comment",)],
    ids=lambda a: " ".join(a),
)
def test_commands_without_what_they_need(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert_clean_usage_error(cli(*argv))


def test_no_command_prints_help_and_exits_2(cli: Callable[..., Run]) -> None:
    run = cli()
    assert run.code == 2 and "usage:" in run.out + run.err


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--gpu-memory-utilization", "nan"), "expected a finite number, got 'nan'"),
        (("--params-b", "nan"), "expected a finite number, got 'nan'"),
        (("--vram-gb", "inf"), "expected a finite number, got 'inf'"),
        (("--vram-gb", "lots"), "expected a number, got 'lots'"),
    ],
)
def test_a_number_flag_that_is_not_a_finite_number_says_so(
    cli: Callable[..., Run], flags: tuple[str, ...], words: str
) -> None:
    run = cli(*PLAN, *flags)
    assert_clean_usage_error(run, flags[0], words)
    assert "at most" not in run.error_line  # not "nan must be at most 1"


@pytest.mark.parametrize("timeout", ["0", "-1", "nan"])
def test_detect_refuses_a_timeout_that_is_not_a_positive_number(
    cli: Callable[..., Run], timeout: str
) -> None:
    assert_clean_usage_error(cli("detect", f"--timeout={timeout}"), "--timeout", "expected a")


def test_a_model_config_path_too_long_for_the_os_says_why(cli: Callable[..., Run]) -> None:
    run = cli(*PLAN, "--model-config", "a" * 300)
    assert_clean_usage_error(run, "unusable path (File name too long)")


def test_max_model_len_reads_as_the_pinned_vllm_reads_it(cli: Callable[..., Run]) -> None:
    """32k, 32K and auto as vLLM's human_readable_int(_or_auto) reads them in the pinned release
    (a lowercase suffix is decimal, an uppercase one binary),
    like the same value in a profile; a release without suffixes refuses them by name."""

    def served(*extra: str) -> object:
        run = cli(*PLAN, *extra)
        assert run.code in (0, 1), run.err
        return json.loads(run.out)["config"]["max_model_len"]

    assert served("--max-model-len", "32K") == served("--max-model-len", "32768") == 32768
    assert served("--max-model-len", "32k") == 32000
    assert served("--max-model-len", "auto") == served("--max-model-len", "-1")
    run = cli(*PLAN, "--vllm-version", "0.6.6", "--max-model-len", "32k")
    assert_clean_usage_error(run, "--max-model-len", "no suffix in this release")


def test_plan_takes_a_gpu_target_written_as_check_takes_it(cli: Callable[..., Run]) -> None:
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", f"{GPU}:2", "--offline", "--json")
    assert run.code == 0, run
    assert json.loads(run.out)["feasibility"]["num_gpus_given"] == 2
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", f"{GPU}:2", "--gpus", "4", "--offline")
    assert_clean_usage_error(run, f"--gpu {GPU}:2 says 2 GPUs and --gpus says 4")


@pytest.mark.parametrize("count", ["0", "-1", "abc", "1.5", "", "2:3", "5000"])
def test_a_bad_gpu_count_after_the_colon_is_named_as_such(
    cli: Callable[..., Run], count: str
) -> None:
    # it read as an unknown GPU name with catalog suggestions, as if the name were wrong
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", f"{GPU}:{count}", "--offline")
    assert_clean_usage_error(run, "--gpu", "NAME:COUNT")
    assert "unknown GPU" not in run.err
