"""Read files at another git revision (``--base REF``) with the real git, no work tree change.

Paths go in and come out relative to the current directory, like the working-tree side of
discovery; git is asked with paths relative to the repository root.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from checker.errors import UsageError
from checker.gate.sources.discovery import Unreadable
from checker.schemas.yaml_source import YAMLSourceError, decode_text

_TIMEOUT_S = 60


class _GitFailed(Exception):
    def __init__(self, stderr: str):
        super().__init__(stderr)
        self.stderr = stderr


def _git(args: list[str], cwd: Path) -> bytes:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=_TIMEOUT_S, env=env
        )
    except FileNotFoundError:
        raise UsageError("--base needs git, and git is not installed") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} took longer than {_TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise _GitFailed(done.stderr.decode("utf-8", "replace").strip())
    return done.stdout


@dataclass(frozen=True)
class Revision:
    """One commit of the repository that contains ``cwd``."""

    ref: str
    commit: str
    root: Path
    cwd: Path
    files: tuple[str, ...]  # every file at the commit, relative to cwd

    def read(self, rel: str) -> str | Unreadable:
        """Text of ``rel`` (relative to cwd) at this commit, or why there is none."""
        in_repo = Path(os.path.relpath(self.cwd / rel, self.root)).as_posix()
        if in_repo.startswith("../"):
            return Unreadable("outside the repository")
        try:
            data = _git(["cat-file", "blob", f"{self.commit}:{in_repo}"], self.root)
        except _GitFailed:
            return Unreadable(f"not a file at {self.ref}")
        try:
            return decode_text(data)
        except YAMLSourceError as exc:
            return Unreadable(exc.message)


def open_revision(ref: str, cwd: Path) -> Revision:
    """Resolve ``ref`` in the repository around ``cwd``; a usage error if either is missing."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"--base {ref!r} is not a git revision")
    cwd = cwd.resolve()
    try:
        root = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip()).resolve()
    except _GitFailed:
        raise UsageError(
            "--base needs a git repository, and this directory is not in one",
            hint="run from inside the repository's work tree",
        ) from None
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    except _GitFailed:
        raise UsageError(
            f"base revision {ref!r} not found in this repository",
            hint=f"fetch it first, e.g. git fetch --depth=1 origin {ref}",
        ) from None
    sha = commit.decode().strip()
    listing = _git(["ls-tree", "-r", "-z", "--name-only", "--full-tree", sha], root)
    names = [n for n in listing.decode("utf-8", "surrogateescape").split("\0") if n]
    files = tuple(Path(os.path.relpath(root / n, cwd)).as_posix() for n in names)
    return Revision(ref, sha, root, cwd, files)


def checkout_adds_cr(path: Path) -> bool:
    """Whether git holds ``path`` with LF line endings and wrote it to the work tree with CRLF
    (``git ls-files --eol``: i/lf w/crlf), as core.autocrlf does on Windows checkouts. False
    where git, the repository or the file's index entry is missing."""
    try:
        out = _git(["ls-files", "--eol", "--", path.name], path.parent)
    except (UsageError, _GitFailed, OSError):
        return False
    eol = out.decode("utf-8", "replace").split()
    return eol[:2] == ["i/lf", "w/crlf"]
