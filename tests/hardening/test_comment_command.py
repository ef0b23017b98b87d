"""The fork-safe ``comment`` command on an untrusted saved report and PR-number file: no
mention in any form pings anyone, a bad number is a clean error, and a GitHub App's token
(403 on /user) updates its one comment instead of adding one per run (issue 18, items 7, 11)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker.gate.github.pr_comment import MARKER
from tests.gate.conftest import runner_env
from tests.gate.fake_github import FakeGitHub
from tests.hardening.conftest import Run, run_process

HEAD = "c" * 40


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.pulls[12] = HEAD
        yield fake


def _comment(tmp_path: Path, github: FakeGitHub, report: str, number: str) -> Run:
    event = {
        "workflow_run": {
            "head_sha": HEAD,
            "html_url": "https://github.test/octo/serving/actions/runs/77",
            "pull_requests": [],  # a fork's run: the number comes from the artifact
        }
    }
    env = runner_env(tmp_path, github.url, event)
    (tmp_path / "report.md").write_text(report, encoding="utf-8")
    (tmp_path / "pr-number").write_text(number, encoding="utf-8")
    return run_process(["comment", "report.md", "--pr-number-file", "pr-number"], tmp_path, env)


@pytest.mark.parametrize("number", ["\u00b2", "\u0663", "12\u00b2", "-12", "1" * 80, "0", "000"])
def test_a_pr_number_that_is_not_ascii_digits_is_refused(
    tmp_path: Path, github: FakeGitHub, number: str
) -> None:
    run = _comment(tmp_path, github, "ok", number)
    assert run.code == 2 and "no usable pull request number" in run.err, run
    assert github.writes() == []


@pytest.mark.parametrize(
    "mention", ["`@admins", "&#64;org", "&#x40;org", "&commat;org", "<b>@</b>boss", "(@team)"]
)
def test_no_mention_survives_in_any_form(tmp_path: Path, github: FakeGitHub, mention: str) -> None:
    run = _comment(tmp_path, github, f"## report\nping {mention} now\n", "12")
    assert run.code == 0, run
    body = github.comments[12][0]["body"]
    assert "@\u200b" in body
    for form in ("@admins", "@org", "@</b>boss", "@team", "&#64;", "&#x40;", "&commat;"):
        assert form not in body, body


def test_an_app_token_updates_its_one_comment(tmp_path: Path, github: FakeGitHub) -> None:
    github.login = "vllm-wizard-app[bot]"  # an installation token: /user answers 403
    github.add_comment(12, MARKER + "\nPASS, trust me", login="mallory")
    for _ in range(3):
        run = _comment(tmp_path, github, "## report\nall PASS\n", "12")
        assert run.code == 0, run
    ours = [c for c in github.comments[12] if c["user"]["login"] == github.login]
    assert len(ours) == 1, json.dumps(github.comments[12], indent=1)
    assert github.comments[12][0]["body"].endswith("PASS, trust me")  # hers, never touched
