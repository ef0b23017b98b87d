"""Model metadata from the Hugging Face Hub: config.json (and hf_quant_config.json where vLLM
reads it) and exact tensor bytes, never weights.

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

from checker import __version__
from checker.errors import ModelConfigError, ModelNotFoundError, RemoteError
from checker.models import safetensors_bytes as st
from checker.models.hub_errors import RETRY_STATUS, Context, to_checker_error
from checker.models.quant_config import HF_QUANT_CONFIG

if TYPE_CHECKING:
    import httpx2

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_INDEX_BYTES = 64 * 1024 * 1024  # an index names every tensor; keep room for huge MoEs
_FIRST_RANGE = 100_000  # one request covers the header of almost every safetensors file
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
    hf_quant_config: Any = None  # hf_quant_config.json as parsed; None: not read or not there


def endpoint() -> str:
    """HF_ENDPOINT (a mirror or a local stand-in) or the public Hub; RemoteError if unusable."""
    url = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT
    try:
        parts = urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        usable = False
    if not usable:  # the value is not echoed: it may hold credentials
        raise RemoteError(
            "HF_ENDPOINT is not an http(s) URL",
            hint="unset it for https://huggingface.co, or give your mirror's address",
        )
    return url


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
    where = endpoint()  # first: huggingface_hub fails at import on a malformed HF_ENDPOINT
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
    client = _Client(model_id, revision or "main", policy or RetryPolicy(), where)
    try:
        config, commit = client.config()
        # read only where vLLM reads it: when config.json has no quantization_config
        # (transformers_utils/config.py get_config, 0.19.0 and 0.33.0)
        quant = None
        if config.get("quantization_config") is None:
            quant = client.hf_quant_config(commit or client.revision)
        tensor_bytes = client.safetensors_bytes(commit or client.revision)
    except (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        httpx2.HTTPError,
        st.SafetensorsHeaderError,
    ) as exc:
        raise to_checker_error(exc, client.context()) from None
    return HubMetadata(
        model_id, client.revision, commit, config, tensor_bytes, client.endpoint, quant
    )


class _Client:
    def __init__(self, model_id: str, revision: str, policy: RetryPolicy, where: str) -> None:
        # Public API, re-exported lazily, so mypy cannot see it.
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

        self.model_id = model_id
        self.revision = revision
        self.policy = policy
        self.endpoint = where
        self.headers: dict[str, str] = build_hf_headers(
            library_name="vllm-wizard", library_version=__version__
        )
        self.file = "config.json"  # what the failing request asked for, for messages

    def context(self) -> Context:
        token_sent = "authorization" in {k.lower() for k in self.headers}
        return Context(
            self.model_id,
            self.revision,
            self.endpoint,
            self.file,
            self.policy.attempts,
            self.policy.timeout_s,
            token_sent,
        )

    def config(self) -> tuple[dict[str, Any], str | None]:
        response, body = self._retry(
            lambda: self._get("config.json", self.revision, {}, _enough_at(MAX_CONFIG_BYTES + 1))
        )
        if len(body) > MAX_CONFIG_BYTES:
            raise ModelConfigError(f"config.json of {self.model_id!r} is larger than 2 MiB")
        try:
            config = json.loads(body)
        except (ValueError, RecursionError):  # bad UTF-8 or JSON, or a 5000-digit number
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

    def hf_quant_config(self, revision: str) -> Any:
        """The parsed hf_quant_config.json (ModelOpt 0.29 and older), or None: it is optional."""
        from huggingface_hub.errors import RemoteEntryNotFoundError

        try:
            _, body = self._retry(
                lambda: self._get(HF_QUANT_CONFIG, revision, {}, _enough_at(MAX_CONFIG_BYTES + 1))
            )
        except RemoteEntryNotFoundError:
            return None
        if len(body) > MAX_CONFIG_BYTES:
            raise ModelConfigError(f"{HF_QUANT_CONFIG} of {self.model_id!r} is larger than 2 MiB")
        try:
            return json.loads(body)
        except (ValueError, RecursionError):  # bad UTF-8 or JSON, or a 5000-digit number
            raise ModelConfigError(
                f"{HF_QUANT_CONFIG} of {self.model_id!r} from the Hub is not valid JSON",
                hint="the file is optional, but vLLM reads it: fix it in the repository",
            ) from None

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
        except (json.JSONDecodeError, RecursionError):
            raise st.SafetensorsHeaderError(f"{st.INDEX_FILE} is not valid JSON") from None
        with ThreadPoolExecutor(max_workers=8) as pool:
            return sum(pool.map(lambda name: self._file_bytes(name, revision), names))

    def _file_bytes(self, name: str, revision: str) -> int:
        def enough(buf: bytes) -> bool:
            return len(buf) >= 8 and len(buf) >= 8 + st.header_length(buf)

        wanted = {"Range": f"bytes=0-{_FIRST_RANGE - 1}"}
        _, buf = self._retry(lambda: self._get(name, revision, wanted, enough))
        length = st.header_length(buf)
        if len(buf) < 8 + length:  # a long header: ask for all of it (short of the weights)
            whole = {"Range": f"bytes=0-{length + 7}"}
            _, buf = self._retry(lambda: self._get(name, revision, whole, enough))
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
                if status not in RETRY_STATUS or attempt >= self.policy.attempts:
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
