"""A value of the wrong type or range reads in the user's terms in every input that is validated:
what was expected and what was given, never pydantic's Python wording."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

# pydantic's wording for programmers; none of it may reach a user
PYTHON_WORDS = re.compile(
    r"Input should|instance of|Field required|Value error|NoneType|valid dictionary|"
    r"UnicodeDecodeError|ValidationError"
)
OK = f"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: {GPU}\n"

# profile text after OK, the message (after the key path) and the hint it must give
PROFILE_CASES = [
    ("  gpus: two\n", "hardware.gpus: expected a whole number, got 'two'", None),
    ("  gpus: 1.5\n", "hardware.gpus: expected a whole number, got 1.5", None),
    ("  gpus: 0\n", "hardware.gpus: must be at least 1, got 0", None),
    ("  gpus: 99999\n", "hardware.gpus: must be at most 4096, got 99999", None),
    ("  gpus: [1]\n", "hardware.gpus: expected a whole number, got a list", None),
    ("  gpus: ~\n", "hardware.gpus: expected a whole number, got null", None),
    ("  vram_gb: .inf\n", "hardware.vram_gb: expected a finite number, got inf", None),
    ("  vram_gb: -1\n", "hardware.vram_gb: must be more than 0, got -1", None),
    ("deploy:\n  image: 7\n", "deploy.image: expected text, got 7", None),
    ("vllm:\n  version: 0.10\n", "vllm.version: expected text, got 0.1", None),
    ("deploy:\n  name: no\n", "deploy.name: expected text, got false", None),
    ("  interconnect: nvlinc\n", "hardware.interconnect: must be one of 'pcie'", "'nvlink'"),
    ("workload:\n  streaming: maybe\n", "workload.streaming: expected true or false", None),
    ("workload:\n  mode: fast\n", "workload.mode: must be one of 'throughput'", None),
    ("outputs:\n  emit: command\n", "outputs.emit: expected a list, got 'command'", None),
]


def _plan(cli: Callable[..., Run], tmp_path: Path, text: str) -> Run:
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    return cli("plan", "--profile", str(path), "--offline")


@pytest.mark.parametrize(("extra", "message", "hint"), PROFILE_CASES)
def test_a_profile_value_of_the_wrong_type_or_range_says_what_was_expected(
    cli: Callable[..., Run], tmp_path: Path, extra: str, message: str, hint: str | None
) -> None:
    run = _plan(cli, tmp_path, OK + extra)
    assert_clean_usage_error(run, f"p.yaml:{OK.count(chr(10)) + extra.count(chr(10))}:", message)
    assert not PYTHON_WORDS.search(run.err), run.err
    if hint is not None:
        assert f"did you mean {hint}?" in run.error_line
    if "expected text" in message:  # YAML read a bare word or number as another type
        assert "(hint: write it in quotes: unquoted, YAML reads 0.10" in run.error_line


@pytest.mark.parametrize(("value", "got"), [("true", "true"), ("[" + "1, " * 5000 + "]", "a list")])
def test_a_bad_max_model_len_is_shown_as_written_and_short(
    cli: Callable[..., Run], tmp_path: Path, value: str, got: str
) -> None:
    run = _plan(cli, tmp_path, OK.replace("  id:", f"  max_model_len: {value}\n  id:"))
    assert_clean_usage_error(run, "p.yaml:2:", f"or auto (got {got})")
    assert len(run.err) < 300


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--gpus", "0"], "--gpus: must be at least 1, got 0"),
        (["--dtype", "fp7"], "--dtype: must be one of 'auto', 'float16', 'bfloat16' or 'float32'"),
        (["--gpu-memory-utilization", "2"], "--gpu-memory-utilization: must be at most 1"),
    ],
)
def test_a_flag_value_out_of_range_says_what_was_expected(
    cli: Callable[..., Run], flags: list[str], message: str
) -> None:
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", GPU, "--offline", *flags)
    assert_clean_usage_error(run, message)
    assert not PYTHON_WORDS.search(run.err), run.err


def test_a_flag_value_of_the_wrong_form_shows_how_to_write_it(cli: Callable[..., Run]) -> None:
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", GPU, "--vllm-version", "v0.19.0")
    assert_clean_usage_error(run, "--vllm-version: 'v0.19.0' is not a valid value here")
    assert "(hint: write it like 0.19.0" in run.error_line


def test_a_config_json_value_of_the_wrong_type_says_what_was_expected(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = {
        "model_type": 7,
        "architectures": [7],
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "vocab_size": 32000,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    run = cli("plan", "-m", "x/y", "--model-config", str(path), "--gpu", GPU, "--offline")
    assert_clean_usage_error(run, "config.json", "expected text, got 7")
    assert not PYTHON_WORDS.search(run.err), run.err


@pytest.mark.parametrize(("value", "got"), [("true", "true"), ("2", "2")])
def test_a_format_version_is_the_number_1_not_true(
    cli: Callable[..., Run], tmp_path: Path, value: str, got: str
) -> None:
    run = _plan(cli, tmp_path, f"profile_version: {value}\n" + OK)
    assert_clean_usage_error(run, "p.yaml:1:", f"profile_version: must be 1, got {got}")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("calibration", "calibration_version: true\nentries: []\n"),
        ("lockfile", '{"lockfile_version": true, "models": []}'),
    ],
)
def test_other_files_refuse_true_as_their_format_version(
    cli: Callable[..., Run], tmp_path: Path, name: str, text: str
) -> None:
    (tmp_path / "p.yaml").write_text(OK, encoding="utf-8")
    other = tmp_path / f"{name}.file"
    other.write_text(text, encoding="utf-8")
    if name == "calibration":
        run = cli("plan", "--profile", str(tmp_path / "p.yaml"), "--calibration", str(other))
    else:  # read for a model the catalog does not hold
        run = cli("plan", "-m", "org/not-in-catalog", "--gpu", GPU, "--lockfile", str(other))
    assert_clean_usage_error(run, f"{name}_version: must be 1, got true")
