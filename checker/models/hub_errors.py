"""Hugging Face Hub failures as one-line CheckerErrors: what happened, and what to do.

A message names the model, the endpoint (without credentials) and the HTTP status; it never
holds a header, so never a token. Missing things are ModelNotFoundError, the rest RemoteError.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlsplit

from checker.errors import CheckerError, ModelNotFoundError, RemoteError
from checker.models.safetensors_bytes import SafetensorsHeaderError

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_LATER = "retry later; for CI, record the model in a lockfile or pass --model-config PATH"


class Context(NamedTuple):
    """The request that failed, as far as a message may tell."""

    model_id: str
    revision: str
    endpoint: str
    file: str
    attempts: int
    timeout_s: float
    token_sent: bool


def shown_endpoint(url: str) -> str:
    """The endpoint without user info or path, so a credential in HF_ENDPOINT is never echoed."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def to_checker_error(exc: Exception, ctx: Context) -> CheckerError:
    import httpx2
    from huggingface_hub import errors as hf

    mid, rev, where = ctx.model_id, ctx.revision, shown_endpoint(ctx.endpoint)
    tries = f"after {ctx.attempts} attempts"
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return RemoteError(
            "Hugging Face Hub access is disabled (HF_HUB_OFFLINE is set)",
            hint="unset HF_HUB_OFFLINE, or use a catalog model, a lockfile or --model-config PATH",
        )
    if isinstance(exc, hf.GatedRepoError):
        return RemoteError(
            f"{mid!r} is gated on the Hugging Face Hub and access was refused "
            f"(HTTP {exc.response.status_code})",
            hint="accept the model's licence on its Hub page with the account whose token was "
            "sent (HF_TOKEN or a saved login)"
            if ctx.token_sent
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
            f"{mid!r} has no {ctx.file} at revision {rev!r} on the Hugging Face Hub",
            hint="vLLM needs a Hugging Face config.json: pass one with --model-config PATH",
        )
    if isinstance(exc, hf.HfHubHTTPError):
        return _http_error(exc.response.status_code, mid, where, tries, ctx.token_sent)
    if isinstance(exc, httpx2.TimeoutException):
        return RemoteError(
            f"the Hugging Face Hub at {where} did not answer within {ctx.timeout_s:g} s ({tries})",
            hint=_LATER,
        )
    if isinstance(exc, httpx2.RemoteProtocolError):
        return RemoteError(
            f"the Hugging Face Hub at {where} closed the connection before sending all of "
            f"{ctx.file} ({tries})",
            hint=_LATER,
        )
    if isinstance(exc, SafetensorsHeaderError):
        return RemoteError(f"unreadable safetensors header in {mid!r}: {exc}")
    return RemoteError(
        f"cannot reach the Hugging Face Hub at {where} ({exc.__class__.__name__})",
        hint="check the network and HF_ENDPOINT; for CI, record the model in a lockfile or "
        "pass --model-config PATH",
    )


def _http_error(status: int, mid: str, where: str, tries: str, token_sent: bool) -> RemoteError:
    if status == 401:
        hint = (
            "the Hub rejected the token sent (HF_TOKEN or a saved login): create a new read token"
            if token_sent
            else "the repository is private or gated: set HF_TOKEN and accept the model's licence"
        )
        return RemoteError(f"the Hugging Face Hub refused {mid!r} (HTTP 401)", hint=hint)
    if status == 403:
        return RemoteError(
            f"the Hugging Face Hub refused {mid!r} (HTTP 403)",
            hint="the token sent (HF_TOKEN or a saved login) lacks access: accept the model's "
            "licence with that account, or use a token with read access",
        )
    if status == 429:
        return RemoteError(
            f"the Hugging Face Hub kept rate-limiting requests for {mid!r} (HTTP 429, {tries})",
            hint="set HF_TOKEN for a higher limit; " + _LATER,
        )
    if status in RETRY_STATUS:
        return RemoteError(
            f"the Hugging Face Hub at {where} answered HTTP {status} for {mid!r} ({tries})",
            hint="the Hub may be down: " + _LATER,
        )
    return RemoteError(f"the Hugging Face Hub at {where} answered HTTP {status} for {mid!r}")
