"""A local HTTP server on 127.0.0.1 that answers like the GitHub REST API for issue comments.

It keeps comments per pull request, pages lists with ``Link`` headers, records every request,
and plays scripted faults (status, headers, whether the request was processed anyway). With
``git_dir`` set it also serves that bare repository over git's smart HTTP at
``/{repo}.git`` (the real ``git http-backend``), as a private repository: only a request with
GitHub's ``x-access-token`` basic credentials for ``git_token`` gets in, and a request with two
Authorization headers is refused, as GitHub refuses it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    method: str
    path_pattern: str  # regex searched in the path
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"message": "Server Error"})
    processed: bool = False  # apply the request anyway, then fail (a write that went through)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class FakeGitHub:
    def __init__(self, repo: str = "octo/serving", page_size: int = 2) -> None:
        self.repo = repo
        self.page_size = page_size
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.pulls: dict[int, str] = {}  # number -> head sha
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.read_only = False  # a fork pull request's token: reads work, writes get 403
        self.login = "github-actions[bot]"
        self.git_dir: Path | None = None  # a bare repository served as {repo}.git
        self.git_token = ""
        self.git_auth: list[list[str]] = []  # the Authorization headers of each git request
        self._next_id = 1000
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeGitHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_comment(self, pr: int, body: str, login: str | None = None) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            comment = {
                "id": self._next_id,
                "body": body,
                "user": {"login": login or self.login, "type": _account_type(login or self.login)},
                "html_url": f"https://github.test/{self.repo}/pull/{pr}#c{self._next_id}",
            }
            self.comments.setdefault(pr, []).append(comment)
            return comment

    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method in ("POST", "PATCH", "DELETE")]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_PATCH(self) -> None:
                fake._serve(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._serve(self, "DELETE")

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if self.git_dir is not None and parts.path.startswith(f"/{self.repo}.git/"):
            return self._git(h, method, parts.path, parts.query, raw)
        body = json.loads(raw) if raw else None
        self.seen.append(Seen(method, parts.path, parse_qs(parts.query), dict(h.headers), body))
        fault = next(
            (
                f
                for f in self.faults
                if f.method == method and re.search(f.path_pattern, parts.path)
            ),
            None,
        )
        if fault is not None:
            self.faults.remove(fault)
            if fault.processed:
                self._route(method, parts.path, parts.query, body)
            return self._send(h, fault.status, fault.body, fault.headers)
        if self.read_only and method != "GET":
            msg = {"message": "Resource not accessible by integration"}
            return self._send(h, 403, msg, {})
        status, payload, headers = self._route(method, parts.path, parts.query, body)
        self._send(h, status, payload, headers)

    def _route(
        self, method: str, path: str, query: str, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        base = f"/repos/{self.repo}"
        if m := re.fullmatch(base + r"/issues/(\d+)/comments", path):
            pr = int(m.group(1))
            if method == "POST":
                return 201, self.add_comment(pr, body["body"]), {}
            return self._page(pr, path, query)
        if m := re.fullmatch(base + r"/issues/comments/(\d+)", path):
            cid = int(m.group(1))
            for pr_comments in self.comments.values():
                for comment in pr_comments:
                    if comment["id"] == cid:
                        if method == "DELETE":
                            pr_comments.remove(comment)
                            return 204, None, {}
                        comment["body"] = body["body"]
                        return 200, comment, {}
            return 404, {"message": "Not Found"}, {}
        if m := re.fullmatch(base + r"/pulls/(\d+)", path):
            number = int(m.group(1))
            if number in self.pulls:
                return 200, {"number": number, "head": {"sha": self.pulls[number]}}, {}
        return 404, {"message": "Not Found"}, {}

    def _page(self, pr: int, path: str, query: str) -> tuple[int, Any, dict[str, str]]:
        items = self.comments.get(pr, [])
        page = int(parse_qs(query).get("page", ["1"])[0])
        start = (page - 1) * self.page_size
        headers = {}
        if start + self.page_size < len(items):
            headers["Link"] = f'<{self.url}{path}?per_page=100&page={page + 1}>; rel="next"'
        return 200, items[start : start + self.page_size], headers

    def _git(
        self, h: BaseHTTPRequestHandler, method: str, path: str, query: str, raw: bytes
    ) -> None:
        assert self.git_dir is not None
        auth = h.headers.get_all("Authorization") or []
        self.git_auth.append(auth)
        if len(auth) > 1:
            return self._send(h, 400, {"message": "Duplicate header: Authorization"}, {})
        secret = base64.b64encode(f"x-access-token:{self.git_token}".encode()).decode()
        scheme, _, given = (auth[0] if auth else "").partition(" ")
        if scheme.lower() != "basic" or given.strip() != secret:
            return self._send(h, 401, None, {"WWW-Authenticate": 'Basic realm="GitHub"'})
        env = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(self.git_dir.parent),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": "/" + self.git_dir.name + path.removeprefix(f"/{self.repo}.git"),
            "QUERY_STRING": query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": h.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(raw)),
            "HTTP_CONTENT_ENCODING": h.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": h.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        done = subprocess.run(
            ["git", "http-backend"], input=raw, env=env, capture_output=True, timeout=60
        )
        head, _, body = done.stdout.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if line)
        status = int(headers.pop("Status", "200").split()[0])
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]
    ) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)


def _account_type(login: str) -> str:
    """GitHub's user.type: apps (the Actions bot included) post as NAME[bot] accounts."""
    return "Bot" if login.endswith("[bot]") else "User"
