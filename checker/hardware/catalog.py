"""The GPU catalog (``checker/data/gpus.yaml``, provenance in GPUS.md) and name lookup.

A name matches only EXACTLY, after normalisation, a SKU's canonical name or one of its listed
aliases: never a substring or prefix, so "A100-80GB" cannot land on a 40 GB card and "A10" is
not "A100". Normalisation ignores case, a leading "NVIDIA"/"AMD", spaces, '-' and '_', and
spells sizes one way ("80G", "80 GB", "80GiB" are "80gb"), so nvidia-smi product names
("NVIDIA H100 80GB HBM3") and Kubernetes node labels ("NVIDIA-H100-80GB-HBM3") resolve too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from checker.errors import GPUNotFoundError
from checker.schemas.gpu import GPUSpec
from checker.schemas.yaml_source import bundled_data

_VENDOR_PREFIX = re.compile(r"^(?:nvidia|amd)(?:[\s_-]+|$)")
# A size ends at any non-alphanumeric: "144G_HBM3e" is as much "144gb" as "144G HBM3e".
_SIZE = re.compile(r"(\d+)\s*(?:gib|gb|g)(?![a-z0-9])")
_SEPARATORS = re.compile(r"[\s_-]+")
T = TypeVar("T")
_HINT = "list the catalog with 'vllm-wizard gpus', or describe the GPU under hardware.custom_gpus"


class _Catalog:
    """gpus.yaml as read: every name and alias indexes its SKU's entry, validated into a GPUSpec
    when first looked up (a check looks up a few SKUs of some sixty)."""

    def __init__(self, data: dict[str, Any]) -> None:
        unknown = sorted(set(data) - {"gpus", "ambiguous"})
        if unknown:
            raise ValueError(f"gpus.yaml: unknown top-level keys {unknown}")
        self.entries: list[dict[str, Any]] = list(data["gpus"])
        self._specs: list[GPUSpec | None] = [None] * len(self.entries)
        self.index = _indexed(
            (e["name"], (e["name"], *e.get("aliases", ())), i) for i, e in enumerate(self.entries)
        )
        names = {e["name"] for e in self.entries}
        self.ambiguous: dict[str, tuple[str, ...]] = {}
        for family, choices in (data.get("ambiguous") or {}).items():
            key = normalise(family)
            if key in self.index or not set(choices) <= names:
                raise ValueError(f"gpus.yaml: ambiguous name {family!r} is a SKU or lists unknowns")
            self.ambiguous[key] = tuple(choices)

    def spec(self, position: int) -> GPUSpec:
        """The entry at ``position``, validated once."""
        spec = self._specs[position]
        if spec is None:
            spec = self._specs[position] = GPUSpec.model_validate(self.entries[position])
        return spec

    def specs(self) -> list[GPUSpec]:
        return [self.spec(i) for i in range(len(self.entries))]


@functools.lru_cache(maxsize=1024)  # pure; the gate looks a target's GPU up for every pair
def normalise(name: str) -> str:
    """The lookup key of a GPU name: "NVIDIA A100-SXM4-80GB" -> "a100sxm480gb"."""
    text = _VENDOR_PREFIX.sub("", name.strip().lower())
    return _SEPARATORS.sub("", _SIZE.sub(r"\1gb", text))


def keys_of(spec: GPUSpec) -> set[str]:
    """Every normalised name a spec answers to."""
    return {normalise(n) for n in (spec.name, *spec.aliases)}


def build_index(specs: Iterable[GPUSpec]) -> dict[str, GPUSpec]:
    """Key -> spec; a key claimed by two different SKUs is a catalog bug."""
    return _indexed((spec.name, (spec.name, *spec.aliases), spec) for spec in specs)


def _indexed(skus: Iterable[tuple[str, Iterable[str], T]]) -> dict[str, T]:
    """Each (SKU name, its names, value): every normalised name -> value; a key claimed by two
    different SKUs is a catalog bug."""
    index: dict[str, T] = {}
    owners: dict[str, str] = {}
    for sku, names, value in skus:
        for key in {normalise(n) for n in names}:
            owner = owners.setdefault(key, sku)
            if owner != sku:
                raise ValueError(f"GPU name key {key!r} is claimed by {owner} and {sku}")
            index.setdefault(key, value)
    return index


@functools.cache
def _catalog() -> _Catalog:
    return _Catalog(bundled_data("gpus.yaml"))


def all_gpus() -> list[GPUSpec]:
    """The catalog in file order (loaded once, on first use)."""
    return _catalog().specs()


def find_gpu(name: str, custom: Sequence[GPUSpec] = ()) -> GPUSpec:
    """The SKU ``name`` names exactly. ``custom`` specs (a profile's or repo's) are tried first and
    may shadow a catalog entry. Raises GPUNotFoundError with the closest SKUs otherwise."""
    shown = repr(name.strip()[:80])
    key = normalise(name)
    hits = {spec.name: spec for spec in custom if key in keys_of(spec)}
    if len(hits) == 1:
        return next(iter(hits.values()))
    if hits:
        raise GPUNotFoundError(
            f"GPU name {shown} matches several custom GPUs: {', '.join(sorted(hits))}",
            hint="give each custom GPU a distinct name and aliases",
        )
    catalog = _catalog()
    if key in catalog.index:
        return catalog.spec(catalog.index[key])
    if key in catalog.ambiguous:
        raise GPUNotFoundError(
            f"GPU name {shown} is ambiguous; it can mean {', '.join(catalog.ambiguous[key])}",
            hint="name one of them exactly; 'vllm-wizard gpus' lists the catalog",
        )
    close = _closest(key, [*custom, *all_gpus()])
    did_you_mean = f"; closest: {', '.join(close)}" if close else ""
    raise GPUNotFoundError(f"unknown GPU {shown}{did_you_mean}", hint=_HINT)


def _closest(key: str, specs: Sequence[GPUSpec], limit: int = 5) -> list[str]:
    import difflib  # only a typo needs it: kept off every start

    owner = {k: spec.name for spec in reversed(specs) for k in keys_of(spec)}
    found: list[str] = []
    for match in difflib.get_close_matches(key, list(owner), n=4 * limit, cutoff=0.5):
        if owner[match] not in found:
            found.append(owner[match])
    return found[:limit]
