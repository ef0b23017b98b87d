"""Model metadata from the Hugging Face Hub: config.json and exact tensor bytes, never weights.

huggingface_hub builds the URLs and auth headers (HF_TOKEN), owns the HTTP session (which
refuses every request under HF_HUB_OFFLINE) and classifies the Hub's errors. Ours are three
things: HF_ENDPOINT is read per call (the library reads it once, at import); retries are few
and short, so a Hub outage fails a CI job in seconds with a one-line reason that never holds
the token; and bodies are streamed with a byte limit, so even a server that ignores the Range
header cannot make us download weights.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from checker.errors import CheckerError, ModelConfigError, ModelNotFoundError, RemoteError
from checker.models import safetensors_bytes as st

if TYPE_CHECKING:
    import httpx2

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_INDEX_BYTES = 64 * 1024 * 1024  # an index names every tensor; keep room for huge MoEs
_FIRST_RANGE = 100_000  # one request covers the header of almost every safetensors file
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_RETRY_AFTER_S = 10.0
_SHA = re.compile(r"[0-9a-f]{40}")
_T = TypeVar("_T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # in all, first try included
    backoff_s: float = 1.0  # doubled after each failed attempt
    timeout_s: float = 10.0  # per request


@dataclass(frozen=True)
class HubMetadata:
    model_id: str
    revision: str  # as asked for; "main" when none
    commit: str | None  # what the Hub resolved it to (X-Repo-Commit)
    config: dict[str, Any]
    safetensors_bytes: int | None  # None: the repository has no safetensors checkpoint
    endpoint: str


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT


def offline_by_env() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it, but now rather than at its import."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def fetch_metadata(
    model_id: str, revision: str | None = None, *, policy: RetryPolicy | None = None
) -> HubMetadata:
    """config.json and safetensors tensor bytes of ``model_id`` at ``revision``, from the Hub.

    Raises ModelNotFoundError (no such repository, revision or config.json), RemoteError
    (access refused, rate limit, server errors, timeouts, offline) or ModelConfigError.
    """
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]

    try:
        validate_repo_id(model_id)
    except HFValidationError:
        raise ModelNotFoundError(
            f"{model_id!r} is not a Hugging Face model id",
            hint="use org/name, a local model directory, or --model-config PATH",
        ) from None
    client = _Client(model_id, revision or "main", policy or RetryPolicy())
    try:
        config, commit = client.config()
        tensor_bytes = client.safetensors_bytes(commit or client.revision)
    except (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        httpx2.HTTPError,
        st.SafetensorsHeaderError,
    ) as exc:
        raise _checker_error(exc, client) from None
    return HubMetadata(model_id, client.revision, commit, config, tensor_bytes, client.endpoint)


class _Client:
    def __init__(self, model_id: str, revision: str, policy: RetryPolicy) -> None:
        # Public API, re-exported lazily, so mypy cannot see it.
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

        self.model_id = model_id
        self.revision = revision
        self.policy = policy
        self.endpoint = endpoint()
        self.headers: dict[str, str] = build_hf_headers(library_name="vllm-wizard")
        self.file = "config.json"  # what the failing request asked for, for messages

    def config(self) -> tuple[dict[str, Any], str | None]:
        response, body = self._retry(
            lambda: self._get("config.json", self.revision, {}, _enough_at(MAX_CONFIG_BYTES + 1))
        )
        if len(body) > MAX_CONFIG_BYTES:
            raise ModelConfigError(f"config.json of {self.model_id!r} is larger than 2 MiB")
        try:
            config = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RemoteError(
                f"config.json of {self.model_id!r} from the Hub is not valid JSON (truncated?)",
                hint="retry; if it persists, check HF_ENDPOINT",
            ) from None
        if not isinstance(config, dict):
            raise ModelConfigError(f"config.json of {self.model_id!r} is not a JSON object")
        commit = response.headers.get("X-Repo-Commit", "").strip().lower()
        if not _SHA.fullmatch(commit):
            commit = self.revision if _SHA.fullmatch(self.revision) else ""
        return config, commit or None

    def safetensors_bytes(self, revision: str) -> int | None:
        from huggingface_hub.errors import RemoteEntryNotFoundError

        try:
            return self._file_bytes(st.SINGLE_FILE, revision)
        except RemoteEntryNotFoundError:
            pass
        try:
            _, body = self._retry(
                lambda: self._get(st.INDEX_FILE, revision, {}, _enough_at(MAX_INDEX_BYTES))
            )
        except RemoteEntryNotFoundError:
            return None  # a .bin or GGUF-only repository: weights are derived from the config
        try:
            names = st.shard_names(json.loads(body))
        except json.JSONDecodeError:
            raise st.SafetensorsHeaderError(f"{st.INDEX_FILE} is not valid JSON") from None
        with ThreadPoolExecutor(max_workers=8) as pool:
            return sum(pool.map(lambda name: self._file_bytes(name, revision), names))

    def _file_bytes(self, name: str, revision: str) -> int:
        def enough(buf: bytes) -> bool:
            return len(buf) >= 8 and len(buf) >= 8 + st.header_length(buf)

        wanted = {"Range": f"bytes=0-{_FIRST_RANGE - 1}"}
        _, buf = self._retry(lambda: self._get(name, revision, wanted, enough))
        length = st.header_length(buf)
        if len(buf) < 8 + length:  # the server honoured the first range: ask for the rest
            rest = {"Range": f"bytes={len(buf)}-{length + 7}"}
            missing = 8 + length - len(buf)
            _, more = self._retry(lambda: self._get(name, revision, rest, _enough_at(missing)))
            buf += more
        if len(buf) < 8 + length:
            raise st.SafetensorsHeaderError(f"header of {name} is truncated")
        return st.header_tensor_bytes(buf[8 : 8 + length])

    def _get(
        self,
        name: str,
        revision: str,
        extra: dict[str, str],
        enough: Callable[[bytes], bool],
    ) -> tuple[httpx2.Response, bytes]:
        """GET one file of the repository, reading only until ``enough`` says so."""
        from huggingface_hub import get_session, hf_hub_url, hf_raise_for_status

        self.file = name
        url = hf_hub_url(self.model_id, name, revision=revision, endpoint=self.endpoint)
        headers = {**self.headers, **extra}
        with get_session().stream(
            "GET", url, headers=headers, timeout=self.policy.timeout_s
        ) as response:
            if response.status_code >= 400:
                response.read()
                hf_raise_for_status(response)
            buf = b""
            for chunk in response.iter_bytes():
                buf += chunk
                if enough(buf):
                    break
        return response, buf

    def _retry(self, action: Callable[[], _T]) -> _T:
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError

        attempt = 1
        while True:
            try:
                return action()
            except HfHubHTTPError as exc:
                status = exc.response.status_code
                if status not in _RETRY_STATUS or attempt >= self.policy.attempts:
                    raise
                wait = _retry_after(exc.response)
            except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError):
                if attempt >= self.policy.attempts:
                    raise
                wait = None
            time.sleep(wait if wait is not None else self.policy.backoff_s * 2 ** (attempt - 1))
            attempt += 1


def _enough_at(limit: int) -> Callable[[bytes], bool]:
    return lambda buf: len(buf) >= limit


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        return None


def shown_endpoint(url: str) -> str:
    """The endpoint without user info or path, so a credential in HF_ENDPOINT is never echoed."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def _checker_error(exc: Exception, client: _Client) -> CheckerError:
    import httpx2
    from huggingface_hub import errors as hf

    mid, rev, where = client.model_id, client.revision, shown_endpoint(client.endpoint)
    tries = f"after {client.policy.attempts} attempts"
    token_sent = "authorization" in {k.lower() for k in client.headers}
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return RemoteError(
            "Hugging Face Hub access is disabled (HF_HUB_OFFLINE is set)",
            hint="unset HF_HUB_OFFLINE, or use a catalog model, a lockfile or --model-config PATH",
        )
    if isinstance(exc, hf.GatedRepoError):
        return RemoteError(
            f"{mid!r} is gated on the Hugging Face Hub and access was refused "
            f"(HTTP {exc.response.status_code})",
            hint="accept the model's licence on its Hub page with the account whose token is in "
            "HF_TOKEN"
            if token_sent
            else "accept the model's licence on its Hub page, then set HF_TOKEN to your token",
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return ModelNotFoundError(
            f"revision {rev!r} of {mid!r} was not found on the Hugging Face Hub ({where})",
            hint="check model.revision: a branch, tag or full commit sha",
        )
    if isinstance(exc, hf.RepositoryNotFoundError):
        return ModelNotFoundError(
            f"{mid!r} was not found on the Hugging Face Hub ({where})",
            hint="check the model id; a private repository also needs HF_TOKEN",
        )
    if isinstance(exc, hf.RemoteEntryNotFoundError):
        return ModelNotFoundError(
            f"{mid!r} has no {client.file} at revision {rev!r} on the Hugging Face Hub",
            hint="vLLM needs a Hugging Face config.json: pass one with --model-config PATH",
        )
    if isinstance(exc, hf.HfHubHTTPError):
        return _http_error(exc.response.status_code, mid, where, tries, token_sent)
    if isinstance(exc, httpx2.TimeoutException):
        return RemoteError(
            f"the Hugging Face Hub at {where} did not answer within "
            f"{client.policy.timeout_s:g} s ({tries})",
            hint="retry later, or use --offline with a catalog model or a lockfile",
        )
    if isinstance(exc, httpx2.RemoteProtocolError):
        return RemoteError(
            f"the Hugging Face Hub at {where} closed the connection before sending all of "
            f"{client.file} ({tries})",
            hint="retry later, or use --offline with a catalog model or a lockfile",
        )
    if isinstance(exc, st.SafetensorsHeaderError):
        return RemoteError(f"unreadable safetensors header in {mid!r}: {exc}")
    return RemoteError(
        f"cannot reach the Hugging Face Hub at {where} ({exc.__class__.__name__})",
        hint="check the network and HF_ENDPOINT, or use --offline with a catalog model, "
        "a lockfile or --model-config PATH",
    )


def _http_error(status: int, mid: str, where: str, tries: str, token_sent: bool) -> RemoteError:
    if status == 401:
        hint = (
            "the Hub rejected the token in HF_TOKEN: create a new read token"
            if token_sent
            else "the repository is private or gated: set HF_TOKEN and accept the model's licence"
        )
        return RemoteError(f"the Hugging Face Hub refused {mid!r} (HTTP 401)", hint=hint)
    if status == 403:
        return RemoteError(
            f"the Hugging Face Hub refused {mid!r} (HTTP 403)",
            hint="the token in HF_TOKEN lacks access: accept the model's licence with that "
            "account, or use a token with read access",
        )
    if status == 429:
        return RemoteError(
            f"the Hugging Face Hub kept rate-limiting requests for {mid!r} (HTTP 429, {tries})",
            hint="retry later, set HF_TOKEN for a higher limit, or record a lockfile for CI",
        )
    if status in _RETRY_STATUS:
        return RemoteError(
            f"the Hugging Face Hub at {where} answered HTTP {status} for {mid!r} ({tries})",
            hint="the Hub may be down: retry later, or use --offline with a catalog model or a "
            "lockfile",
        )
    return RemoteError(f"the Hugging Face Hub at {where} answered HTTP {status} for {mid!r}")
