"""One error root for everything the user can cause; the CLI maps it to an exit code once."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class CheckerError(Exception):
    """Base of every error caused by input, environment or a remote service.

    ``location`` is "file:line:col" (or just a file) when the error points at user text,
    ``key`` the profile key it is about (the CLI turns it into a location), ``hint`` says what
    to change. ``str()`` gives the one-line form the CLI prints.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        hint: str | None = None,
        key: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint
        self.key = key
        self.details: list[str] = []  # further problems of the same kind, one line each
        self.related: list[CheckerError] = []  # the same further problems, each located

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class UsageError(CheckerError):
    """Bad flags or flag combinations."""


class ProfileError(CheckerError):
    """A profile, repo config or fleet file that cannot be read or is invalid."""


class ModelNotFoundError(CheckerError):
    """No metadata for a model in any source (local path, catalog, Hub)."""


class ModelConfigError(CheckerError):
    """A config.json we cannot interpret."""


class GPUNotFoundError(CheckerError):
    """Unknown or ambiguous GPU name."""


class DetectError(CheckerError):
    """nvidia-smi missing, failing or printing something we cannot parse."""


class RemoteError(CheckerError):
    """A Hugging Face Hub or GitHub API request that failed after retries."""


class ArtifactError(CheckerError):
    """An artifact path or write that is refused (outside the output dir, not writable)."""


def reason(exc: BaseException) -> str:
    """Why a file could not be read or run, in words: without Python's "[Errno 2] ... 'path'"
    or "'utf-8' codec can't decode" (the caller names the file)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, OSError):
        return exc.strerror or "not readable"
    return str(exc)
