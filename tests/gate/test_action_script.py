"""The Action's check step, run by bash as the runner would, with the real vllm-wizard.

Inputs arrive as env vars: hostile ones stay data (no command runs, no glob expands), and the
step passes the gate's exit code through.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO
from tests.gate.conftest import pr_event, runner_env
from tests.gate.fake_github import FakeGitHub
from tests.gate.test_check_in_actions import FITS, TOO_BIG
from tests.gate.test_github_env import parse_github_output

STEPS = {s.get("id"): s for s in yaml.safe_load((REPO / "action.yml").read_text())["runs"]["steps"]}
INPUTS = yaml.safe_load((REPO / "action.yml").read_text())["inputs"]


def run_step(
    tmp_path: Path, env: dict[str, str], **inputs: str
) -> subprocess.CompletedProcess[str]:
    step_env = {k: v for k, v in STEPS["check"]["env"].items() if k.startswith("INPUT_")}
    values = {name: str(spec.get("default", "")) for name, spec in INPUTS.items()}
    values.update({k.replace("_", "-"): v for k, v in inputs.items()})
    for var, expression in step_env.items():  # "${{ inputs.fail-on }}" -> the input's value
        name = expression.removeprefix("${{ inputs.").removesuffix(" }}")
        step_env[var] = "" if values[name].startswith("${{") else values[name]
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", "-c", STEPS["check"]["run"]],
        cwd=tmp_path / "work",
        env={
            **os.environ,
            **env,
            **step_env,
            "RUNNER_TEMP": str(runner_temp),
            "VLLM_WIZARD_BIN": str(Path(sys.executable).parent / "vllm-wizard"),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def workspace(tmp_path: Path, profiles: dict[str, str]) -> None:
    for name, text in profiles.items():
        (tmp_path / "work" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "work" / name).write_text(text)


def test_gate_verdict_and_exit_code_pass_through(tmp_path: Path, github: FakeGitHub) -> None:
    workspace(tmp_path, {"profiles/a.yaml": FITS, "profiles/b.yaml": TOO_BIG})
    env = runner_env(tmp_path, github.url, pr_event(7))
    result = run_step(tmp_path, env, paths="profiles/a.yaml\nprofiles/b.yaml", gpus="L4:1")
    assert result.returncode == 1, result.stderr
    outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
    assert (outputs["verdict"], outputs["pass"], outputs["fail"]) == ("FAIL", "1", "1")
    assert outputs["report-path"] == str(tmp_path / "runner-temp" / "vllm-wizard" / "report.md")
    assert len(github.comments[7]) == 1
    result = run_step(tmp_path, env, paths="profiles/a.yaml", comment="false")
    assert result.returncode == 0 and len(github.writes()) == 1  # no second comment write


def test_hostile_inputs_stay_data(tmp_path: Path, github: FakeGitHub) -> None:
    workspace(tmp_path, {"profiles/a.yaml": FITS})
    env = runner_env(tmp_path, github.url, pr_event(7))
    pwned = tmp_path / "pwned"
    result = run_step(
        tmp_path,
        env,
        paths=f"profiles/a.yaml $(touch {pwned}) `touch {pwned}` ;touch {pwned}",
        gpus=f"L4 $(touch {pwned})",
        config="",
        comment="false",
    )
    assert not pwned.exists()
    assert result.returncode == 2  # "$(touch" is just an unknown GPU / missing path
    assert "touch" in result.stderr


def test_bad_boolean_input_is_refused(tmp_path: Path, github: FakeGitHub) -> None:
    workspace(tmp_path, {"profiles/a.yaml": FITS})
    env = runner_env(tmp_path, github.url, pr_event(7))
    result = run_step(tmp_path, env, comment="yes please")
    assert result.returncode == 2 and "must be true or false" in result.stdout


def test_repo_config_fail_on_and_regenerated_artifacts(tmp_path: Path, github: FakeGitHub) -> None:
    profile = FITS + "outputs:\n  artifacts: {command: serve.sh}\n"
    workspace(tmp_path, {"profiles/a.yaml": profile, ".vllm-wizard.yaml": "fail_on: warning\n"})
    (tmp_path / "work" / ".git").mkdir()  # the repo root: where the repo config is found
    env = runner_env(tmp_path, github.url, pr_event(7))
    result = run_step(
        tmp_path, env, paths="profiles/a.yaml", comment="false", check_artifacts="true"
    )
    assert result.returncode == 1, result.stderr  # serve.sh is missing: drift
    regenerated = tmp_path / "runner-temp" / "vllm-wizard" / "artifacts" / "profiles" / "serve.sh"
    assert "vllm serve Qwen/Qwen3-0.6B" in regenerated.read_text()
    assert (
        "fail on: warning" in (tmp_path / "runner-temp" / "vllm-wizard" / "report.md").read_text()
    )
