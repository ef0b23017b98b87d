"""Numbers YAML 1.1 reads otherwise than the user (or a YAML 1.2 reader) does: 010 (octal 8),
0x10, 0b11, 1_000, 1:30 (base 60), 08 (text). Every input file refuses them at file:line with
the plain decimal to write; plain decimal, quoted text and floats with a leading zero load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from checker.errors import ProfileError
from checker.gate.audit.fleet import load_fleet
from checker.gate.sources.repo_config import load_repo_config
from checker.schemas.profile_io import dump_profile, load_profile, load_profile_text
from checker.schemas.yaml_source import YAMLSourceError, parse_yaml
from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

PROFILE = f"model:\n  id: Qwen/Qwen3-8B\n  max_model_len: {{}}\nhardware:\n  gpu_name: {GPU}\n"


@pytest.mark.parametrize(
    ("written", "read_as", "fix"),
    [
        ("010", "octal number 8", "write 10"),
        ("-010", "octal number -8", "write -10"),
        ("00", "octal number 0", "write 0"),
        ("08", "text '08'", "write 8"),
        ("0x10", "hexadecimal number 16", "write 16"),
        ("0b101", "binary number 5", "write 5"),
        ("1_000", "1000, with '_'", "write 1000"),
        ("1_0.5", "10.5, with '_'", "write 10.5"),
        ("1:30", "base-60 number 90", "write 90"),
        ("1:30.5", "base-60 number 90.5", "write 90.5"),
    ],
)
def test_a_number_not_in_plain_decimal_is_refused_at_its_place(
    written: str, read_as: str, fix: str
) -> None:
    with pytest.raises(YAMLSourceError) as caught:
        parse_yaml(f"a:\n  - 1\n  - {written}\n")
    error = caught.value
    assert (error.line, error.column) == (3, 5)
    assert read_as in error.message and fix in error.message
    assert f"quote it ('{written}')" in error.message


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("0", 0),
        ("-0", 0),
        ("+10", 10),
        ("8192", 8192),
        ("0.90", 0.9),
        ("01.5", 1.5),  # a float with a leading zero is decimal in every YAML version
        (".5", 0.5),
        ("1.5e+3", 1500.0),
        ("'010'", "010"),
        ('"1:30"', "1:30"),
        ("|\n    08", "08\n"),
        ("0a1b", "0a1b"),
    ],
)
def test_plain_decimal_and_quoted_text_load(written: str, value: object) -> None:
    assert parse_yaml(f"a: {written}\n")[0] == {"a": value}


def test_a_profile_names_the_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(PROFILE.format("010"))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert caught.value.location == f"{path}:3:18"
    assert "write 10" in caught.value.message
    path.write_text(PROFILE.format("10"))
    assert load_profile(path).profile.model.max_model_len == 10


def test_the_cli_exits_2_for_such_a_profile(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("p.yaml").write_text(PROFILE.format("0x2000"))
    assert_clean_usage_error(cli("plan", "--profile", "p.yaml"), "p.yaml:3:18:", "write 8192")
    run = cli("check", "p.yaml", "--no-comment")
    assert run.code == 2 and "Traceback" not in run.err
    assert "p.yaml:3: error" in run.out and "write 8192" in run.out


def test_repo_config_and_fleet_files_share_the_rule(tmp_path: Path) -> None:
    config = tmp_path / ".vllm-wizard.yaml"
    config.write_text("config_version: 01\n")
    with pytest.raises(ProfileError, match="write 1") as caught:
        load_repo_config(config)
    assert caught.value.location == f"{config}:1:17"
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("- name: L4\n  count: 0b10\n")
    with pytest.raises(ProfileError, match="write 2") as caught:
        load_fleet(fleet)
    assert caught.value.location == f"{fleet}:2:10"


def test_a_profile_dump_quotes_the_text_yaml_1_2_reads_as_a_number() -> None:
    """PyYAML leaves '08' plain (text to YAML 1.1): the dump quotes it, so it loads back."""
    text = PROFILE.format("8192").replace("  max_model_len", "  revision: '0812'\n  max_model_len")
    loaded = load_profile_text(text, "p.yaml")
    text = dump_profile(loaded.profile)
    assert "revision: '0812'" in text
    assert load_profile_text(text, "dump.yaml").profile.model.revision == "0812"
