from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.cli import main
from checker.errors import ArtifactError, UsageError
from checker.schemas.profile_io import load_profile_text
from checker.schemas.vllm_flags import flags_for, known_lines
from tests.conftest import REPO

CORE = [
    "--tensor-parallel-size",
    "--pipeline-parallel-size",
    "--dtype",
    "--quantization",
    "--kv-cache-dtype",
    "--max-model-len",
    "--gpu-memory-utilization",
    "--max-num-seqs",
    "--max-num-batched-tokens",
    "--block-size",
    "--enforce-eager",
    "--enable-prefix-caching",
    "--no-enable-prefix-caching",
    "--enable-chunked-prefill",
    "--trust-remote-code",
    "--revision",
    "--port",
]


@pytest.mark.parametrize(
    ("version", "line"),
    [
        ("0.6.6", "0.6"),
        ("0.7.3", "0.7"),
        ("0.14.1", "0.14"),
        ("0.19", "0.19"),
        ("0.33.0", "0.33"),
        ("9.0", "0.34"),
    ],
)
def test_versions_match_on_major_minor(version: str, line: str) -> None:
    assert flags_for(version).line == line


@pytest.mark.parametrize("version", ["0.5.4", "abc", "1.x"])
def test_unknown_versions_are_usage_errors(version: str) -> None:
    with pytest.raises(UsageError):
        flags_for(version)


@pytest.mark.parametrize("line", known_lines())
def test_every_release_has_the_flags_we_emit(line: str) -> None:
    flags = flags_for(line)
    assert [f for f in CORE if f not in flags.serve] == []
    assert {"auto", "fp8"} <= set(flags.choices["kv_cache_dtype"])
    assert {"awq", "gptq", "fp8"} <= set(flags.choices["quantization"])


def _vector(vector_id: str) -> list[str]:
    text = (REPO / "tests" / "data" / "vllm_messages_and_defaults.yaml").read_text(encoding="utf-8")
    found = next(v for v in yaml.safe_load(text)["vectors"] if v["id"] == vector_id)
    return list(found["expected"]["kv_cache_dtype_choices"])


def test_kv_cache_dtype_choices_agree_with_the_validation_vectors() -> None:
    assert set(flags_for("0.8").choices["kv_cache_dtype"]) == set(
        _vector("default-kv-dtype-choices-early-v1")
    )
    assert set(flags_for("0.10").choices["kv_cache_dtype"]) == set(
        _vector("default-kv-dtype-choices-fp8-inc")
    )
    assert set(_vector("default-kv-dtype-choices-newest")) <= set(
        flags_for("0.33").choices["kv_cache_dtype"]
    )


def test_flags_that_vllm_dropped_are_gone() -> None:
    assert "--disable-log-requests" in flags_for("0.10").serve
    assert "--disable-log-requests" not in flags_for("0.19").serve
    assert "bitsandbytes" not in flags_for("0.33").choices["quantization"]


def test_require_names_the_key_and_the_closest_flag() -> None:
    with pytest.raises(ArtifactError) as err:
        flags_for("0.19").require("--max-num-seq", "outputs.vllm_args.max_num_seq")
    assert err.value.message.startswith("outputs.vllm_args.max_num_seq: vLLM 0.19 has no flag")
    assert err.value.hint == "did you mean --max-num-seqs?"


def _pinned_profile(tmp_path: Path, version: str, args: dict[str, Any]) -> Path:
    path = tmp_path / "p.yaml"
    data = {
        "profile_version": 1,
        "model": {"id": "Qwen/Qwen3-8B", "max_model_len": 8192},
        "hardware": {"gpu_name": "H100-SXM-80GB"},
        "vllm": {"version": version},
        "outputs": {"vllm_args": args},
    }
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("version", "args"),
    [
        ("0.14.1", {"max-cudagraph-capture-size": 256}),  # 0.14 added it; 0.10 had no such flag
        ("0.9.2", {"cuda-graph-sizes": [256]}),  # 0.9 added it; 0.8 had no such flag
    ],
)
def test_a_flag_of_the_pinned_release_line_passes_the_gate(
    tmp_path: Path, version: str, args: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(_pinned_profile(tmp_path, version, args)), "--offline"]) == 0
    assert "has no flag" not in capsys.readouterr().out


def test_a_flag_only_a_later_line_has_still_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _pinned_profile(tmp_path, "0.14.1", {"cohere-format": True})  # 0.33 only
    assert main(["check", str(path), "--offline"]) == 2
    assert "vLLM 0.14 has no flag --cohere-format" in capsys.readouterr().out


def test_every_minor_line_from_0_6_to_the_newest_has_its_own_entry() -> None:
    lines = known_lines()
    newest = int(lines[-1].split(".")[1])
    assert lines == [f"0.{minor}" for minor in range(6, newest + 1)]
    for line in lines:  # each entry is read from a release of its own line
        assert flags_for(line).release.startswith(line + ".")


def test_json_options_of_0_8_take_a_mapping(tmp_path: Path) -> None:
    # 0.8 get_kwargs gives a dict field type=optional_type(json.loads) (engine/arg_utils.py)
    extra = {"enable_multithread_load": True}
    path = _pinned_profile(tmp_path, "0.8.5", {"model-loader-extra-config": extra})
    loaded = load_profile_text(path.read_text(encoding="utf-8"), str(path))
    assert loaded.profile.outputs.vllm_args == {"model-loader-extra-config": extra}


def test_flags_of_other_vllm_subcommands_are_not_serve_flags() -> None:
    # 0.6 scripts.py main(): -v/--version belong to `vllm`, --url / --model-name /
    # --system-prompt to `vllm chat` / `vllm complete`; `vllm serve` rejects them
    flags = flags_for("0.6.6")
    assert {"--url", "--model-name", "--system-prompt", "--version", "-v"}.isdisjoint(flags.serve)
    assert {"--api-key", "--config"} <= flags.serve
    assert "--mm-processor-kwargs" in flags.json  # type=json.loads in 0.6 add_cli_args


def test_every_patch_of_a_line_gets_the_newest_patch_flags() -> None:
    # 0.10.0 still had --num-scheduler-steps and not --kv-cache-memory-bytes; 0.10.2 the reverse
    flags = flags_for("0.10.0")
    assert flags.release == "0.10.2"
    assert "--num-scheduler-steps" not in flags.serve
    assert "--kv-cache-memory-bytes" in flags.serve
