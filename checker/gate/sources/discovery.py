"""Which files are profiles: explicit files, directories walked recursively, and globs.

One matcher serves the working tree and a git revision alike, so ``--base`` sees the same
set of profiles at the base that the working tree has now. Directories and globs keep only
YAML files that look like profiles (a top-level ``model`` mapping or ``profile_version``);
a file named explicitly is always checked, so a broken profile is reported, not skipped.
Our own artifacts (a generated-by header: a compose file or the ``profile`` artifact kept next
to its profile) are never profiles, named or found; a named one is skipped with a note. A
``profile`` artifact is a copy of its source, so it is skipped only while that source exists:
a profile started with ``generate --emit profile`` from flags, or copied elsewhere, is checked.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from checker.errors import UsageError
from checker.gate.sources.model_paths import git_work_tree
from checker.render.write import FROM_FLAGS, generated_from
from checker.schemas.yaml_source import YAMLSourceError, parse_yaml, read_text, why_not_a_file

YAML_SUFFIXES = (".yaml", ".yml")
_SKIP_DIRS = frozenset({"node_modules", "__pycache__"})  # and every dot-directory
_GLOB_CHARS = re.compile(r"[*?\[]")
# For files that fail to parse: a top-level key that only profiles have at column 0.
_PROFILE_KEY = re.compile(r"^(model|profile_version)\s*:", re.MULTILINE)

SpecKind = Literal["file", "dir", "glob", "missing"]


class Unreadable(NamedTuple):
    """Why a file could not be read as a profile's text (too large, not UTF-8, not a file)."""

    reason: str


Reader = Callable[[str], "str | Unreadable"]  # path relative to cwd -> its text, or why not


class PathSpec(NamedTuple):
    """One PATH argument (or repo-config glob). Paths are posix and relative to ``cwd``."""

    text: str  # as given
    kind: SpecKind  # "missing": not in the working tree (may still exist at the base)
    path: str  # the file or directory; for a glob, the directory its walk starts from
    regex: str = ""  # globs only

    def names(self, rel: str) -> bool:
        """Whether this spec names ``rel`` itself (a file given explicitly)."""
        return self.kind in ("file", "missing") and rel == self.path

    def covers(self, rel: str) -> bool:
        """Whether ``rel`` is a YAML file this directory or glob spec reaches."""
        if not rel.endswith(YAML_SUFFIXES) or _pruned(rel, self.path):
            return False
        if self.kind == "glob":
            return re.fullmatch(self.regex, rel) is not None
        return self.kind in ("dir", "missing") and (
            self.path == "." or rel.startswith(self.path + "/")
        )


def no_profiles_found(specs: Sequence[PathSpec]) -> UsageError:
    """The error of a check or audit whose paths hold no profile: a gate of nothing passes
    nothing (a renamed folder would otherwise turn a nightly audit green)."""
    return UsageError(
        f"no profiles found in {', '.join(s.text for s in specs)}",
        hint="a profile is a YAML file with a top-level 'model' mapping",
    )


def _rel(path: Path, cwd: Path) -> str:
    return Path(os.path.relpath(cwd / path, cwd)).as_posix()


def _pruned(rel: str, root: str) -> bool:
    """Whether ``rel`` lies in a skipped directory below ``root`` (dot-dirs, node_modules)."""
    below = rel[len(root) + 1 :] if root != "." and rel.startswith(root + "/") else rel
    dirs = below.split("/")[:-1]
    return any((d.startswith(".") and d != "..") or d in _SKIP_DIRS for d in dirs)


def glob_regex(pattern: str) -> str:
    """Regex for a glob over posix paths: ``**`` spans directories, ``*`` and ``?`` do not."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end].replace("\\", "\\\\")
            out.append(f"[^{body[1:]}]" if body.startswith("!") else f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def parse_spec(text: str, cwd: Path) -> PathSpec:
    """Classify one PATH as a file, directory, glob or (not in the working tree) missing."""
    parts = text.replace(os.sep, "/").split("/")
    first_glob = next((i for i, p in enumerate(parts) if _GLOB_CHARS.search(p)), None)
    if first_glob is not None:
        root = _rel(Path("/".join(parts[:first_glob]) or "."), cwd)
        rest = "/".join(p for p in parts[first_glob:] if p not in ("", "."))
        return PathSpec(text, "glob", root, glob_regex(rest if root == "." else f"{root}/{rest}"))
    target = cwd / text
    # a link that loops or leads nowhere is a file that cannot be read, not a missing one
    found = target.exists() or target.is_symlink()
    kind: SpecKind = "dir" if target.is_dir() else "file" if found else "missing"
    return PathSpec(text, kind, _rel(Path(text), cwd))


def looks_like_profile(text: str) -> bool:
    try:
        data, _ = parse_yaml(text)
    except YAMLSourceError:
        return _PROFILE_KEY.search(text) is not None
    return isinstance(data, dict) and (
        isinstance(data.get("model"), dict) or "profile_version" in data
    )


def walk_yaml(root: str, cwd: Path) -> list[str]:
    """YAML files under ``root`` as paths relative to ``cwd``, skipping dot-dirs."""
    found: list[str] = []
    for folder, dirs, files in os.walk(cwd / root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS)
        where = _rel(Path(folder), cwd)  # once per folder: its files are named in it
        prefix = "" if where == "." else where + "/"
        found.extend(prefix + n for n in files if n.endswith(YAML_SUFFIXES))
    return found


def select(
    specs: Sequence[PathSpec],
    candidates: Iterable[str],
    read: Reader,
    on_profile: Callable[[str, str | Unreadable], None] | None = None,
) -> tuple[list[str], list[PathSpec], list[str]]:
    """The candidates that are profiles to check, sorted; the specs that matched none; and the
    files named explicitly that are our own artifacts (skipped). ``on_profile`` gets each
    profile's text, in that order, while it is at hand (read and parsed once)."""
    chosen: set[str] = set()
    artifacts: list[str] = []
    used: set[PathSpec] = set()
    for rel in sorted(set(candidates)):
        naming = [s for s in specs if s.names(rel)]
        covering = [s for s in specs if s.covers(rel)]
        if not (naming or covering):
            continue
        used.update(naming, covering)
        text = read(rel)
        if _is_artifact(rel, text, read):
            if naming:
                artifacts.append(rel)
        elif naming or _is_profile(text):
            chosen.add(rel)
            if on_profile is not None:
                on_profile(rel, text)
    return sorted(chosen), [s for s in specs if s not in used], artifacts


