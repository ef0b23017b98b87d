"""Running the real CLI for the hardening suite: in-process (fast) and as a process (real)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from checker.cli import main
from tests.conftest import REPO

# Recognisable secrets: any of these in any output, log or written file is a leak.
HF_SECRET = "hf_LEAKCANARYhfTOKEN0123456789abcdefXYZ"
GH_SECRET = "ghs_LEAKCANARYgithubTOKEN0123456789abcXYZ"
GPU = "H100-SXM-80GB"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The CLI's first own line on stderr (progress lines such as 'audit: 1/2' aside)."""
        lines = self.err.splitlines()
        return next((line for line in lines if line.startswith("vllm-wizard")), "")


def assert_clean_usage_error(run: Run, *fragments: str) -> None:
    """Exit 2, one 'vllm-wizard: error:' line naming the fragments, no traceback."""
    assert run.code == 2, run
    assert "Traceback" not in run.err + run.out
    assert run.error_line.startswith("vllm-wizard: error: "), run.err
    for fragment in fragments:
        assert fragment in run.error_line, (fragment, run.error_line)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real retries with short waits: the Hub and GitHub clients' default policies, shortened."""
    from checker.gate.github import api as github_api
    from checker.models import hub

    hub_policy = hub.RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=0.5)
    monkeypatch.setattr(hub, "RetryPolicy", lambda: hub_policy)
    github_policy = github_api.RetryPolicy(
        attempts=4, base_delay_s=0.01, max_delay_s=0.05, timeout_s=2
    )
    monkeypatch.setattr(github_api, "RetryPolicy", lambda: github_policy)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``cli(*argv)``: checker.cli.main in this process, with its exit code and output."""

    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def run_process(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Run:
    """The console entry point in a fresh process (what CI and pre-commit run)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "checker", *argv],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)
