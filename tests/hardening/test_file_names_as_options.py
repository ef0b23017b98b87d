"""Argument injection through file names (issue 18): a committed file named like an option,
``--output=pwned.yaml``, reaches every entry point as a file, never as an option that would
write where the name says. The hook's entry is covered through the real pre-commit in
tests/gate/test_precommit_hooks.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main
from tests.gate.conftest import pr_event, runner_env
from tests.gate.test_action_script import run_step, workspace
from tests.gate.test_check import llama, write
from tests.gate.test_check_in_actions import FITS, TOO_BIG
from tests.gate.test_github_env import parse_github_output


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--", "--output=pwned.yaml"],
        ["check", "--pre-commit", "--gpu", "L4", "--output=pwned.yaml"],  # as the hook calls it
        ["audit", "--fleet=fleet.yaml", "--quiet", "-j", "1", "--", "--output=pwned.yaml"],
    ],
)
def test_a_file_named_like_an_option_is_a_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "--output=pwned.yaml", llama(65536))  # fails on an L4
    write(tmp_path, "fleet.yaml", "- L4\n")
    assert main(argv) == 1
    report = Path("audit.md").read_text() if argv[0] == "audit" else capsys.readouterr().out
    assert "--output=pwned.yaml" in report
    assert not (tmp_path / "pwned.yaml").exists()


def test_action_paths_are_one_per_line_and_never_options(tmp_path: Path) -> None:
    workspace(tmp_path, {"--output=pwned.vllm.yaml": TOO_BIG, "profiles/my serving.yaml": FITS})
    env = runner_env(tmp_path, "http://127.0.0.1:9", pr_event(7))  # no comment is posted
    paths = "--output=pwned.vllm.yaml\r\n  profiles/my serving.yaml  \n\n"
    result = run_step(tmp_path, env, paths=paths, gpus="L4", comment="false")
    assert not (tmp_path / "work" / "pwned.vllm.yaml").exists()
    assert result.returncode == 1, result.stdout + result.stderr
    outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
    assert (outputs["pass"], outputs["fail"]) == ("1", "1")
    assert "file=--output=pwned.vllm.yaml" in result.stdout
    # a GPU target or a config that looks like an option is a value, not an option
    result = run_step(
        tmp_path, env, paths="profiles/", gpus="--output=pwned.vllm.yaml", comment="false"
    )
    assert result.returncode == 2 and not (tmp_path / "work" / "pwned.vllm.yaml").exists()
    result = run_step(
        tmp_path, env, paths="profiles/", config="--output=pwned.vllm.yaml", comment="false"
    )
    assert result.returncode == 2 and not (tmp_path / "work" / "pwned.vllm.yaml").exists()
