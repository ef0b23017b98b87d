"""One sticky pull-request comment, found again by a hidden marker and updated in place."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from checker.gate.formats.markdown_fit import fit_markdown, utf16_units
from checker.gate.github.api import GitHubAPIError, GitHubClient

MARKER = "<!-- vllm-wizard:report -->"
# GitHub refuses a comment body over 65,536 characters; keep a margin below it.
COMMENT_LIMIT = 65_000

_ZW = "\u200b"  # zero-width space: breaks a token for GitHub's parser, invisible to a reader
_MENTION = re.compile(r"(?<![A-Za-z0-9_`])@(?=[A-Za-z0-9])")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class CommentResult:
    action: str  # "created" or "updated"
    comment_id: int
    url: str


def neutralize(text: str) -> str:
    """Untrusted text that can neither open nor close an HTML comment (so it cannot fake or end
    our marker) nor @mention a user or team."""
    text = text.replace("<!--", f"<!{_ZW}--").replace("--!>", f"--{_ZW}!>")
    text = text.replace("-->", f"--{_ZW}>")
    return _MENTION.sub(f"@{_ZW}", text)


def comment_body(report_markdown: str, *, full_report: str) -> str:
    """The marker, then the report. A report too long for a comment keeps its first two lines
    (the verdict and the counts) in view, is cut and collapsed into <details>, and a visible
    note says where the whole of it is (``full_report``)."""
    body = neutralize(report_markdown).strip() + "\n"
    if utf16_units(MARKER + "\n" + body) <= COMMENT_LIMIT:
        return MARKER + "\n" + body
    lines = [line for line in body.splitlines() if line.strip()][:2]
    lead = "".join(line + "\n\n" for line in lines)
    top = MARKER + "\n" + (lead if utf16_units(lead) < 2000 else "")
    note = f"> **The report was cut to fit a comment.** The full report is {full_report}.\n\n"
    opener = "<details><summary>Report (cut)</summary>\n\n"
    closer = "\n</details>\n"
    room = COMMENT_LIMIT - utf16_units(top + note + opener + closer)
    cut = fit_markdown(body, room, "*… (cut here)*\n", measure=utf16_units)
    return top + note + opener + cut + closer


# Actions' GITHUB_TOKEN comments as this bot; it cannot read /user to say so itself.
ACTIONS_BOT = "github-actions[bot]"


def comment_author(client: GitHubClient) -> str:
    """The login our comments carry: VLLM_WIZARD_COMMENT_AUTHOR, else the token's own user
    (a personal or app user token), else the Actions bot."""
    configured = os.environ.get("VLLM_WIZARD_COMMENT_AUTHOR", "").strip()
    if configured:
        return configured
    try:
        me = client.request("GET", "/user").data
    except GitHubAPIError:
        return ACTIONS_BOT
    login = me.get("login") if isinstance(me, dict) else None
    return login if isinstance(login, str) and login else ACTIONS_BOT


def upsert_comment(
    client: GitHubClient, repo: str, pr_number: int, body: str, author: str | None = None
) -> CommentResult:
    """Update our comment on the pull request, or create it; never leave two of ours."""
    if not _REPO.match(repo) or pr_number <= 0:
        raise GitHubAPIError(
            f"not a repository and pull request: {repo!r} #{pr_number}",
            status=None,
            transient=False,
        )
    author = author or comment_author(client)
    for attempt in range(2):
        ours = find_comments(client, repo, pr_number, author)
        if ours:
            return _update(client, repo, ours, body)
        try:
            created = client.request(
                "POST",
                f"/repos/{repo}/issues/{pr_number}/comments",
                {"body": body},
                idempotent=False,
            )
        except GitHubAPIError as exc:
            # The POST may have been processed before the failure: look again, don't post twice.
            if not exc.transient or attempt == 1:
                raise
            continue
        return _result("created", created.data)
    raise AssertionError("unreachable")  # the loop returns or raises


def find_comments(
    client: GitHubClient, repo: str, pr_number: int, author: str
) -> list[dict[str, Any]]:
    """Our comments on the pull request, oldest first: the marker alone is not enough, since
    anyone can paste it; the comment must also be ``author``'s."""
    return [
        comment
        for comment in client.paginate(f"/repos/{repo}/issues/{pr_number}/comments")
        if isinstance(comment, dict)
        and str(comment.get("body") or "").startswith(MARKER)
        and (comment.get("user") or {}).get("login") == author
    ]


def _update(
    client: GitHubClient, repo: str, ours: list[dict[str, Any]], body: str
) -> CommentResult:
    first = ours[0]
    updated = client.request(
        "PATCH", f"/repos/{repo}/issues/comments/{first['id']}", {"body": body}
    )
    # Two runs racing can each create one; keep the oldest and remove the extras (all ours).
    for extra in ours[1:]:
        client.request("DELETE", f"/repos/{repo}/issues/comments/{extra['id']}")
    return _result("updated", updated.data)


def _result(action: str, data: Any) -> CommentResult:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise GitHubAPIError("the comment answer has no id", status=None, transient=False)
    return CommentResult(action, data["id"], str(data.get("html_url", "")))
