"""Exact tensor bytes of a checkpoint, read from safetensors headers only (never the weights).

A safetensors file starts with an 8-byte little-endian header length, then a JSON header that
maps each tensor to its dtype, shape and ``data_offsets`` [begin, end) in the data section. The
bytes a tensor occupies are ``end - begin`` (element count x dtype size, sub-byte dtypes packed),
so the sum over the header is the exact size vLLM loads, whatever the dtype.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from checker.errors import ModelConfigError, reason

MAX_HEADER_BYTES = 25_000_000  # the limit huggingface_hub applies to safetensors headers
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_SHARDS = 4096


class SafetensorsHeaderError(ValueError):
    """A header that is not what the safetensors format says."""


def header_length(first8: bytes) -> int:
    if len(first8) < 8:
        raise SafetensorsHeaderError("file is shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", first8[:8])
    if length > MAX_HEADER_BYTES:
        raise SafetensorsHeaderError(f"header length {length} exceeds {MAX_HEADER_BYTES} bytes")
    return int(length)


def header_tensor_bytes(header: bytes) -> int:
    """Sum of the data spans of every tensor the JSON header lists."""
    try:
        table: Any = json.loads(header)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SafetensorsHeaderError(f"header is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(table, dict):
        raise SafetensorsHeaderError("header is not a JSON object")
    total = 0
    for name, info in table.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise SafetensorsHeaderError(f"tensor {name!r} has no valid data_offsets")
        total += offsets[1] - offsets[0]
    return total


def shard_names(index: Any) -> list[str]:
    """Shard file names of a ``model.safetensors.index.json``, refusing anything but plain names."""
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise SafetensorsHeaderError("index has no weight_map object")
    names = sorted({str(v) for v in weight_map.values()})
    if len(names) > MAX_SHARDS:
        raise SafetensorsHeaderError(f"index lists {len(names)} shards (limit {MAX_SHARDS})")
    for name in names:
        if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".safetensors"):
            raise SafetensorsHeaderError(f"index names an unexpected shard file {name!r}")
    return names


def local_file_bytes(path: Path) -> int:
    with path.open("rb") as handle:
        length = header_length(handle.read(8))
        header = handle.read(length)
    if len(header) < length:
        raise SafetensorsHeaderError("header is truncated")
    return header_tensor_bytes(header)


def local_dir_bytes(directory: Path) -> int | None:
    """Tensor bytes of the safetensors checkpoint in ``directory``; None when it holds none.

    Like vLLM, the index (when present) decides which files belong to the checkpoint.
    """
    index_path = directory / INDEX_FILE
    try:
        if index_path.is_file():
            names = shard_names(json.loads(index_path.read_text(encoding="utf-8")))
            files = [directory / n for n in names]
        else:
            files = sorted(directory.glob("*.safetensors"))
        if not files:
            return None
        return sum(local_file_bytes(f) for f in files)
    except (OSError, ValueError, RecursionError) as exc:
        # ValueError covers SafetensorsHeaderError and a malformed index.
        raise ModelConfigError(
            f"cannot read safetensors headers: {reason(exc)}",
            location=str(directory),
            hint="fix the .safetensors files, or point --model-config at the config.json file",
        ) from None