def _is_profile(text: str | Unreadable) -> bool:
    return isinstance(text, str) and looks_like_profile(text)


def _is_artifact(rel: str, text: str | Unreadable, read: Reader) -> bool:
    if isinstance(text, Unreadable) or (origin := generated_from(text)) is None:
        return False
    if not looks_like_profile(text):
        return True  # serve.sh, compose, k8s, helm: ours, and never a profile
    if origin == FROM_FLAGS:
        return False
    source = posixpath.normpath(posixpath.join(posixpath.dirname(rel), origin))
    return source != rel and isinstance(read(source), str)


def working_tree_candidates(specs: Sequence[PathSpec], cwd: Path) -> list[str]:
    """Every file the specs could match in the working tree."""
    found: list[str] = []
    for spec in specs:
        if spec.kind == "file":
            found.append(spec.path)
        elif spec.kind in ("dir", "glob") and (cwd / spec.path).is_dir():
            found.extend(walk_yaml(spec.path, cwd))
    return found


def repository_root(start: Path) -> Path:
    """The git work tree around ``start`` (its nearest folder holding ``.git``), else ``start``."""
    return git_work_tree(start) or start.resolve()


class RealFolders:
    """``os.path.realpath`` of the folders of a tree's files, each resolved once (a fleet's
    files share a few)."""

    def __init__(self) -> None:
        self._found: dict[str, str] = {}

    def __call__(self, folder: str) -> str:
        found = self._found.get(folder)
        if found is None:
            found = self._found[folder] = os.path.realpath(folder)
        return found

    def folder_of(self, path: Path) -> str:
        """The folder of ``os.path.realpath(path)``: the real path of ``path``'s folder, unless
        its name is itself a link."""
        folder, name = os.path.split(path)
        if name in ("", ".", "..") or os.path.islink(path):
            return os.path.dirname(os.path.realpath(path))
        return self(folder)


def read_working_file(cwd: Path, real: RealFolders | None = None) -> Reader:
    """The reader of files relative to ``cwd``; ``real``: folders resolved so far (shared with
    profile_folder)."""
    root = repository_root(cwd)
    real_cwd = cwd.resolve()  # once, not for each of a fleet's files
    real_folder = real or RealFolders()
    escaping: dict[str, bool] = {}  # a folder of rel -> whether its files lead outside

    def escapes(rel: str, path: Path) -> bool:
        """Whether the file ``path`` (``cwd / rel``), inside the repository as written, leads
        outside it: a file's folder decides, unless its name is itself a link."""
        folder, _, name = rel.rpartition("/")
        if name in ("", ".", "..") or os.path.islink(path):
            inside = Path(os.path.normpath(real_cwd / rel)).is_relative_to(root)
            return inside and not path.resolve().is_relative_to(root)
        found = escaping.get(folder)
        if found is None:
            inside = Path(os.path.normpath(real_cwd / folder)).is_relative_to(root)
            leads = Path(real_folder(os.fspath(cwd / folder)))
            found = escaping[folder] = inside and not leads.is_relative_to(root)
        return found

    def read(rel: str) -> str | Unreadable:
        path = cwd / rel
        if not path.is_file():  # a FIFO or device named *.yaml would block the run
            return Unreadable(why_not_a_file(path))
        if escapes(rel, path):
            # a committed symlink would bring a file of the runner's into the report
            return Unreadable("a symlink leading outside the repository; not followed")
        try:
            return read_text(path)
        except YAMLSourceError as exc:
            return Unreadable(exc.message)
        except OSError as exc:
            return Unreadable(f"cannot read: {exc.strerror or exc}")

    return read
