from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import ProfileError
from checker.schemas.enums import DType, KVCacheDType
from checker.schemas.profile_io import (
    ProfileRequests,
    dump_profile,
    load_profile,
    load_profile_text,
    profile_targets,
    profile_to_request,
    save_profile,
)
from tests.conftest import EXAMPLES


def test_seed_sample_loads() -> None:
    loaded = load_profile(EXAMPLES / "profiles" / "sample.yaml")
    assert loaded.profile.model.id == "meta-llama/Llama-2-7b-hf"
    assert loaded.profile.hardware.gpu_name == "RTX 4090"
    assert loaded.line_of("hardware.tp_size") == 21


def test_unknown_key_names_line_and_suggests() -> None:
    text = "profile_version: 1\nmodel:\n  id: x/y\n  max_modle_len: 4096\n"
    with pytest.raises(ProfileError) as err:
        load_profile_text(text, "p.yaml")
    assert err.value.location == "p.yaml:4:3"
    assert "model.max_modle_len" in err.value.message
    assert err.value.hint == "did you mean 'max_model_len'?"


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("model: meta-llama/Llama-3.1-8B\n", "'meta-llama/Llama-3.1-8B'"),
        ("model:\n  - x/y\n", "a list"),
    ],
)
def test_scalar_where_a_section_belongs_says_how_to_write_it(text: str, got: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile_text(text, "p.yaml")
    assert err.value.message == f"model: expected a section of keys, got {got}"
    assert "instance of" not in err.value.message  # no pydantic class names
    assert err.value.hint is not None and err.value.hint.startswith("write it as a mapping")
    assert "id, revision" in err.value.hint


def test_bad_value_points_at_its_key() -> None:
    text = "model:\n  id: x/y\npolicy:\n  gpu_memory_utilization: 1.5\n"
    with pytest.raises(ProfileError) as err:
        load_profile_text(text, "p.yaml")
    assert err.value.location == "p.yaml:4:3"
    assert err.value.message == "policy.gpu_memory_utilization: must be at most 1, got 1.5"


def test_low_utilization_is_valid_like_vllm() -> None:
    text = "model:\n  id: x/y\npolicy:\n  gpu_memory_utilization: 0.3\n"
    assert load_profile_text(text, "p.yaml").profile.policy.gpu_memory_utilization == 0.3


def test_seed_spellings_map_to_vllm_values() -> None:
    text = "model:\n  id: x/y\n  dtype: bf16\n  kv_cache_dtype: fp8_e4m3fn\n"
    model = load_profile_text(text, "p.yaml").profile.model
    assert model.dtype is DType.BFLOAT16
    assert model.kv_cache_dtype is KVCacheDType.FP8_E4M3


def test_int8_quantization_refused_with_fix() -> None:
    with pytest.raises(ProfileError) as err:
        load_profile_text("model:\n  id: x/y\n  quantization: int8\n", "p.yaml")
    assert "compressed-tensors" in err.value.message
    assert err.value.location == "p.yaml:3:3"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("model: [1, 2", "invalid YAML"),
        ("model:\n  id: a\nmodel:\n  id: b\n", "duplicate key 'model'"),
        ("a: &a [1]\nb: !!python/object:os.system [1]\n", "not allowed"),
        ("", "got an empty file"),
        ("- 1\n- 2\n", "got a list"),
    ],
)
def test_malformed_yaml_is_a_clear_error(text: str, needle: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile_text(text, "p.yaml")
    assert needle in str(err.value)


def test_alias_bomb_stops() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 9)]
    with pytest.raises(ProfileError, match="alias bomb"):
        load_profile_text("\n".join(lines) + "\n", "bomb.yaml")


def test_save_round_trips_atomically(tmp_path: Path) -> None:
    loaded = load_profile(EXAMPLES / "profiles" / "sample.yaml")
    out = tmp_path / "copy.yaml"
    save_profile(loaded.profile, out)
    assert out.read_text().startswith("# yaml-language-server: $schema=")
    assert load_profile(out).profile == loaded.profile
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert dump_profile(loaded.profile) == out.read_text()


def test_targets_and_request_mapping() -> None:
    text = (
        "model:\n  id: x/y\nhardware:\n  gpu_name: H100-SXM-80GB\n  gpus: 2\n  tp_size: 2\n"
        "  targets: ['L4:4', 'H100-SXM-80GB:2']\nvllm:\n  version: '0.19.0'\n"
    )
    profile = load_profile_text(text, "p.yaml").profile
    targets = profile_targets(profile)
    assert [str(t) for t in targets] == ["H100-SXM-80GB:2", "L4:4"]
    request = profile_to_request(profile, targets[1])
    assert request.hardware.gpu == "L4"
    assert request.hardware.gpus == 4
    assert request.hardware.tensor_parallel_size == 2
    assert request.engine.vllm_version == "0.19.0"


