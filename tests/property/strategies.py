"""Hypothesis strategies for profiles: mostly plausible, sometimes hostile.

A profile is drawn as plain data in the seed's layout, then optionally damaged (an unknown key, a
value of the wrong type or out of range, a missing section) and written as YAML text, because
users write text, not dicts. GPU names come from a fixed list of catalog spellings plus a few
that no catalog has, so both paths are exercised.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import yaml
from hypothesis import strategies as st

from checker.models import catalog
from checker.schemas.enums import BatchingMode, DType, Interconnect, KVCacheDType, Quantization

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
MODEL_IDS = tuple(e.id for e in catalog.entries())
GPU_NAMES = ("H100-SXM-80GB", "A100-80GB", "L4", "RTX 4090", "T4", "H200", "NoSuchGPU-1GB")
VERSIONS = ("0.4", "0.6.3", "0.7", "0.8.5", "0.10", "0.19.0", "0.21", "0.24", "9.9", "0.0")

# Values that are wrong for nearly every key: other types, non-finite, out of range.
HOSTILE_VALUES: tuple[Any, ...] = (
    None,
    "",
    "abc",
    "$(id)",
    "int8",
    "fp4",
    -1,
    0,
    2**63,
    10**40,
    -0.5,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    True,
    [],
    [1, 2],
    {},
    {"a": 1},
)

# Accepted spellings: vLLM's values and the seed's aliases, in any case and spacing.
_ENUM_SPELLINGS = {
    "dtype": [d.value for d in DType] + ["fp16", "bf16", "half", "FP16 "],
    "quantization": [q.value for q in Quantization] + ["", "AWQ"],
    "kv_cache_dtype": [k.value for k in KVCacheDType] + ["fp8_e4m3fn", " FP8"],
}


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def _section(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping where every key is optional, so defaults are exercised too."""
    return st.fixed_dictionaries({}, optional=fields)


def model_sections() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": st.sampled_from(MODEL_IDS)},
        optional={
            "dtype": st.sampled_from(_ENUM_SPELLINGS["dtype"]),
            "quantization": st.sampled_from(_ENUM_SPELLINGS["quantization"]),
            "kv_cache_dtype": st.sampled_from(_ENUM_SPELLINGS["kv_cache_dtype"]),
            "max_model_len": _maybe(
                st.one_of(st.sampled_from([1, 16, 2048, 8192, 131072]), st.integers(1, 1 << 24))
            ),
            "params_b": _maybe(st.floats(0.1, 2000)),
            "revision": _maybe(st.sampled_from(["main", "v1.0", "0123abc"])),
            "trust_remote_code": st.booleans(),
        },
    )


def hardware_sections() -> st.SearchStrategy[dict[str, Any]]:
    target = st.builds(
        lambda name, count: f"{name}:{count}" if count else name,
        st.sampled_from(GPU_NAMES),
        st.sampled_from([0, 1, 2, 4, 8, 4096, 9999]),
    )
    return st.fixed_dictionaries(
        {"gpu_name": st.sampled_from(GPU_NAMES)},
        optional={
            "gpus": st.sampled_from([1, 2, 3, 4, 8, 16]),
            "vram_gb": _maybe(st.floats(1, 200)),
            "interconnect": st.sampled_from([i.value for i in Interconnect]),
            "tp_size": _maybe(st.sampled_from([1, 2, 3, 4, 8, 16])),
            "pp_size": st.sampled_from([1, 1, 2, 3]),
            "targets": st.lists(target, max_size=3),
        },
    )


def policy_sections() -> st.SearchStrategy[dict[str, Any]]:
    return _section(
        gpu_memory_utilization=_maybe(st.floats(0.01, 1.0)),
        overhead_gb=_maybe(st.floats(0, 100)),
        fragmentation_factor=st.floats(1.0, 2.0),
        headroom_gb=st.floats(0, 100),
        instances_per_gpu=st.integers(1, 4),
    )


def profile_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """A profile as data; every draw is meant to be valid apart from what the engine decides."""
    return st.fixed_dictionaries(
        {"model": model_sections(), "hardware": hardware_sections()},
        optional={
            "profile_version": st.just(1),
            "workload": _section(
                prompt_tokens=st.integers(1, 1 << 20),
                gen_tokens=st.integers(1, 1 << 16),
                concurrency=st.integers(1, 4096),
                streaming=st.booleans(),
                mode=st.sampled_from([m.value for m in BatchingMode]),
            ),
            "policy": policy_sections(),
            "vllm": _section(
                version=st.sampled_from(VERSIONS),
                max_num_seqs=_maybe(st.integers(1, 4096)),
                max_num_batched_tokens=_maybe(st.integers(1, 1 << 20)),
                block_size=_maybe(st.sampled_from([1, 8, 16, 32, 64, 128, 256, 7])),
                enforce_eager=st.booleans(),
                enable_prefix_caching=_maybe(st.booleans()),
                kv_cache_memory_bytes=_maybe(st.integers(0, 1 << 40)),
            ),
        },
    )


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of nested dicts (leaves and sections)."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*prefix, key))
            found.extend(_paths(value, (*prefix, key)))
    return found


_PROFILE_DICTS = profile_dicts()
_HOSTILE = st.sampled_from(HOSTILE_VALUES)
_KEY_NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
_DAMAGE_COUNT = st.sampled_from([0, 0, 0, 1, 2, 3])
_DAMAGE = st.sampled_from(["wrong_value", "unknown_key", "drop"])
_TEXT_EDIT = st.sampled_from(["none"] * 5 + ["truncate", "duplicate", "garbage"])
_JUNK = st.sampled_from(["\t", ": :", "&a", "*a", "!!python/name:os.system", "{", "\0"])


def _hostile(draw: st.DrawFn) -> Any:
    # a copy: later damage may add keys to it, and the shared table must stay as it is
    return copy.deepcopy(draw(_HOSTILE))


@st.composite
def damaged_profile_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A profile with zero to three kinds of damage applied."""
    data: dict[str, Any] = draw(_PROFILE_DICTS)
    for _ in range(draw(_DAMAGE_COUNT)):
        paths = _paths(data)
        if not paths:
            break
        path = paths[draw(st.integers(0, len(paths) - 1))]
        owner = data
        for key in path[:-1]:
            owner = owner[key]
        damage = draw(_DAMAGE)
        if damage == "wrong_value":
            owner[path[-1]] = _hostile(draw)
        elif damage == "unknown_key":
            target = owner[path[-1]] if isinstance(owner[path[-1]], dict) else owner
            name = draw(_KEY_NAMES)
            target[name] = _hostile(draw)
        else:
            del owner[path[-1]]
    return data


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)


@st.composite
def profile_texts(draw: st.DrawFn) -> str:
    """YAML text of a (possibly damaged) profile, sometimes also damaged as text."""
    text = to_yaml(draw(damaged_profile_dicts()))
    edit = draw(_TEXT_EDIT)
    if edit == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif edit == "duplicate":
        lines = text.splitlines(keepends=True)
        index = draw(st.integers(0, len(lines) - 1))
        text = "".join(lines[: index + 1] + [lines[index]] + lines[index + 1 :])
    elif edit == "garbage":
        at = draw(st.integers(0, len(text)))
        junk = draw(_JUNK)
        text = text[:at] + junk + text[at:]
    return text
