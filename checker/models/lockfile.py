"""The model lockfile: Hub metadata recorded once, so CI plans the same models without the Hub.

Conventionally ``vllm-wizard.lock.json`` (DEFAULT_NAME), committed next to the repository's
profiles. One entry per model and requested revision, sorted, so diffs stay small::

    {"lockfile_version": 1,
     "models": [{"model": "org/name", "revision": "main", "commit": "<40 hex>",
                 "endpoint": "https://huggingface.co", "safetensors_bytes": 16068890624,
                 "config": {...the config.json...},
                 "hf_quant_config": {...}}]}   (only for a checkpoint that has one)

resolve_model reads it after the built-in catalog and before the Hub (offline too); with
``record=True`` a model fetched from the Hub is written into it. Writes are atomic.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from checker.errors import ProfileError
from checker.schemas.enums import FormatVersion1
from checker.schemas.error_words import shown
from checker.schemas.profile_io import write_atomic
from checker.schemas.section import ConfigDict, Field, Section
from checker.schemas.yaml_model import validate_at
from checker.schemas.yaml_source import Positions, YAMLSourceError, decode_text, read_prefix

DEFAULT_NAME = "vllm-wizard.lock.json"
_MAX_BYTES = 64 * 1024 * 1024
_RESTORE = "restore it from git, or delete it and record it again online"


class LockEntry(Section):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=512)
    revision: str = Field(default="main", min_length=1, max_length=256, description="As requested")
    commit: str | None = Field(default=None, pattern=r"^[0-9a-f]{40}$", description="As resolved")
    endpoint: str = "https://huggingface.co"
    # 1 PiB: past every checkpoint; 10**40 here is a corrupt or forged entry
    safetensors_bytes: int | None = Field(default=None, ge=0, le=1 << 50)
    config: dict[str, Any]
    # hf_quant_config.json, kept where vLLM would read it; left out of the file when absent
    hf_quant_config: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)

    def matches(self, model: str, revision: str | None) -> bool:
        wanted = revision or "main"
        return self.model.lower() == model.strip().lower() and wanted in (
            self.revision,
            self.commit,
        )

    def provenance(self, path: Path) -> str:
        pinned = self.commit or self.revision
        return f"lockfile {path}: {self.model}@{pinned}, recorded from {self.endpoint}"


class Lockfile(Section):
    model_config = ConfigDict(extra="forbid")

    lockfile_version: FormatVersion1 = 1
    models: tuple[LockEntry, ...] = ()

    def find(self, model: str, revision: str | None) -> LockEntry | None:
        return next((e for e in self.models if e.matches(model, revision)), None)


def read_lockfile(path: Path, *, missing_ok: bool = True) -> Lockfile:
    """The lockfile at ``path``; an empty one when the file is blank or, with ``missing_ok``
    (it is about to be recorded), does not exist yet."""
    try:
        raw = read_prefix(path, _MAX_BYTES + 1)
    except FileNotFoundError:
        if missing_ok:
            return Lockfile()
        raise ProfileError(
            f"no such lockfile{_dangling(path)}",
            location=str(path),
            hint="give the lockfile's path, record one with --update-lockfile (which asks the "
            "Hub), or drop --lockfile",
        ) from None
    except OSError as exc:
        raise ProfileError(f"cannot read lockfile: {exc.strerror}", location=str(path)) from None
    if len(raw) > _MAX_BYTES:
        raise ProfileError("lockfile is larger than 64 MiB", location=str(path))
    try:
        text = decode_text(raw, _MAX_BYTES)
    except YAMLSourceError as exc:  # not UTF-8
        raise ProfileError(exc.message, location=str(path), hint=_RESTORE) from None
    if not text.strip():  # 'touch vllm-wizard.lock.json' before the first --update-lockfile
        return Lockfile()
    try:
        data = json.loads(text)
    except RecursionError:
        raise ProfileError("lockfile JSON is nested too deeply", location=str(path)) from None
    except json.JSONDecodeError as exc:
        raise ProfileError(
            f"lockfile is not valid JSON: {exc.msg}",
            location=f"{path}:{exc.lineno}:{exc.colno}",
            hint=_RESTORE,
        ) from None
    except ValueError:  # json's own: an integer past Python's 4300-digit conversion limit
        raise ProfileError("lockfile holds a number too long to read", location=str(path)) from None
    try:  # JSON has no key positions to give: each error names its key path instead
        return validate_at(Lockfile, data, Positions(), str(path))
    except ProfileError as exc:
        exc.hint = exc.hint or _RESTORE
        raise


def _dangling(path: Path) -> str:
    """The words ' (a symbolic link to X)' for a link whose target is missing, else nothing."""
    return f" (a symbolic link to {shown(os.readlink(path))})" if path.is_symlink() else ""


def record(path: Path, entry: LockEntry) -> None:
    """Add ``entry`` to the lockfile at ``path``, replacing the one for the same model+revision."""
    kept = [
        e
        for e in read_lockfile(path).models
        if (e.model.lower(), e.revision) != (entry.model.lower(), entry.revision)
    ]
    models = sorted([*kept, entry], key=lambda e: (e.model.lower(), e.revision))
    text = Lockfile(models=tuple(models)).model_dump_json(indent=2)
    write_atomic(path, text + "\n")
