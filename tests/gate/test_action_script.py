"""The Action's check step, run by bash as the runner would, with the real vllm-wizard.

Inputs arrive as env vars: hostile ones stay data (no command runs, no glob expands), and the
step passes the gate's exit code through.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from checker.cli import main
from tests.conftest import REPO
from tests.gate.conftest import TOKEN, pr_event, runner_env
from tests.gate.fake_github import FakeGitHub
from tests.gate.gitrepo import commit_all, git, make_repo
from tests.gate.test_check_in_actions import FITS, TOO_BIG
from tests.gate.test_github_env import parse_github_output
from tests.models.fake_hub import FakeHub, Repo

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


def test_offline_input_is_true_by_default(tmp_path: Path, github: FakeGitHub) -> None:
    profile = FITS.replace("Qwen/Qwen3-0.6B", "acme/private-1.5b")
    workspace(tmp_path, {"profiles/a.yaml": profile})
    config = (REPO / "tests" / "data" / "configs" / "Qwen__Qwen2.5-1.5B.json").read_bytes()
    with FakeHub() as hub:
        hub.repos["acme/private-1.5b"] = Repo(files={"config.json": config})
        env = {
            **runner_env(tmp_path, github.url, pr_event(7)),
            "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "",
        }
        result = run_step(tmp_path, env, paths="profiles/a.yaml", comment="false")
        assert result.returncode == 2 and "not asked" in result.stdout
        assert hub.seen == []
        result = run_step(tmp_path, env, paths="profiles/a.yaml", comment="false", offline="false")
        assert result.returncode == 0, result.stdout + result.stderr
        assert hub.seen
        result = run_step(tmp_path, env, paths="profiles/a.yaml", offline="no")
        assert result.returncode == 2 and "'offline' must be true or false" in result.stdout


def test_a_committed_lockfile_checks_its_models_offline(tmp_path: Path, github: FakeGitHub) -> None:
    # the action said models come "from a lockfile", but had no input to name one
    profile = FITS.replace("Qwen/Qwen3-0.6B", "acme/private-1.5b")
    workspace(tmp_path, {"profiles/a.yaml": profile})
    config = json.loads((REPO / "tests/data/configs/Qwen__Qwen2.5-1.5B.json").read_text())
    lock = {"lockfile_version": 1, "models": [{"model": "acme/private-1.5b", "config": config}]}
    env = runner_env(tmp_path, github.url, pr_event(7))
    kw = {"paths": "profiles/a.yaml", "comment": "false", "lockfile": "locks/models.json"}
    result = run_step(tmp_path, env, **kw)
    assert result.returncode == 2 and "locks/models.json: no such lockfile" in result.stderr
    # and an annotation, which a PR shows (the log line alone was all there was)
    assert "::error title=vllm-wizard::locks/models.json: no such lockfile" in result.stdout
    result = run_step(tmp_path, env, **{**kw, "lockfile": "locks/100%0A::warning::x.json"})
    assert "::error title=vllm-wizard::locks/100%250A:" in result.stdout  # %0A stays text
    assert "::warning::" not in result.stdout
    (tmp_path / "work" / "locks").mkdir()
    (tmp_path / "work" / "locks" / "models.json").write_text(json.dumps(lock))
    result = run_step(tmp_path, env, **kw)
    assert result.returncode == 0, result.stdout + result.stderr


def run_fetch(work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The "Fetch the base revision" step, with its env as the runner sets it."""
    return subprocess.run(
        ["bash", "-c", STEPS["base"]["run"]],
        cwd=work,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_base_is_fetched_from_a_private_repository_without_persisted_credentials(
    tmp_path: Path, github: FakeGitHub
) -> None:
    origin = make_repo(tmp_path / "origin")
    (origin / "profiles").mkdir()
    (origin / "profiles" / "a.yaml").write_text(FITS)
    base = commit_all(origin, "base")
    (origin / "profiles" / "a.yaml").write_text(TOO_BIG)
    head = commit_all(origin, "head")
    served = tmp_path / "srv" / "serving.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(served))
    github.git_dir, github.git_token = served, TOKEN
    # what actions/checkout leaves with persist-credentials: false: the head commit only
    work = make_repo(tmp_path / "work")
    git(work, "fetch", "-q", "--depth=1", f"file://{served}", head)
    git(work, "checkout", "-q", head)
    git(work, "remote", "add", "origin", f"{github.url}/{github.repo}.git")
    config_before = (work / ".git" / "config").read_text()
    env = {"BASE": base, "GITHUB_SERVER_URL": github.url, "GITHUB_TOKEN": TOKEN}

    fetched = run_fetch(work, env)
    assert fetched.returncode == 0, fetched.stderr
    assert git(work, "rev-parse", f"{base}^{{commit}}") == base
    assert (work / ".git" / "config").read_text() == config_before  # no token on disk
    assert TOKEN not in fetched.stdout + fetched.stderr
    assert github.git_auth and all(len(a) == 1 for a in github.git_auth)

    # the gate then diffs against it
    result = subprocess.run(
        [sys.executable, "-m", "checker", "check", "profiles/", "--base", base, "--format=json"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and '"diff"' in result.stdout, result.stderr


def test_base_fetch_overrides_a_persisted_header_and_needs_the_token(
    tmp_path: Path, github: FakeGitHub
) -> None:
    origin = make_repo(tmp_path / "origin")
    (origin / "a.txt").write_text("1")
    base = commit_all(origin, "base")
    served = tmp_path / "srv" / "serving.git"
    git(tmp_path, "clone", "-q", "--bare", str(origin), str(served))
    github.git_dir, github.git_token = served, TOKEN
    work = make_repo(tmp_path / "work")
    git(work, "remote", "add", "origin", f"{github.url}/{github.repo}.git")
    env = {"BASE": base, "GITHUB_SERVER_URL": github.url, "GITHUB_TOKEN": ""}
    assert run_fetch(work, env).returncode != 0  # a private repository: no token, no fetch
    # a stale header persisted by an earlier checkout is replaced, not sent alongside ours
    git(work, "config", f"http.{github.url}/.extraheader", "AUTHORIZATION: basic c3RhbGU=")
    fetched = run_fetch(work, {**env, "GITHUB_TOKEN": TOKEN})
    assert fetched.returncode == 0, fetched.stderr
    assert github.git_auth[-1] == [
        "basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    ]


@pytest.mark.parametrize("base", ["-uhoh", "--upload-pack=touch pwned", "-"])
def test_base_that_looks_like_an_option_is_refused(tmp_path: Path, base: str) -> None:
    work = make_repo(tmp_path / "work")
    fetched = run_fetch(work, {"BASE": base, "GITHUB_SERVER_URL": "https://github.test"})
    assert fetched.returncode == 2
    assert "input 'base' must be a git revision" in fetched.stdout
    assert not (work / "pwned").exists()


def test_post_report_posts_the_saved_report(tmp_path: Path, github: FakeGitHub) -> None:
    """The workflow_run half: the step hands the saved report to 'comment', after '--'."""
    from tests.gate.test_publish import workflow_run_env

    github.pulls[12] = "c" * 40
    saved = tmp_path / "work" / "-report dir"  # a download path that looks like an option
    saved.mkdir(parents=True)
    (saved / "report.md").write_text("## vllm-wizard check\nall PASS\n")
    (saved / "pr-number").write_text("12\n")
    env = workflow_run_env(tmp_path, github.url, [])
    result = run_step(tmp_path, env, post_report="-report dir")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all PASS" in github.comments[12][0]["body"]


QWEN_TP2 = """\
profile_version: 1
model: {id: Qwen/Qwen2.5-7B-Instruct, max_model_len: 16384}
hardware: {gpu_name: H100-80GB, gpus: 2, tp_size: 2}
vllm: {version: "0.19.0", max_num_seqs: 1024}
"""


def test_logs_of_a_previous_job_calibrate_the_check(tmp_path: Path, github: FakeGitHub) -> None:
    workspace(tmp_path, {"profiles/qwen.yaml": QWEN_TP2})
    log = (
        REPO
        / "tests"
        / "data"
        / "vllm_logs"
        / "qwen-qwen2-5-7b-instruct--h100-80gb--tp2pp1dp1--8192.log.gz"
    )
    env = runner_env(tmp_path, github.url, pr_event(7))
    result = run_step(
        tmp_path,
        env,
        paths="profiles/qwen.yaml",
        comment="false",
        calibration_logs=f"\n  {log}  \n",
        calibration_profile="profiles/qwen.yaml",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = tmp_path / "runner-temp" / "vllm-wizard"
    assert "calibration_version: 1" in (out / "calibration.yaml").read_text()
    assert not (tmp_path / "work" / "vllm-wizard.calibration.yaml").exists()  # a copy only
    profile = str(tmp_path / "work" / "profiles" / "qwen.yaml")
    (tmp_path / "empty.yaml").touch()  # an empty calibration: the estimates
    calibrated = _kv_tokens("-p", profile, "--calibration", str(out / "calibration.yaml"))
    assert calibrated != _kv_tokens("-p", profile, "--calibration", str(tmp_path / "empty.yaml"))
    assert f"| {calibrated:,} |" in (out / "report.md").read_text()
    result = run_step(tmp_path, env, comment="false", calibration_logs=str(log))
    assert result.returncode == 2 and "needs 'calibration-profile'" in result.stdout


def _kv_tokens(*argv: str) -> int:
    """The KV tokens ``vllm-wizard plan ARGV`` gives, run in this process."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["plan", "--json", *argv]) == 0
    tokens: int = json.loads(buffer.getvalue())["feasibility"]["kv"]["tokens"]
    return tokens
