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

from pydantic import BaseModel, ConfigDict

from checker.errors import GPUNotFoundError
from checker.schemas.gpu import GPUSpec
from checker.schemas.yaml_source import bundled_data

_VENDOR_PREFIX = re.compile(r"^(?:nvidia|amd)(?:[\s_-]+|$)")
# A size ends at any non-alphanumeric: "144G_HBM3e" is as much "144gb" as "144G HBM3e".
_SIZE = re.compile(r"(\d+)\s*(?:gib|gb|g)(?![a-z0-9])")
_SEPARATORS = re.compile(r"[\s_-]+")
_HINT = "list the catalog with 'vllm-wizard gpus', or describe the GPU under hardware.custom_gpus"


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    gpus: tuple[GPUSpec, ...]
    ambiguous: dict[str, tuple[str, ...]] = {}  # family name -> the SKUs it could mean


class _Catalog:
    def __init__(self, data: _CatalogFile) -> None:
        self.gpus = data.gpus
        self.index = build_index(data.gpus)
        names = {g.name for g in data.gpus}
        self.ambiguous: dict[str, tuple[str, ...]] = {}
        for family, choices in data.ambiguous.items():
            key = normalise(family)
            if key in self.index or not set(choices) <= names:
                raise ValueError(f"gpus.yaml: ambiguous name {family!r} is a SKU or lists unknowns")
            self.ambiguous[key] = choices


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
    index: dict[str, GPUSpec] = {}
    for spec in specs:
        for key in keys_of(spec):
            other = index.setdefault(key, spec)
            if other.name != spec.name:
                raise ValueError(f"GPU name key {key!r} is claimed by {other.name} and {spec.name}")
    return index


@functools.cache
def _catalog() -> _Catalog:
    return _Catalog(_CatalogFile.model_validate(bundled_data("gpus.yaml")))


def all_gpus() -> list[GPUSpec]:
    """The catalog in file order (loaded once, on first use)."""
    return list(_catalog().gpus)


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
        return catalog.index[key]
    if key in catalog.ambiguous:
        raise GPUNotFoundError(
            f"GPU name {shown} is ambiguous; it can mean {', '.join(catalog.ambiguous[key])}",
            hint="name one of them exactly; 'vllm-wizard gpus' lists the catalog",
        )
    close = _closest(key, [*custom, *catalog.gpus])
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
