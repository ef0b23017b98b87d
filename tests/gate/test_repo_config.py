from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import ProfileError
from checker.gate.sources.repo_config import (
    FailOn,
    RepoConfig,
    default_repo_config,
    find_repo_config,
    load_repo_config,
)

GOOD = """\
config_version: 1
profiles: ["deploy/**/*.yaml"]
targets: ["H100-80GB", "L4:2"]
gpus:
  - name: Lab-GPU-48GB
    aliases: [lab48]
    memory_gib: 47.5
    memory_bandwidth_gbs: 960
    fp16_tflops: 180
    compute_capability: "8.9"
fail_on: warning
vllm_version: "0.19.0"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".vllm-wizard.yaml"
    path.write_text(text)
    return path


def test_full_config_loads(tmp_path: Path) -> None:
    config = load_repo_config(_write(tmp_path, GOOD))
    assert config.profiles == ["deploy/**/*.yaml"]
    assert config.targets == ["H100-80GB", "L4:2"]
    assert config.gpus[0].name == "Lab-GPU-48GB" and config.gpus[0].memory_gib == 47.5
    assert config.fail_on is FailOn.WARNING
    assert config.vllm_version == "0.19.0"


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    config = load_repo_config(_write(tmp_path, "# nothing yet\n"))
    assert config.profiles == [] and config.fail_on is FailOn.ERROR


def test_the_unvalidated_default_is_the_validated_one() -> None:
    built, validated = default_repo_config(), RepoConfig()
    assert built == validated and built.model_fields_set == validated.model_fields_set
    assert built.model_dump_json() == validated.model_dump_json()


@pytest.mark.parametrize(
    ("text", "location", "message", "hint"),
    [
        ("profile: [x]\n", ":1:1", "unknown key 'profile'", "did you mean 'profiles'?"),
        (
            GOOD.replace("    aliases:", "    vendr: amd\n    aliases:"),
            ":6:5",
            "unknown key 'gpus.0.vendr'",
            "did you mean 'vendor'?",
        ),
        ("targets: ['H100:0']\n", ":1:1", "targets: GPU target 'H100:0' is not", None),
        (
            "fail_on: warnings\n",
            ":1:1",
            "fail_on: must be one of 'error' or 'warning', got 'warnings'",
            "did you mean 'warning'?",
        ),
        (
            "vllm_version: latest\n",
            ":1:1",
            "vllm_version: 'latest' is not a valid value here",
            "write it like 0.19.0 or 0.10.2",
        ),
        (
            "- a\n- b\n",
            ":1:1",
            "the file must be a mapping of keys, got a list",
            "its keys: config_version, profiles, targets, targets_only, gpus, fail_on, ...",
        ),
        ("profiles: [a\n", ":2:1", "invalid YAML", None),
        # a NUL made the run an internal error (ValueError: embedded null byte)
        ('profiles: ["a\\0b"]\n', ":1:1", "profiles: 'a\\x00b' is not a path", None),
        ('calibration: "a\\0b"\n', ":1:1", "calibration: 'a\\x00b' is not a path", None),
    ],
)
def test_errors_name_file_line_and_key(
    tmp_path: Path, text: str, location: str, message: str, hint: str | None
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        load_repo_config(path)
    assert err.value.location == f"{path}{location}"
    assert err.value.message.startswith(message)
    assert err.value.hint == hint


def test_found_from_a_subdirectory_up_to_the_repo_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    config = _write(tmp_path, GOOD)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_repo_config(deep) == config
    (deep / ".git").mkdir()  # a nested repository stops the search
    assert find_repo_config(deep) is None
