"""The built-in model catalog: real config.json files shipped inside the package.

``checker/data/models/index.json`` lists each model with where its config was copied from and
the caveats of that copy (README.md there explains them). Looking a model up reads the index and
then only that model's file, so the CLI never pays for the whole catalog.
"""

from __future__ import annotations

import functools
import json
from typing import Any, NamedTuple

from checker.schemas.section import ConfigDict, Section
from checker.schemas.yaml_source import bundled_text

_DATA = "models"  # folder under checker/data


class CatalogSource(Section):
    model_config = ConfigDict(extra="forbid")

    repository: str  # public GitHub repository the config was copied from
    path: str
    commit: str


class CatalogEntry(Section):
    model_config = ConfigDict(extra="forbid")

    id: str  # Hugging Face id, "org/name"
    file: str
    source: CatalogSource
    caveats: tuple[str, ...] = ()  # partial, re-saved, converted, differ (see README.md)
    note: str = ""
    aliases: tuple[str, ...] = ()  # other Hub names of the same repository
    chosen_over: str = ""  # the other copy this project had, and why this one won
    # Published fields the vendored copy lost, with where each comes from; merged over the copy.
    overrides: dict[str, Any] = {}
    overrides_source: str = ""

    @property
    def name(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    @property
    def provenance(self) -> str:
        """One line for ModelInfo.source_detail: where the config came from, how far to trust it."""
        src = self.source
        text = f"built-in catalog, from github.com/{src.repository} {src.path} @ {src.commit[:12]}"
        if self.caveats:
            meanings = _index().catalog.caveat_meanings
            text += " [" + "; ".join(meanings.get(c, c) for c in self.caveats) + "]"
        if self.note:
            text += f": {self.note}"
        if self.overrides:
            text += f" (restored: {', '.join(sorted(self.overrides))} - {self.overrides_source})"
        return text


def _data_file(name: str) -> str:
    return bundled_text(f"{_DATA}/{name}")


class _Index(Section):
    model_config = ConfigDict(extra="forbid")

    format: int
    about: str
    caveat_meanings: dict[str, str]
    models: tuple[CatalogEntry, ...]


class _Loaded(NamedTuple):
    catalog: _Index
    # entries by id and alias, lowered; the first entry naming one holds it (a process looks up
    # each of a fleet's models once: a scan of every entry per model cost more than this)
    by_id: dict[str, CatalogEntry]


@functools.cache
def _index() -> _Loaded:
    index = _Index.model_validate_json(_data_file("index.json"))
    by_id: dict[str, CatalogEntry] = {}
    for entry in index.models:
        for name in (entry.id, *entry.aliases):
            by_id.setdefault(name.lower(), entry)
    return _Loaded(index, by_id)


def entries() -> tuple[CatalogEntry, ...]:
    return _index().catalog.models


def find(model: str) -> CatalogEntry | None:
    """The entry whose id (or alias) equals ``model`` ignoring case; or whose name alone does,
    when exactly one entry has that name. None when nothing matches."""
    wanted = model.strip().lower()
    found = _index().by_id.get(wanted)
    if found is not None:
        return found
    if "/" in wanted:
        return None
    by_name = [e for e in entries() if wanted in {n.rsplit("/", 1)[-1].lower() for n in _names(e)}]
    return by_name[0] if len(by_name) == 1 else None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        old = merged.get(key)
        merged[key] = (
            _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return merged


def load_config(entry: CatalogEntry) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(_data_file(entry.file))
    return _merge(config, entry.overrides) if entry.overrides else config


def lookup(model: str) -> tuple[dict[str, Any], str] | None:
    """(config dict, provenance line) for a catalog model, or None if it is not in the catalog."""
    entry = find(model)
    if entry is None:
        return None
    return load_config(entry), entry.provenance


def closest(model: str, limit: int = 3) -> list[str]:
    """Catalog ids nearest to ``model`` (by full id or by name alone), best first."""
    import difflib  # only a typo needs it: kept off every start

    wanted = model.strip().lower()
    keys: dict[str, str] = {}
    for entry in entries():
        for name in _names(entry):
            keys.setdefault(name.lower(), entry.id)
            keys.setdefault(name.rsplit("/", 1)[-1].lower(), entry.id)
    found: list[str] = []
    for key in difflib.get_close_matches(wanted, keys, n=limit * 3, cutoff=0.6):
        if keys[key] not in found:
            found.append(keys[key])
    return found[:limit]


def _names(entry: CatalogEntry) -> tuple[str, ...]:
    return (entry.id, *entry.aliases)
