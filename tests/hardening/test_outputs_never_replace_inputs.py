"""An output path that is a directory, or a profile the run reads, is refused (exit 2) and
left as it was: never "Device or resource busy", never a profile replaced by a report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

PROFILE = f"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: {GPU}\n"


@pytest.mark.parametrize("output", [".", "sub", "sub/"])
def test_a_directory_as_the_output_file_says_so(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    run = cli("schema", "-o", output)
    assert_clean_usage_error(run, "cannot write: Is a directory", "give a file path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub"]  # no temporary file left


@pytest.mark.parametrize("flag", ["--output", "--report-file"])
@pytest.mark.parametrize("given", ["p.yaml", "./p.yaml", "{tmp}/p.yaml"])
def test_a_report_never_replaces_a_checked_profile(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: str, given: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROFILE)
    run = cli("check", "p.yaml", "--offline", "--no-comment", flag, given.format(tmp=tmp_path))
    assert_clean_usage_error(run, f"{flag} ", "is a profile this run checks; not overwriting")
    assert (tmp_path / "p.yaml").read_text() == PROFILE
    assert run.out == ""  # refused before any report is printed
    # another file is written as asked
    assert cli("check", "p.yaml", "--offline", "--no-comment", flag, "report.txt").code == 0
    assert (tmp_path / "report.txt").read_text()


def test_a_bad_profile_is_not_replaced_either(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("model:\n  idd: x\n")
    run = cli("check", "bad.yaml", "--offline", "--format", "json", "--output", "bad.yaml")
    assert_clean_usage_error(run, "--output bad.yaml is a profile this run checks")
    assert (tmp_path / "bad.yaml").read_text() == "model:\n  idd: x\n"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["generate", "-p", "p.yaml", "--output-dir", "p.yaml"], "--output-dir p.yaml is a file"),
        (["audit", "p.yaml", "--fleet", "fleet.yaml", "--output-dir", "p.yaml"], "p.yaml: --"),
    ],
    ids=["generate", "audit"],
)
def test_an_output_directory_that_is_a_file_is_refused_first(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROFILE)
    (tmp_path / "fleet.yaml").write_text(f"- {GPU}\n")
    run = cli(*argv, "--offline")
    assert_clean_usage_error(run, says, "not a directory", "(hint: give a directory")
    assert run.out == "" and (tmp_path / "p.yaml").read_text() == PROFILE


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_generate_never_replaces_its_own_profile(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: list[str]
) -> None:
    # --emit profile writes profile.yaml: in the profile's own directory that is the source
    monkeypatch.chdir(tmp_path)
    own = "# our L4 box\n" + PROFILE
    (tmp_path / "profile.yaml").write_text(own)
    run = cli("generate", "-p", "profile.yaml", "--offline", *force)
    assert_clean_usage_error(run, "profile.yaml is the profile this run generates from")
    assert "leave 'profile' out of --emit" in run.error_line
    assert (tmp_path / "profile.yaml").read_text() == own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.yaml"]  # nothing written


def test_schema_never_replaces_a_profile(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 'schema -o p.yaml' replaced the profile with the JSON Schema
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROFILE)
    run = cli("schema", "-o", "p.yaml")
    assert_clean_usage_error(run, "-o p.yaml is a profile; not overwriting it")
    assert (tmp_path / "p.yaml").read_text() == PROFILE
    assert cli("schema", "-o", "profile.schema.json").code == 0
    assert cli("schema", "-o", "profile.schema.json").code == 0  # its own output is replaced