def test_plan_errors_point_at_the_profile_key(tmp_path: Path) -> None:
    from checker.cli import main

    gpu = tmp_path / "gpu.yaml"
    gpu.write_text("model:\n  id: meta-llama/Llama-3.1-8B-Instruct\nhardware:\n  gpu_name: A100\n")
    model = tmp_path / "model.yaml"
    model.write_text("model:\n  id: acme/nothing\nhardware:\n  gpu_name: L4\n")
    assert main(["plan", "-p", str(gpu), "--offline", "--json"]) == 2
    assert main(["plan", "-p", str(model), "--offline", "--json"]) == 2


def test_plan_error_locations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from checker.cli import main

    path = tmp_path / "p.yaml"
    path.write_text("model:\n  id: meta-llama/Llama-3.1-8B-Instruct\nhardware:\n  gpu_name: A100\n")
    main(["plan", "-p", str(path), "--offline", "--json"])
    assert f"{path}:4: GPU name 'A100' is ambiguous" in capsys.readouterr().err


def test_profile_and_request_round_trip() -> None:
    from checker.schemas.profile_io import profile_from_request

    text = (
        "model:\n  id: x/y\n  config: cfg/config.json\n  max_model_len: 8192\n"
        "hardware:\n  gpu_name: L4\n  gpus: 2\n  tp_size: 2\n  targets: ['H100-80GB']\n"
        "workload:\n  mode: latency\n  concurrency: 3\npolicy:\n  gpu_memory_utilization: 0.8\n"
        "vllm:\n  version: '0.19.0'\n  max_num_seqs: 64\ndeploy:\n  name: svc\n"
    )
    profile = load_profile_text(text, "p.yaml").profile
    request = profile_to_request(profile)
    assert request.workload.batching_mode.value == "latency"
    assert request.engine.max_num_seqs == 64 and request.model.config_path == "cfg/config.json"
    assert profile_from_request(request, profile) == profile


@pytest.mark.parametrize("value", ["true", "'2'", "2.5"])
def test_numbers_are_strict(value: str) -> None:
    with pytest.raises(ProfileError) as err:
        load_profile_text(f"model:\n  id: x/y\nhardware:\n  gpus: {value}\n", "p.yaml")
    assert err.value.location == "p.yaml:4:3"


def test_a_pattern_mismatch_is_said_in_words_with_an_example() -> None:
    text = 'model:\n  id: x/y\nvllm:\n  version: "latest"\n'
    with pytest.raises(ProfileError) as err:
        load_profile_text(text, "p.yaml")
    assert err.value.message == "vllm.version: 'latest' is not a valid value here"
    assert err.value.hint == "write it like 0.19.0 or 0.10.2"


def test_a_bad_version_does_not_turn_engine_arguments_into_unknown_keys() -> None:
    text = 'model:\n  id: x/y\nvllm:\n  version: "latest"\n  enable_lora: true\n'
    with pytest.raises(ProfileError) as err:
        load_profile_text(text, "p.yaml")
    assert err.value.related == []  # the version alone
    assert err.value.location == "p.yaml:4:3"


def test_a_wrong_type_for_a_length_is_one_error_in_our_words() -> None:
    text = "model:\n  id: x/y\n  max_model_len: [1]\n"
    with pytest.raises(ProfileError) as err:
        load_profile_text(text, "p.yaml")
    assert err.value.related == []  # not one error per branch of int | 'auto'
    assert err.value.message == (
        f"model.max_model_len: a length is 1 to {1 << 24} tokens, or auto (got a list)"
    )


def test_profile_requests_give_each_target_the_request_profile_to_request_does(
    tmp_path: Path,
) -> None:
    """The gate builds a profile's other sections once for all its targets: every target's
    request is still the one profile_to_request makes (hardware fields, custom GPU, vram_gb
    of the profile's own GPU only, flags that set hardware, config path)."""
    text = (
        "model: {id: Qwen/Qwen3-8B, config: cfg/config.json}\n"
        "hardware:\n  gpu_name: X1\n  gpus: 2\n  vram_gb: 40\n  interconnect: pcie\n"
        "  targets: [L4:4, X1:8, H100-SXM-80GB]\n"
        "  custom_gpus:\n    - {name: X1, memory_gib: 40, memory_bandwidth_gbs: 900,"
        " fp16_tflops: 100, compute_capability: '8.9'}\n"
        "outputs:\n  vllm_args: {pipeline-parallel-size: 2, max-num-seqs: 64}\n"
    )
    profile = load_profile_text(text, "p.yaml").profile
    requests = ProfileRequests(profile, base_dir=tmp_path)
    for target in profile_targets(profile):
        expected = profile_to_request(profile, target, base_dir=tmp_path)
        assert requests.for_target(target) == expected
