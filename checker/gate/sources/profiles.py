"""The profiles of one side of a check (working tree or base revision), loaded or not."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from checker.errors import CheckerError
from checker.gate.pairs import problems_from_error
from checker.gate.result import InputProblem
from checker.gate.sources.discovery import Reader, RealFolders, Unreadable
from checker.schemas.profile_io import LoadedProfile, Target, load_profile_text, profile_targets


class Loaded(NamedTuple):
    """Path -> text, and path -> profile or the problem that kept it from loading."""

    texts: dict[str, str]
    profiles: dict[str, LoadedProfile]
    problems: dict[str, list[InputProblem]]  # every problem of the file, first first

    def all_problems(self) -> list[InputProblem]:
        return [problem for found in self.problems.values() for problem in found]

    def add(self, rel: str, text: str | Unreadable) -> None:
        """Load one file's text into this side."""
        if isinstance(text, Unreadable):
            self.problems[rel] = [InputProblem(path=rel, message=text.reason)]
            return
        self.texts[rel] = text
        try:
            self.profiles[rel] = load_profile_text(text, rel)
        except CheckerError as exc:
            self.problems[rel] = problems_from_error(exc, rel)


def profile_folder(cwd: Path, rel: str, real: RealFolders | None = None) -> Path:
    """The folder a profile's relative paths (model.config, a model or draft directory, its
    artifacts) are read from: its file's, a symlink followed to the real file, as ``plan
    --profile`` and ``generate --profile`` read them. ``real``: the folders resolved so far."""
    if real is not None:
        return Path(real.folder_of(cwd / rel))
    return Path(os.path.realpath(cwd / rel)).parent


def load_side(paths: Sequence[str], read: Reader) -> Loaded:
    side = Loaded({}, {}, {})
    for rel in paths:
        side.add(rel, read(rel))
    return side


def targets_of(
    loaded: LoadedProfile, given: Sequence[Target], *, add_own: bool = False
) -> list[Target]:
    """The profile's own targets (hardware.gpu_name, then hardware.targets) when none are
    given; with ``add_own``, its own followed by the given ones (the GPU it deploys on is always
    checked; 'auto', which names no GPU, is left to the given ones); else only the given."""
    own = profile_targets(loaded.profile)
    if not given:
        return own
    if not add_own:
        return list(given)
    own = [t for t in own if t.gpu.strip().lower() != "auto"]
    return own + [t for t in given if t not in own]
