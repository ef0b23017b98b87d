"""Where a profile may send the checker for a model's files: ``model.config``, and a
``model.id`` or speculative draft model naming a local directory, each read relative to the
profile's folder (checker.models.resolve reads them from there too).

A pull request can change a profile, and the checker reads the JSON it names and echoes parts
of it in errors and reports: left free, a profile could make CI read any file of the runner.
So a profile inside a git work tree ("the repository": its nearest folder holding ``.git``)
may name files inside that work tree only, symlinks followed, plus the directories the
repository's own config allows (``model_config_dirs``: self-hosted runners that keep
configs under /models). A profile outside every git work tree is the user's own file, which
no pull request changes: its paths are not limited. Paths given on the command line
(``--model-config``, ``--model``) are the user's own too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from checker.errors import ModelConfigError, ModelNotFoundError
from checker.gate.sources.repo_config import CONFIG_NAMES, RepoConfig
from checker.models.quant_config import HF_QUANT_CONFIG


def allowed_dirs(config: RepoConfig, config_path: Path | None) -> tuple[Path, ...]:
    """The repo config's ``model_config_dirs``, relative to the config, symlinks resolved."""
    if config_path is None:
        return ()
    folder = Path(os.path.realpath(config_path)).parent
    return tuple(Path(os.path.realpath(folder / d)) for d in config.model_config_dirs)


def git_work_tree(start: Path) -> Path | None:
    """The nearest folder holding ``.git`` around ``start`` (symlinks resolved), if any."""
    start = Path(os.path.realpath(start))
    return next((f for f in (start, *start.parents) if (f / ".git").exists()), None)


def check_model_paths(
    config: str | None,
    model_id: str | None,
    profile_dir: Path,
    allowed: Sequence[Path],
    draft: tuple[str, str] | None = None,
) -> None:
    """Refuse a profile's ``model.config`` (read from ``profile_dir``), or a ``model.id`` or
    ``draft`` (its name and profile key) naming a directory, that leads out of its repository
    other than into ``allowed``."""
    # (path, folder it is read from, profile key, what it is): a NUL is no path, the
    # resolver says so; an id or a draft that is no directory is a name, not read from disk
    paths = [(config, profile_dir, "model.config", "model.config")] if config else []
    named = [(model_id or "", "model.id", "model.id")]
    if draft is not None:
        named.append((draft[0], draft[1], "draft model"))
    for text, key, label in named:  # read from the profile's folder, as the resolver does
        if text.strip() and _names_dir(text.strip(), profile_dir):
            paths.append((text.strip(), profile_dir, key, label))
    paths = [p for p in paths if "\0" not in p[0]]
    root = git_work_tree(profile_dir) if paths else None
    if root is None:
        return
    for text, base, key, label in paths:
        _inside(text, base, root, allowed, key, label)


def _names_dir(text: str, folder: Path) -> bool:
    """Whether ``text`` (a model id or path) names a directory, read from ``folder``. A model
    id names none: one stat tells, without the Path objects (every pair of a fleet asks)."""
    if not text.startswith("~") and not os.path.isdir(os.path.join(folder, text)):
        return False
    return _is_dir(folder / Path(text).expanduser())


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):  # name too long, NUL: the resolver says so, at its line
        return False


def _inside(
    text: str, base: Path, root: Path, allowed: Sequence[Path], key: str, label: str
) -> None:
    given = Path(os.path.realpath(base)) / Path(text).expanduser()  # an absolute text wins
    read = [given, given / "config.json", given / HF_QUANT_CONFIG]
    if not _is_dir(given):
        read = [given, given.parent / HF_QUANT_CONFIG]  # the resolver looks beside a file
    for path in read:
        real = Path(os.path.realpath(path))
        if real.is_relative_to(root) or any(real.is_relative_to(d) for d in allowed):
            continue
        lexically = Path(os.path.normpath(path)).is_relative_to(root)
        folder = real if _is_dir(real) else real.parent
        error = ModelConfigError if key == "model.config" else ModelNotFoundError
        raise error(
            f"{label} {text[:200]!r} leads outside the repository ({root})"
            + (" through a symlink" if lexically else ""),
            key=key,
            hint="keep the model's config inside the repository, or allow its directory in "
            f"the repository's {CONFIG_NAMES[0]}: model_config_dirs: [{folder}]",
        )
