"""`vllm-wizard check` as the Action runs it: a real subprocess with a runner's environment and
a local fake of the GitHub API. Publishing never changes the exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from checker.gate.github.pr_comment import MARKER
from tests.gate.conftest import TOKEN, pr_event, runner_env
from tests.gate.fake_github import FakeGitHub
from tests.gate.test_github_env import parse_github_output

FITS = """\
profile_version: 1
model: {id: Qwen/Qwen3-0.6B, max_model_len: 4096}
hardware: {gpu_name: L4, gpus: 1}
workload: {concurrency: 2}
"""
# 70B in bf16 is 131 GiB of weights: it cannot load on one 24 GB L4
TOO_BIG = FITS.replace("Qwen/Qwen3-0.6B", "meta-llama/Llama-3.3-70B-Instruct")


def check(tmp_path: Path, env: dict[str, str], profile: str) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    (work / "profiles").mkdir(parents=True, exist_ok=True)
    (work / "profiles" / "serving.yaml").write_text(profile)
    report = tmp_path / "out" / "report.md"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "checker",
            "check",
            "profiles",
            "--offline",
            "--format",
            "github",
            "--report-file",
            str(report),
        ],
        cwd=work,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_failing_profile_on_a_pull_request(tmp_path: Path, github: FakeGitHub) -> None:
    env = runner_env(tmp_path, github.url, pr_event(7))
    result = check(tmp_path, env, TOO_BIG)
    assert result.returncode == 1, result.stderr
    assert "::error file=profiles/serving.yaml" in result.stdout  # the annotations
    (comment,) = github.comments[7]
    assert comment["body"].startswith(MARKER) and "VW201" in comment["body"]
    outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
    assert outputs["verdict"] == "FAIL" and outputs["fail"] == "1"
    assert outputs["comment-url"] == comment["html_url"]
    assert Path(outputs["report-path"]).read_text().startswith("## ❌ vllm-wizard check: FAIL")
    assert "VW201" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    result = check(tmp_path, env, FITS)  # fixed in a later push: the same comment, updated
    assert result.returncode == 0
    (comment,) = github.comments[7]
    assert "✅ vllm-wizard check: PASS" in comment["body"]
    assert TOKEN not in result.stdout + result.stderr


def test_fork_pull_request_keeps_the_exit_code(tmp_path: Path, github: FakeGitHub) -> None:
    github.read_only = True
    env = runner_env(tmp_path, github.url, pr_event(9, fork=True))
    for profile, code in ((TOO_BIG, 1), (FITS, 0)):
        result = check(tmp_path, env, profile)
        assert result.returncode == code, result.stderr
        assert "::warning title=vllm-wizard::PR comment not posted" in result.stderr
        assert "fork" in result.stderr and TOKEN not in result.stdout + result.stderr
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.count("> PR comment not posted") == 2 and "VW201" in summary
    assert github.comments == {}
