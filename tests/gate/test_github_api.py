"""The REST client against a local fake of the GitHub API: retries, pages, redirects, token."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from checker.gate.github.api import GitHubAPIError, GitHubClient, RetryPolicy
from tests.gate.conftest import FAST, TOKEN
from tests.gate.fake_github import FakeGitHub, Fault

COMMENTS = "/repos/octo/serving/issues/7/comments"


def test_pages_follow_link_headers_and_send_the_token_only_as_a_header(
    github: FakeGitHub,
) -> None:
    for i in range(5):
        github.add_comment(7, f"comment {i}")
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    bodies = [c["body"] for c in client.paginate(COMMENTS)]
    assert bodies == [f"comment {i}" for i in range(5)]
    assert len(github.seen) == 3  # pages of 2, 2, 1
    for seen in github.seen:
        assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in seen.path and TOKEN not in str(seen.query)
        assert seen.query["per_page"] == ["100"]


def test_5xx_is_retried_with_backoff_then_succeeds(github: FakeGitHub) -> None:
    github.faults += [Fault("GET", "comments", 502), Fault("GET", "comments", 503)]
    waits: list[float] = []
    client = GitHubClient(github.url, TOKEN, policy=FAST, sleep=waits.append)
    assert list(client.paginate(COMMENTS)) == []
    assert waits == [0.01, 0.02]  # doubled after each failure
    assert [s.method for s in github.seen] == ["GET"] * 3


def test_429_honours_retry_after(github: FakeGitHub) -> None:
    github.faults.append(Fault("GET", "comments", 429, headers={"Retry-After": "1"}))
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    started = time.monotonic()
    assert list(client.paginate(COMMENTS)) == []
    assert time.monotonic() - started >= 1.0
    assert len(github.seen) == 2


def test_retry_after_longer_than_allowed_gives_up_at_once(github: FakeGitHub) -> None:
    github.faults.append(Fault("GET", "comments", 429, headers={"Retry-After": "3600"}))
    client = GitHubClient(github.url, TOKEN, policy=FAST, sleep=lambda s: pytest.fail("slept"))
    with pytest.raises(GitHubAPIError, match="asked to wait 3600 s") as info:
        list(client.paginate(COMMENTS))
    assert info.value.transient and len(github.seen) == 1


def test_retries_are_bounded(github: FakeGitHub) -> None:
    github.faults += [Fault("GET", "comments", 500) for _ in range(10)]
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    with pytest.raises(GitHubAPIError, match="HTTP 500") as info:
        list(client.paginate(COMMENTS))
    assert info.value.status == 500 and len(github.seen) == FAST.attempts


def test_403_is_not_retried_and_the_message_never_holds_the_token(github: FakeGitHub) -> None:
    # a hostile or buggy server that echoes the token back in its error message
    github.faults.append(Fault("POST", "comments", 403, body={"message": f"bad token {TOKEN}"}))
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    with pytest.raises(GitHubAPIError) as info:
        client.request("POST", COMMENTS, {"body": "x"}, idempotent=False)
    assert info.value.status == 403 and not info.value.transient
    assert TOKEN not in str(info.value) and "bad token ***" in str(info.value)
    assert len(github.seen) == 1


def test_a_post_is_not_retried_after_a_5xx(github: FakeGitHub) -> None:
    github.faults.append(Fault("POST", "comments", 502, processed=True))
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    with pytest.raises(GitHubAPIError) as info:
        client.request("POST", COMMENTS, {"body": "x"}, idempotent=False)
    assert info.value.transient
    assert len(github.comments[7]) == 1  # it went through once and was not sent again


@pytest.fixture
def redirecting() -> Iterator[tuple[str, list[str]]]:
    """A server that redirects every request to another origin, which records any hit."""
    hits: list[str] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://localhost:{other.server_address[1]}/steal"

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    api = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for server in (other, api):
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
    yield f"http://127.0.0.1:{api.server_address[1]}", hits
    for server in (other, api):
        server.shutdown()
        server.server_close()


def test_a_redirect_to_another_host_is_refused(redirecting: tuple[str, list[str]]) -> None:
    api_url, hits = redirecting
    client = GitHubClient(api_url, TOKEN, policy=FAST)
    with pytest.raises(GitHubAPIError, match="refused a redirect"):
        client.request("GET", "/repos/octo/serving")
    assert hits == []


def test_a_next_page_on_another_host_is_refused(github: FakeGitHub) -> None:
    client = GitHubClient(github.url, TOKEN, policy=FAST)
    with pytest.raises(GitHubAPIError, match="refused to send the token"):
        client.request("GET", "http://localhost:1/repos/octo/serving/issues/7/comments")
    assert github.seen == []


def test_no_server_is_a_transient_error_after_retries() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    policy = RetryPolicy(attempts=2, base_delay_s=0.0, timeout_s=2.0)
    client = GitHubClient(f"http://127.0.0.1:{port}", TOKEN, policy=policy)
    with pytest.raises(GitHubAPIError, match="no answer") as info:
        client.request("GET", "/rate_limit")
    assert info.value.status is None and info.value.transient


def test_api_url_must_be_http() -> None:
    with pytest.raises(GitHubAPIError, match="http"):
        GitHubClient("file:///etc", TOKEN)
