"""Fixtures for the GitHub side of the gate: a fake API server and a runner's environment."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.gate.github.api import RetryPolicy
from tests.gate.fake_github import FakeGitHub

TOKEN = "ghs_s3cretTOKENvalue0123456789"
FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=2.0, timeout_s=5.0)


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        yield fake


def runner_env(
    tmp_path: Path, api_url: str, event: dict[str, object], repo: str = "octo/serving"
) -> dict[str, str]:
    """What a GitHub-hosted runner sets for a step, with files in tmp_path."""
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": api_url,
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_REPOSITORY": repo,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
    }


def pr_event(number: int, *, fork: bool = False, head_sha: str = "a" * 40) -> dict[str, object]:
    base = "octo/serving"
    head = "mallory/serving" if fork else base
    return {
        "action": "synchronize",
        "pull_request": {
            "number": number,
            "head": {"sha": head_sha, "repo": {"full_name": head, "fork": fork}},
            "base": {"sha": "b" * 40, "repo": {"full_name": base}},
        },
    }
