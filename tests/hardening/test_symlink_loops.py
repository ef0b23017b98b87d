"""A symbolic link that loops (or leads nowhere) where a file is read or written is named as
such, at the line that gave the path, exit 2: never "no such file", never an internal error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

PROFILE = f"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: {GPU}\n"


def _loop(path: Path) -> Path:
    path.symlink_to(path.name)  # relative: the link points at itself
    return path


@pytest.mark.parametrize(
    ("argv", "output"),
    [
        (["schema", "-o", "out.json"], "out.json"),
        (["check", "p.yaml", "--offline", "--format", "json", "--output", "out.json"], "out.json"),
        (["audit", "p.yaml", "--fleet", "fleet.yaml", "-j", "1", "--output-dir", "."], "audit.md"),
    ],
    ids=["schema", "check", "audit"],
)
def test_an_output_that_is_a_link_loop_is_a_clean_error(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    output: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROFILE)
    (tmp_path / "fleet.yaml").write_text(f"- {GPU}\n")
    link = _loop(tmp_path / output)
    run = cli(*argv)
    assert_clean_usage_error(run, output, "cannot write", "symbolic links")
    assert link.is_symlink()  # the link was not replaced by a file
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_a_dangling_output_link_is_written_through(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schema.json").symlink_to("generated/schema.json")
    (tmp_path / "generated").mkdir()
    assert cli("schema", "-o", "schema.json").code == 0
    assert (tmp_path / "schema.json").is_symlink()
    assert (tmp_path / "generated" / "schema.json").read_text().startswith("{")


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (_loop, "a symbolic link loop"),
        (
            lambda p: p.symlink_to("gone.yaml") or p,
            "a symbolic link to 'gone.yaml', which does not",
        ),
    ],
    ids=["loop", "dangling"],
)
def test_check_names_a_bad_link_instead_of_a_missing_file(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[Path], Path],
    why: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    make(tmp_path / "p.yaml")
    run = cli("check", "p.yaml", "--offline", "--format", "json")
    assert run.code == 2
    assert f'"message":"{why}' in run.out.replace(": ", ":")
    assert "no such file" not in run.out


def test_a_model_config_link_loop_is_named_at_the_profile_line(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model").mkdir()
    _loop(tmp_path / "model" / "config.json")
    (tmp_path / "p.yaml").write_text(PROFILE.replace("Qwen3-8B\n", "Qwen3-8B\n  config: model\n"))
    run = cli("plan", "-p", "p.yaml")
    assert_clean_usage_error(run, "p.yaml:3: model config", "config.json': a symbolic link loop")
    run = cli("check", "p.yaml", "--offline")
    assert run.code == 2 and "p.yaml:3: error" in run.out and "symbolic link loop" in run.out
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--model-config", "model", "--gpu", GPU)
    assert_clean_usage_error(run, "model/config.json': a symbolic link loop", "--model-config")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["check", "p.yaml", "--check-artifacts"], "p.yaml:6: error"),
        (["check", "p.yaml", "--fix"], "p.yaml:6: error"),
        (["generate", "-p", "p.yaml", "-o", ".", "--emit", "command", "--force"], "--output-dir"),
    ],
    ids=["check-artifacts", "fix", "generate"],
)
def test_an_artifact_that_is_a_link_loop_is_named(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROFILE + "outputs:\n  artifacts:\n    command: serve.sh\n")
    link = _loop(tmp_path / "serve.sh")
    run = cli(*argv, "--offline")
    assert run.code == 2, run
    assert "internal error" not in run.err
    assert says in run.out + run.err
    assert "'serve.sh' is a symbolic link loop" in run.out + run.err
    assert link.is_symlink()
