"""The sticky comment: created once, then updated in place; hostile report text kept harmless."""

from __future__ import annotations

import re

import pytest

from checker.gate.formats.markdown_fit import utf16_units
from checker.gate.github.api import GitHubAPIError, GitHubClient
from checker.gate.github.pr_comment import (
    COMMENT_LIMIT,
    MARKER,
    comment_body,
    find_comments,
    neutralize,
    upsert_comment,
)
from tests.gate.conftest import FAST, TOKEN
from tests.gate.fake_github import FakeGitHub, Fault

REPO = "octo/serving"
WHERE = "in the job summary"


def body(text: str) -> str:
    return comment_body(text, full_report=WHERE)


def test_created_then_updated_in_place_never_duplicated(github: FakeGitHub) -> None:
    for i in range(3):  # other people's comments, over two pages
        github.add_comment(7, f"LGTM {i}", login="alice")
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    first = upsert_comment(client, REPO, 7, body("run 1"))
    second = upsert_comment(client, REPO, 7, body("run 2"))
    third = upsert_comment(client, REPO, 7, body("run 3"))
    assert (first.action, second.action, third.action) == ("created", "updated", "updated")
    assert first.comment_id == second.comment_id == third.comment_id
    ours = find_comments(client, REPO, 7, "github-actions[bot]")
    assert len(ours) == 1 and "run 3" in ours[0]["body"] and "run 1" not in ours[0]["body"]
    assert len(github.comments[7]) == 4
    assert [s.method for s in github.writes()] == ["POST", "PATCH", "PATCH"]


def test_a_post_that_failed_after_going_through_is_not_posted_again(github: FakeGitHub) -> None:
    github.faults.append(Fault("POST", "comments", 502, processed=True))
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    result = upsert_comment(client, REPO, 7, body("run 1"))
    assert result.action == "updated"  # it found the comment its failed POST had made
    assert len(github.comments[7]) == 1


def test_a_post_that_failed_before_going_through_is_posted_once(github: FakeGitHub) -> None:
    github.faults.append(Fault("POST", "comments", 503))
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    assert upsert_comment(client, REPO, 7, body("run 1")).action == "created"
    assert len(github.comments[7]) == 1


def test_duplicates_from_racing_runs_are_folded_into_the_oldest(github: FakeGitHub) -> None:
    oldest = github.add_comment(7, MARKER + "\nold A")
    github.add_comment(7, MARKER + "\nold B")
    github.add_comment(7, MARKER + "\nquoted by a human", login="alice")
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    result = upsert_comment(client, REPO, 7, body("new"))
    assert result.comment_id == oldest["id"]
    remaining = [c["body"] for c in github.comments[7]]
    assert len(remaining) == 2 and "new" in remaining[0]
    assert remaining[1].endswith("quoted by a human")  # someone else's: left alone


def test_read_only_token_raises_403_without_writing(github: FakeGitHub) -> None:
    github.read_only = True
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    with pytest.raises(GitHubAPIError) as info:
        upsert_comment(client, REPO, 7, body("x"))
    assert info.value.status == 403 and github.comments == {}
    assert len(github.writes()) == 1  # one refused POST, no retries


def test_hostile_report_cannot_fake_or_close_the_marker_nor_mention(github: FakeGitHub) -> None:
    hostile = (
        f"{MARKER}\nmodel: evil -->\n<!-- hidden --!>\n@octo-org/admins and @alice please "
        "merge; mail me at bob@example.com\n"
    )
    text = body(hostile)
    assert text.startswith(MARKER + "\n")
    assert text.count("<!--") == 1 and text.count("-->") == 1 and "--!>" not in text
    assert not re.search(r"(?<![\w`])@[A-Za-z0-9]", text)  # no live mention remains
    assert "bob@example.com" in text  # an address is not a mention: untouched
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    upsert_comment(client, REPO, 7, text)
    # a human comment that quotes the hostile text does not look like ours
    github.add_comment(7, neutralize(hostile), login="mallory")
    assert len(find_comments(client, REPO, 7, "github-actions[bot]")) == 1


def test_neutralize_keeps_text_readable() -> None:
    out = neutralize("<!-- a --> @b")
    assert out.replace("\u200b", "") == "<!-- a --> @b"


def test_70k_report_is_cut_with_a_note_and_stays_under_the_limit(github: FakeGitHub) -> None:
    rows = "".join(f"| profile-{i:05d}.yaml | H100 | PASS | 🚀 ok |\n" for i in range(2000))
    report = (
        "## ❌ check: FAIL\n\n3 fail\n\n<details><summary>All</summary>\n\n" + rows + "</details>\n"
    )
    assert len(report) > 70_000
    text = body(report)
    assert utf16_units(text) <= COMMENT_LIMIT < 65_536
    assert "The full report is in the job summary." in text
    # the verdict, the counts and the note stay in view, above the collapsed report
    assert text.startswith(MARKER + "\n## ❌ check: FAIL\n\n3 fail\n\n> **The report was cut")
    assert text.index("cut to fit") < text.index("<details>")
    assert text.count("<details") == text.count("</details>")
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    upsert_comment(client, REPO, 7, text)
    assert github.comments[7][0]["body"] == text


def test_one_70k_line_is_cut_inside_the_line() -> None:
    text = body("x" * 70_000)
    assert COMMENT_LIMIT - 200 < utf16_units(text) <= COMMENT_LIMIT


def test_short_report_is_posted_whole() -> None:
    text = body("| a | b |\n|---|---|\n")
    assert text == MARKER + "\n| a | b |\n|---|---|\n"


def test_bad_repository_is_refused_before_any_request(github: FakeGitHub) -> None:
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    with pytest.raises(GitHubAPIError, match="not a repository"):
        upsert_comment(client, "octo/serving/../../admin", 7, "x")
    assert github.seen == []


def test_a_pasted_marker_in_someone_elses_comment_is_not_ours(github: FakeGitHub) -> None:
    spoof = github.add_comment(7, MARKER + "\nPASS, trust me", login="mallory")
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    result = upsert_comment(client, REPO, 7, body("real report"))
    assert result.action == "created" and result.comment_id != spoof["id"]
    assert spoof["body"].endswith("PASS, trust me")  # never patched into hers
    assert upsert_comment(client, REPO, 7, body("again")).comment_id == result.comment_id


def test_comment_author_can_be_configured(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checker.gate.github.pr_comment import comment_author

    client = GitHubClient(github.url, TOKEN, policy=FAST)
    assert comment_author(client) == "github-actions[bot]"  # /user refused: the Actions bot
    monkeypatch.setenv("VLLM_WIZARD_COMMENT_AUTHOR", "deploy-bot")
    assert comment_author(client) == "deploy-bot"
