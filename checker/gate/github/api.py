"""A small GitHub REST client on urllib: bounded retries, same-origin redirects and pages.

The token goes only into the Authorization header of requests to the API's own origin; it is
never part of a URL, a message or an exception, and a redirect or a ``Link`` page that leaves
the origin is refused rather than followed with the token.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from checker import __version__
from checker.errors import RemoteError

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_MAX_PAGES = 100  # 10,000 comments at 100 a page: far more than any pull request has


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 1.0  # doubled after each failed try
    max_delay_s: float = 30.0  # also the cap on a server's Retry-After
    timeout_s: float = 20.0  # per request


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    data: Any  # parsed JSON, or None for an empty body


class GitHubAPIError(RemoteError):
    """A request that failed for good. ``status`` is None when no HTTP answer came back."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None,
        transient: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient  # worth trying again later (5xx, 429, network)
        self.retry_after = retry_after  # seconds the server asked us to wait


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only within the API's origin: urllib would carry the token anywhere."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        if _origin(newurl) != _origin(req.full_url):
            raise GitHubAPIError(
                f"refused a redirect from the GitHub API to another host ({_origin(newurl)})",
                status=code,
                transient=False,
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class GitHubClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if urllib.parse.urlsplit(api_url).scheme not in ("http", "https"):
            raise GitHubAPIError(
                f"GITHUB_API_URL must be an http(s) URL, not {api_url!r}",
                status=None,
                transient=False,
            )
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_SameOriginRedirects())

    def request(
        self, method: str, path: str, body: Any = None, *, idempotent: bool = True
    ) -> Response:
        """One call with retries. A non-idempotent one (POST) is retried only when the server
        says it was not processed (429, rate limit), so a retry never creates a second object."""
        url = path if path.startswith(("http://", "https://")) else self.api_url + path
        if _origin(url) != _origin(self.api_url):
            raise GitHubAPIError(
                f"refused to send the token to {_origin(url)[1]}", status=None, transient=False
            )
        delay = self.policy.base_delay_s
        for attempt in range(1, self.policy.attempts + 1):
            answer = self._once(method, url, body)
            if isinstance(answer, Response):
                return answer
            rejected_unprocessed = answer.status == 429 or answer.retry_after is not None
            may_retry = answer.transient and (idempotent or rejected_unprocessed)
            if not may_retry or attempt == self.policy.attempts:
                raise answer
            wait = delay if answer.retry_after is None else answer.retry_after
            if wait > self.policy.max_delay_s:  # asking again sooner would only be refused
                raise GitHubAPIError(
                    f"{answer.message}; the server asked to wait {wait:.0f} s, more than "
                    f"the {self.policy.max_delay_s:.0f} s allowed",
                    status=answer.status,
                    transient=True,
                )
            self._sleep(max(wait, 0.0))
            delay = min(delay * 2, self.policy.max_delay_s)
        raise AssertionError("unreachable")  # the loop returns or raises

    def paginate(self, path: str) -> Iterator[Any]:
        """Items of a list endpoint, following ``Link: rel=next`` within the API origin."""
        url: str | None = path + ("&" if "?" in path else "?") + "per_page=100"
        for _ in range(_MAX_PAGES):
            if url is None:
                return
            response = self.request("GET", url)
            if not isinstance(response.data, list):
                raise GitHubAPIError(
                    f"expected a list from {path}", status=response.status, transient=False
                )
            yield from response.data
            match = _NEXT_LINK.search(response.headers.get("link", ""))
            url = match.group(1) if match else None

    def _once(self, method: str, url: str, body: Any) -> Response | GitHubAPIError:
        """One try: the answer, or the error it ended in (returned, so the caller decides)."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        req.add_header("User-Agent", f"vllm-wizard/{__version__}")
        req.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(req, timeout=self.policy.timeout_s) as resp:
                raw = resp.read()
                headers = {k.lower(): v for k, v in resp.headers.items()}
                return Response(resp.status, headers, json.loads(raw) if raw.strip() else None)
        except urllib.error.HTTPError as exc:
            return self._http_error(method, url, exc)
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException):
            return GitHubAPIError(
                f"{method} {_path_of(url)}: no answer from {_origin(url)[1]}",
                status=None,
                transient=True,
            )
        except (json.JSONDecodeError, RecursionError):
            return GitHubAPIError(
                f"{method} {_path_of(url)}: the answer is not JSON", status=None, transient=False
            )

    def _http_error(self, method: str, url: str, exc: urllib.error.HTTPError) -> GitHubAPIError:
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        try:
            detail = str(json.loads(exc.read() or b"{}").get("message", ""))
        except (ValueError, AttributeError, OSError, RecursionError):
            detail = ""
        detail = self._redact(detail)[:200]
        retry_after = _retry_after(headers)
        rate_limited = exc.code == 403 and (
            retry_after is not None or headers.get("x-ratelimit-remaining") == "0"
        )
        return GitHubAPIError(
            f"{method} {_path_of(url)}: HTTP {exc.code}" + (f" ({detail})" if detail else ""),
            status=exc.code,
            transient=exc.code in _RETRY_STATUSES or rate_limited,
            retry_after=retry_after,
        )

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header (delta or HTTP date), or None without one."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _path_of(url: str) -> str:
    return urllib.parse.urlsplit(url).path
