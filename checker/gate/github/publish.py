"""Publish a gate report on GitHub: job summary, step outputs and the sticky PR comment.

Publishing never changes the gate's exit code: without a token that may write (pull requests
from forks), or when the API fails after retries, it says so and leaves the report in the job
summary and the annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from checker.errors import CheckerError, RemoteError, UsageError, reason
from checker.gate.formats.github import escape_data
from checker.gate.formats.markdown import md
from checker.gate.github.api import GitHubAPIError, GitHubClient, RetryPolicy
from checker.gate.github.env import (
    append_step_summary,
    in_actions,
    pull_request_of,
    read_event,
    run_url,
    workflow_run_of,
    write_outputs,
)
from checker.gate.github.pr_comment import CommentResult, comment_body, upsert_comment
from checker.render.escape import terminal
from checker.schemas.profile_io import write_atomic
from checker.schemas.yaml_source import read_prefix

DEFAULT_API_URL = "https://api.github.com"
_MAX_SAVED_REPORT = 8 * 1024 * 1024  # a saved report from an artifact is untrusted: bound it


@dataclass(frozen=True)
class GateReport:
    verdict: str  # PASS, WARN or FAIL
    counts: Mapping[str, int]  # "pass", "warn", "fail", "error" -> profile/target pairs
    markdown: str
    report_path: Path | None = None  # also write the markdown here (the Action uploads it)


@dataclass(frozen=True)
class PublishOptions:
    comment: bool | None = None  # None: on a pull request inside GitHub Actions
    summary: bool | None = None  # None: inside GitHub Actions
    outputs: bool | None = None  # None: inside GitHub Actions
    retry: RetryPolicy | None = None


@dataclass
class PublishOutcome:
    comment: CommentResult | None = None
    degraded: bool = False  # a comment was wanted but could not be posted
    messages: list[str] = field(default_factory=list)


def publish(
    report: GateReport, options: PublishOptions, env: Mapping[str, str], log: TextIO
) -> PublishOutcome:
    outcome = PublishOutcome()
    if report.report_path is not None:
        write_atomic(report.report_path, report.markdown)
    actions = in_actions(env)
    where = _full_report(env, report.report_path is not None)
    if options.comment or (options.comment is None and actions):
        _comment(report, options, env, where, outcome, explicit=bool(options.comment))
    for message in outcome.messages:
        _say(message, actions, log)
    summary_path = env.get("GITHUB_STEP_SUMMARY")
    if options.summary and not summary_path:  # asked for by name: say why nothing was written
        why = "no job summary written: GITHUB_STEP_SUMMARY is not set (not in Actions)"
        _say(why, actions, log)
    try:
        if summary_path and (options.summary or (options.summary is None and actions)):
            notes = "".join(f"> {md(m)}\n\n" for m in outcome.messages)
            append_step_summary(Path(summary_path), notes + report.markdown, full_report=where)
        output_path = env.get("GITHUB_OUTPUT")
        if output_path and (options.outputs or (options.outputs is None and actions)):
            write_outputs(Path(output_path), _outputs(report, outcome))
    except CheckerError as exc:  # the runner's files: a problem there is not the gate's verdict
        _say(str(exc), actions, log)
    return outcome


def _say(message: str, actions: bool, log: TextIO) -> None:
    """A warning annotation inside Actions (the runner reads stderr too), else one line."""
    warning = f"::warning title=vllm-wizard::{escape_data(message)}"
    print(warning if actions else f"vllm-wizard: {terminal(message)}", file=log)


def post_saved_report(
    report_file: Path, pr_text: str | None, env: Mapping[str, str], retry: RetryPolicy | None
) -> CommentResult:
    """The second half of the fork-safe pair: in a ``workflow_run`` job, post the report that
    the pull request's run saved as an artifact. The artifact is untrusted: its text is
    neutralized like any other, and its PR number is used only if that pull request's head is
    the commit the triggering run checked."""
    run = workflow_run_of(read_event(env))
    if run is None:
        raise UsageError("'comment' runs in a workflow_run job (see examples/workflows)")
    client, repo = _client(env, retry)
    number = _verified_pr(client, repo, run.pr_numbers or _pr_number(pr_text), run.head_sha)
    try:
        # the comment keeps far less anyway
        markdown = read_prefix(report_file, _MAX_SAVED_REPORT).decode("utf-8", errors="replace")
    except OSError as exc:
        raise CheckerError(
            f"cannot read the report: {reason(exc)}", location=str(report_file)
        ) from None
    where = f"in the artifacts of [the run that checked it]({run.html_url})"
    return upsert_comment(client, repo, number, comment_body(markdown, full_report=where))


def _comment(
    report: GateReport,
    options: PublishOptions,
    env: Mapping[str, str],
    where: str,
    outcome: PublishOutcome,
    *,
    explicit: bool,
) -> None:
    try:
        pr = pull_request_of(read_event(env))
        if pr is None:
            if explicit:
                outcome.messages.append(
                    "no pull request in this event, so no PR comment was posted"
                )
            return
        client, repo = _client(env, options.retry)
        body = comment_body(report.markdown, full_report=where)
        outcome.comment = upsert_comment(client, repo, pr.number, body)
    except GitHubAPIError as exc:
        if exc.status not in (401, 403, 404):
            reason = "the GitHub API kept failing"
        elif pr is not None and pr.is_fork:
            reason = "a pull request from a fork gets a read-only token"
        else:
            reason = "the token may not write comments here"
        _degrade(outcome, f"{exc.message}; {reason}")
    except CheckerError as exc:  # no token, no repository, an unreadable event payload
        _degrade(outcome, exc.message)


def _degrade(outcome: PublishOutcome, why: str) -> None:
    outcome.degraded = True
    outcome.messages.append(
        f"PR comment not posted: {why}. The report is in the job summary and the annotations."
    )


def _client(env: Mapping[str, str], retry: RetryPolicy | None) -> tuple[GitHubClient, str]:
    token, repo = env.get("GITHUB_TOKEN", ""), env.get("GITHUB_REPOSITORY", "")
    if not token or not repo:
        missing = " and ".join(
            n for n, v in (("GITHUB_TOKEN", token), ("GITHUB_REPOSITORY", repo)) if not v
        )
        raise UsageError(f"{missing} not set", hint="pass the token as env GITHUB_TOKEN")
    return GitHubClient(env.get("GITHUB_API_URL") or DEFAULT_API_URL, token, policy=retry), repo


def _pr_number(text: str | None) -> tuple[int, ...]:
    text = (text or "").strip()
    # ASCII only (int() also reads '٣' as 3), and no longer than an issue number can be
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) > 0):
        raise UsageError(
            f"no usable pull request number ({text[:20]!r})",
            hint="the report run saves the PR number next to the report",
        )
    return (int(text),)


def _verified_pr(
    client: GitHubClient, repo: str, candidates: tuple[int, ...], head_sha: str
) -> int:
    """The first candidate whose head is the checked commit: neither the artifact's number nor
    the event's list (matched by branch name) alone says which pull request was checked."""
    for number in candidates:
        pr = client.request("GET", f"/repos/{repo}/pulls/{number}").data
        if head_sha and isinstance(pr, dict) and (pr.get("head") or {}).get("sha") == head_sha:
            return number
    raise RemoteError(
        f"pull request #{', #'.join(map(str, candidates))} is not at the checked commit "
        f"{head_sha[:12]}; not posting (a newer run will post its own report)"
    )


def _full_report(env: Mapping[str, str], has_file: bool) -> str:
    url = run_url(env)
    where = f"in the job summary of [this run]({url})" if url else "in the job summary"
    return where + (" and in its artifacts" if has_file else "")


def _outputs(report: GateReport, outcome: PublishOutcome) -> dict[str, str]:
    return {
        "verdict": report.verdict,
        **{kind: str(report.counts.get(kind, 0)) for kind in ("pass", "warn", "fail", "error")},
        "report-path": str(report.report_path or ""),
        "comment-url": outcome.comment.url if outcome.comment else "",
    }
