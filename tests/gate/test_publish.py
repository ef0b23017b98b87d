"""Publishing a report as a runner would see it: summary, outputs, sticky comment, degrading."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from checker.errors import RemoteError, UsageError
from checker.gate.github.pr_comment import MARKER
from checker.gate.github.publish import GateReport, PublishOptions, post_saved_report, publish
from tests.gate.conftest import FAST, TOKEN, pr_event, runner_env
from tests.gate.fake_github import FakeGitHub, Fault
from tests.gate.test_github_env import parse_github_output

REPORT = GateReport(
    verdict="FAIL",
    counts={"pass": 3, "warn": 1, "fail": 2, "error": 0},
    markdown="## vllm-wizard check\n\n| profile | verdict |\n|---|---|\n| a.yaml | FAIL |\n",
)
OPTIONS = PublishOptions(retry=FAST)


def files_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_pull_request_run_posts_then_updates_one_comment(
    tmp_path: Path,
    github: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    env = runner_env(tmp_path, github.url, pr_event(7))
    report = GateReport(**{**REPORT.__dict__, "report_path": tmp_path / "out" / "report.md"})
    log = io.StringIO()
    first = publish(report, OPTIONS, env, log)
    second = publish(report, OPTIONS, env, log)
    assert first.comment and second.comment and not first.degraded
    assert (first.comment.action, second.comment.action) == ("created", "updated")
    assert len(github.comments[7]) == 1
    posted = github.comments[7][0]["body"]
    assert posted == MARKER + "\n" + REPORT.markdown
    assert (tmp_path / "out" / "report.md").read_text() == REPORT.markdown
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text().count("| a.yaml | FAIL |") == 2
    outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
    assert outputs["verdict"] == "FAIL" and outputs["fail"] == "2" and outputs["pass"] == "3"
    assert outputs["report-path"] == str(tmp_path / "out" / "report.md")
    assert outputs["comment-url"] == first.comment.url
    captured = capsys.readouterr()
    for text in (log.getvalue(), captured.out, captured.err, caplog.text, files_text(tmp_path)):
        assert TOKEN not in text


def test_fork_pull_request_degrades_to_summary_with_a_clear_message(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.read_only = True
    env = runner_env(tmp_path, github.url, pr_event(9, fork=True))
    log = io.StringIO()
    outcome = publish(REPORT, OPTIONS, env, log)
    assert outcome.degraded and outcome.comment is None and github.comments == {}
    message = log.getvalue()
    assert message.startswith("::warning title=vllm-wizard::PR comment not posted")
    assert message.count("\n") == 1  # one workflow command: nothing in it can end it early
    assert "HTTP 403" in message
    assert "fork" in message and "job summary" in message
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("> PR comment not posted")  # said first, where it is seen
    assert "| a.yaml | FAIL |" in summary
    outputs = parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())
    assert outputs["verdict"] == "FAIL" and outputs["comment-url"] == ""
    assert TOKEN not in message + summary


@pytest.mark.parametrize("status", [401, 404])
def test_other_refusals_degrade_too(tmp_path: Path, github: FakeGitHub, status: int) -> None:
    github.faults.append(Fault("GET", "comments", status, body={"message": "Bad credentials"}))
    env = runner_env(tmp_path, github.url, pr_event(9))
    log = io.StringIO()
    outcome = publish(REPORT, OPTIONS, env, log)
    assert outcome.degraded and f"HTTP {status}" in log.getvalue()


def test_server_errors_are_retried_then_posted(tmp_path: Path, github: FakeGitHub) -> None:
    github.faults += [Fault("GET", "comments", 500), Fault("GET", "comments", 502)]
    env = runner_env(tmp_path, github.url, pr_event(7))
    outcome = publish(REPORT, OPTIONS, env, io.StringIO())
    assert outcome.comment is not None and len(github.comments[7]) == 1


def test_an_api_that_keeps_failing_degrades(tmp_path: Path, github: FakeGitHub) -> None:
    github.faults += [Fault("GET", "comments", 503) for _ in range(FAST.attempts)]
    env = runner_env(tmp_path, github.url, pr_event(7))
    log = io.StringIO()
    outcome = publish(REPORT, OPTIONS, env, log)
    assert outcome.degraded and "kept failing" in log.getvalue()


def test_missing_token_degrades(tmp_path: Path, github: FakeGitHub) -> None:
    env = runner_env(tmp_path, github.url, pr_event(7))
    del env["GITHUB_TOKEN"]
    log = io.StringIO()
    assert publish(REPORT, OPTIONS, env, log).degraded
    assert "GITHUB_TOKEN not set" in log.getvalue() and github.seen == []


def test_outside_actions_nothing_is_published(tmp_path: Path, github: FakeGitHub) -> None:
    env = runner_env(tmp_path, github.url, pr_event(7))
    del env["GITHUB_ACTIONS"]
    outcome = publish(REPORT, OPTIONS, env, io.StringIO())
    assert outcome.comment is None and github.seen == []
    assert not Path(env["GITHUB_STEP_SUMMARY"]).exists()
    assert not Path(env["GITHUB_OUTPUT"]).exists()


def test_flags_override_the_environment(tmp_path: Path, github: FakeGitHub) -> None:
    env = runner_env(tmp_path, github.url, pr_event(7))
    options = PublishOptions(comment=False, summary=False, outputs=True, retry=FAST)
    outcome = publish(REPORT, options, env, io.StringIO())
    assert outcome.comment is None and github.seen == []
    assert not Path(env["GITHUB_STEP_SUMMARY"]).exists()
    assert Path(env["GITHUB_OUTPUT"]).exists()


def test_comment_asked_for_outside_a_pull_request_says_why(
    tmp_path: Path, github: FakeGitHub
) -> None:
    env = runner_env(tmp_path, github.url, {"ref": "refs/heads/main"})
    log = io.StringIO()
    publish(REPORT, PublishOptions(comment=True, retry=FAST), env, log)
    assert "no pull request" in log.getvalue() and github.seen == []


def test_summary_asked_for_outside_actions_says_why(tmp_path: Path, github: FakeGitHub) -> None:
    env = runner_env(tmp_path, github.url, pr_event(7))
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        del env[name]
    log = io.StringIO()
    publish(REPORT, PublishOptions(summary=True, retry=FAST), env, log)
    assert log.getvalue() == (
        "vllm-wizard: no job summary written: GITHUB_STEP_SUMMARY is not set (not in Actions)\n"
    )
    log = io.StringIO()
    publish(REPORT, PublishOptions(retry=FAST), env, log)  # not asked for: nothing to say
    assert log.getvalue() == ""


def workflow_run_env(tmp_path: Path, url: str, numbers: list[int]) -> dict[str, str]:
    event = {
        "workflow_run": {
            "head_sha": "c" * 40,
            "html_url": "https://github.test/octo/serving/actions/runs/77",
            "pull_requests": [{"number": n} for n in numbers],
        }
    }
    return runner_env(tmp_path, url, event)


def test_saved_report_from_a_fork_is_posted_to_the_verified_pull_request(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.pulls[12] = "c" * 40
    saved = tmp_path / "report.md"
    saved.write_text(f"{MARKER}\n--> @maintainers look\n" + "y" * 80_000)
    env = workflow_run_env(tmp_path, github.url, [])  # forks: GitHub sends no PR numbers
    result = post_saved_report(saved, "12\n", env, FAST)
    again = post_saved_report(saved, "12", env, FAST)
    assert (result.action, again.action) == ("created", "updated")
    posted = github.comments[12][0]["body"]
    assert posted.count(MARKER) == 1 and posted.count("-->") == 1
    assert "@maintainers" not in posted and "actions/runs/77" in posted
    assert len(posted) <= 65_000


def test_saved_report_for_a_pull_request_at_another_commit_is_refused(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.pulls[12] = "d" * 40  # the artifact claims #12, but #12 is not what was checked
    saved = tmp_path / "report.md"
    saved.write_text("ok")
    env = workflow_run_env(tmp_path, github.url, [])
    with pytest.raises(RemoteError, match="not at the checked commit"):
        post_saved_report(saved, "12", env, FAST)
    with pytest.raises(UsageError, match="pull request number"):
        post_saved_report(saved, "12; rm -rf /", env, FAST)
    assert github.comments == {}


def test_saved_report_uses_the_event_pr_number_when_github_gives_it(
    tmp_path: Path, github: FakeGitHub
) -> None:
    saved = tmp_path / "report.md"
    saved.write_text("ok")
    github.pulls[4] = "c" * 40
    env = workflow_run_env(tmp_path, github.url, [4])
    assert post_saved_report(saved, None, env, FAST).action == "created"
    assert list(github.comments) == [4]


def test_saved_report_needs_a_workflow_run_event(tmp_path: Path, github: FakeGitHub) -> None:
    saved = tmp_path / "report.md"
    saved.write_text("ok")
    env = runner_env(tmp_path, github.url, pr_event(3))
    with pytest.raises(UsageError, match="workflow_run"):
        post_saved_report(saved, "3", env, FAST)


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "checker", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_comment_command_posts_a_saved_report(tmp_path: Path, github: FakeGitHub) -> None:
    github.pulls[12] = "c" * 40
    saved, number = tmp_path / "report.md", tmp_path / "pr-number"
    saved.write_text("## vllm-wizard check\nall PASS\n")
    number.write_text("12\n")
    env = workflow_run_env(tmp_path, github.url, [])
    result = run_cli(["comment", str(saved), "--pr-number-file", str(number)], env)
    assert result.returncode == 0, result.stderr
    assert "PR comment created" in result.stdout and "all PASS" in github.comments[12][0]["body"]
    github.pulls[12] = "d" * 40  # pushed since: the saved report is stale
    result = run_cli(["comment", str(saved), "--pr-number-file", str(number)], env)
    assert result.returncode == 2 and "not at the checked commit" in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_an_unreadable_event_payload_degrades(tmp_path: Path, github: FakeGitHub) -> None:
    env = runner_env(tmp_path, github.url, pr_event(7))
    Path(env["GITHUB_EVENT_PATH"]).write_text("{broken")
    log = io.StringIO()
    outcome = publish(REPORT, OPTIONS, env, log)
    assert outcome.degraded and "event payload" in log.getvalue()
    assert parse_github_output(Path(env["GITHUB_OUTPUT"]).read_text())["verdict"] == "FAIL"


def test_an_event_pr_list_is_verified_too(tmp_path: Path, github: FakeGitHub) -> None:
    # GitHub matches workflow_run.pull_requests by branch: #4 here is some other PR
    github.pulls[4] = "e" * 40
    saved = tmp_path / "report.md"
    saved.write_text("ok")
    env = workflow_run_env(tmp_path, github.url, [4])
    with pytest.raises(RemoteError, match="#4 is not at the checked commit"):
        post_saved_report(saved, None, env, FAST)
    assert github.comments == {}


def test_unwritable_runner_files_are_reported_not_fatal(tmp_path: Path, github: FakeGitHub) -> None:
    env = runner_env(tmp_path, github.url, pr_event(7))
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "missing-dir" / "summary.md")
    log = io.StringIO()
    outcome = publish(REPORT, OPTIONS, env, log)
    assert outcome.comment is not None  # the comment still went out
    assert "cannot write the job summary" in log.getvalue()
