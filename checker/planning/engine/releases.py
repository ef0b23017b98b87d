"""Facts that change between vLLM releases at a finer grain than the version table: the wording
of start-up errors, a few start-up behaviours, and what each quantization method requires.

Read from ``checker/data/vllm_messages.yaml``, ``checker/data/quantization_methods.yaml`` and
``checker/data/vllm_builds.yaml`` (the kernel packages of the official image and of the wheel);
each fact is keyed by the first release that has it, and a pinned version takes the newest key
at or below it (patch releases count: 0.9.1 differs from 0.9.0).
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from checker.schemas.section import Section
from checker.schemas.yaml_source import bundled_data

T = TypeVar("T")


class MethodFacts(Section):
    """One quantization method as a given vLLM release sees it."""

    name: str
    checkpoints: tuple[str, ...]
    online: bool = False
    config_files: bool = False
    upgrades_to: str | None = None
    vendors: tuple[str, ...] = ()
    min_capability: int
    act_dtypes: tuple[str, ...]


@functools.cache
def release(version: str) -> tuple[int, int, int]:
    """ "0.9" -> (0, 9, 0); "0.10.1.1" -> (0, 10, 1)."""
    parts = [int(p) for p in version.split(".")[:3]] + [0, 0]
    return parts[0], parts[1], parts[2]


def pick(table: dict[str, T], version: str) -> T | None:
    """The value under the newest key at or below ``version``; None before the first key."""
    wanted = release(version)
    keys = [k for k in table if release(k) <= wanted]
    return table[max(keys, key=release)] if keys else None


def message(message_id: str, version: str, **fields: Any) -> str:
    """vLLM's wording of ``message_id`` in ``version``, filled in; the oldest known wording
    when the version predates every variant."""
    return _wording(message_id, version).format(**fields)


@functools.cache  # pure, of two strings: the rules and the log lines of every plan ask
def _wording(message_id: str, version: str) -> str:
    """``message``'s text before it is filled in."""
    variants = bundled_data("vllm_messages.yaml")["messages"][message_id]
    table = {str(v["since"]): str(v["text"]) for v in variants}
    return pick(table, version) or str(variants[0]["text"])


def mxfp4_padding() -> dict[str, int]:
    """The multiples vLLM pads MXFP4 expert weights to (quantization_methods.yaml)."""
    table = bundled_data("quantization_methods.yaml")["mxfp4_padding"]
    return {k: v for k, v in table.items() if isinstance(v, int)}


@functools.cache  # pure, of a few strings: asked by every plan
def build_has(package: str, version: str, install: str) -> bool:
    """Whether the ``install`` build of ``version`` ("image": the official vllm/vllm-openai
    image; "pip": the PyPI wheel) holds the kernel package ``package`` (vllm_builds.yaml)."""
    rows = bundled_data("vllm_builds.yaml")["releases"]
    row = pick(rows, version) or rows[min(rows, key=release)]
    return bool(row[install][package])


def build_label(install: str) -> str:
    """What the ``install`` build is, in words (vllm_builds.yaml builds)."""
    return str(bundled_data("vllm_builds.yaml")["builds"][install])


@functools.cache
def mxfp4_uses_marlin(capability: int, version: str, install: str) -> bool:
    """Whether ``version`` runs MXFP4 experts on the Marlin kernel on a GPU of ``capability``:
    below 9.0 always, on Hopper (9.x) where the build lacks ``triton_kernels``
    (quantization_methods.yaml mxfp4_padding)."""
    table = bundled_data("quantization_methods.yaml")["mxfp4_padding"]
    if capability < int(table["marlin_below_capability"]):
        return True
    return capability // 10 == 9 and not build_has("triton_kernels", version, install)


@functools.cache  # pure; every plan asks about twenty times
def behaviour_since(name: str) -> str:
    """The first release read that has the start-up behaviour ``name``."""
    return str(bundled_data("vllm_messages.yaml")["behaviour"][name])


@functools.cache  # pure; asked a hundred times a plan
def has_behaviour(name: str, version: str) -> bool:
    """Whether ``version`` has the start-up behaviour ``name`` (vllm_messages.yaml behaviour)."""
    return release(version) >= release(behaviour_since(name))


@functools.cache
def float16_refused_models(version: str) -> tuple[str, ...]:
    table = bundled_data("vllm_messages.yaml")["behaviour"]["float16_refused_models"]
    return tuple(pick(table, version) or ())


@functools.cache
def speculative_conv_rows(version: str) -> tuple[str, ...]:
    """The state calculators whose conv state grows by a row per speculative token."""
    table = bundled_data("vllm_messages.yaml")["behaviour"]["speculative_conv_rows"]
    return tuple(pick(table, version) or ())


@functools.cache
def rope_unscaled_types(version: str) -> tuple[str, ...]:
    table = bundled_data("vllm_messages.yaml")["behaviour"]["rope_unscaled_types"]
    return tuple(pick(table, version) or ())


@functools.cache  # the facts are frozen: one object per (method, version)
def method_facts(method: str, version: str) -> MethodFacts | None:
    """Requirements of ``method`` in ``version``; None when we hold no facts for it there."""
    entry = bundled_data("quantization_methods.yaml")["methods"].get(method)
    if entry is None:
        return None
    per_version = pick(entry["by_version"], version)
    if per_version is None:
        return None
    fields = {k: v for k, v in entry.items() if k != "by_version"}
    return MethodFacts(name=method, **fields, **per_version)
