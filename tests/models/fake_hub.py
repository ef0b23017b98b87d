"""A local HTTP server on 127.0.0.1 that answers file requests like the Hugging Face Hub.

``GET|HEAD /{org}/{name}/resolve/{revision}/{file}`` as huggingface_hub 2.x builds it
(``hf_hub_url``). Answers carry what the Hub sends and the client reads: ``X-Repo-Commit`` and
``ETag`` on files, ``206`` with ``Content-Range`` for a ``Range`` request, and errors with the
``X-Error-Code`` header that ``hf_raise_for_status`` classifies: ``RepoNotFound`` (401 without a
token, 404 with one), ``GatedRepo`` (401 without a token, 403 with one not on the list),
``RevisionNotFound``, ``EntryNotFound``. Faults are scripted per file; every file request is
recorded (others, such as huggingface_hub's daily agent-registry probe, get a 404).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

DTYPE_BYTES = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "F8_E4M3": 1, "U8": 1, "I64": 8}


def safetensors_file(tensors: dict[str, tuple[str, list[int]]], pad: int = 0) -> bytes:
    """A real safetensors file: 8-byte little-endian header length, JSON header, zeroed data."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode() + b" " * pad
    raw += b" " * (-len(raw) % 8)  # the format aligns the data section
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def tensor_bytes(tensors: dict[str, tuple[str, list[int]]]) -> int:
    """Element count x dtype size, summed: what the client must report."""
    return sum(math.prod(shape) * DTYPE_BYTES[dtype] for dtype, shape in tensors.values())


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    branches: tuple[str, ...] = ("main",)
    gated: bool = False
    allowed_token: str | None = None  # the one token let into a gated repo


@dataclass
class Fault:
    file: str  # file name the fault applies to
    status: int = 0  # answer this status (0: no status fault)
    times: int = -1  # how many requests it applies to; -1 = always
    truncate_to: int | None = None  # announce the full length, send only this many bytes
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.ignore_range = False  # a mirror that always sends the whole file
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests_for(self, file: str) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/" + file)]

    def _fault(self, file: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.file == file and fault.times != 0:
                    if fault.times > 0:
                        fault.times -= 1
                    return fault
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _error(self, status: int, code: str, commit: str | None = None) -> None:
                payload = json.dumps({"error": code}).encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if commit:
                    self.send_header("X-Repo-Commit", commit)
                self.end_headers()
                self.wfile.write(payload)

            def _answer(self, *, body: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                match = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
                if match is None:  # e.g. the library's daily agent-registry probe: not a file
                    return self._error(404, "EntryNotFound")
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake._lock:
                    fake.seen.append(Seen(self.command, path, headers))
                repo_id, revision, name = match.groups()
                fault = fake._fault(name)
                if fault and fault.delay_s:
                    time.sleep(fault.delay_s)
                if fault and fault.status:
                    self.send_response(fault.status)
                    for key, value in fault.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                repo = fake.repos.get(repo_id)
                if repo is None:
                    return self._error(404 if token else 401, "RepoNotFound")
                if repo.gated and (not token or token != repo.allowed_token):
                    return self._error(403 if token else 401, "GatedRepo")
                if revision not in (*repo.branches, repo.commit):
                    return self._error(404, "RevisionNotFound")
                if name not in repo.files:
                    return self._error(404, "EntryNotFound", repo.commit)
                self._send_file(repo, repo.files[name], fault, body=body)
                return None

            def _send_file(
                self, repo: Repo, data: bytes, fault: Fault | None, *, body: bool
            ) -> None:
                wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range", ""))
                if wanted and not fake.ignore_range:
                    start, end = int(wanted[1]), min(int(wanted[2]), len(data) - 1)
                    part = data[start : end + 1]
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                else:
                    part = data
                    self.send_response(200)
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                if not body:
                    return
                if fault and fault.truncate_to is not None:
                    part = part[: fault.truncate_to]
                # The client may stop reading once it has the header: that is the point.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(part)

        return Handler
