"""Exact tensor bytes from safetensors headers, for local checkpoints."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from checker.errors import ModelConfigError
from checker.models.safetensors_bytes import (
    SafetensorsHeaderError,
    header_length,
    header_tensor_bytes,
    local_dir_bytes,
)
from tests.models.fake_hub import safetensors_file, tensor_bytes

TENSORS = {"w": ("BF16", [3, 5]), "s": ("F32", [5]), "q": ("F8_E4M3", [7, 9]), "b": ("U8", [1])}


def test_single_file_sum_is_element_count_times_dtype_size(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(safetensors_file(TENSORS))
    assert local_dir_bytes(tmp_path) == tensor_bytes(TENSORS) == 3 * 5 * 2 + 5 * 4 + 63 + 1


def test_the_index_decides_which_files_count(tmp_path: Path) -> None:
    a, b = {"x": ("BF16", [10])}, {"y": ("F32", [10])}
    (tmp_path / "model-1.safetensors").write_bytes(safetensors_file(a))
    (tmp_path / "model-2.safetensors").write_bytes(safetensors_file(b))
    (tmp_path / "consolidated.safetensors").write_bytes(safetensors_file(a))  # not listed
    index = {"weight_map": {"x": "model-1.safetensors", "y": "model-2.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert local_dir_bytes(tmp_path) == 20 + 40


def test_a_directory_without_safetensors_has_no_exact_bytes(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0" * 8)
    assert local_dir_bytes(tmp_path) is None


@pytest.mark.parametrize(
    ("blob", "words"),
    [
        (b"\x01\x00", "shorter than"),
        (struct.pack("<Q", 10**9), "exceeds"),
        (struct.pack("<Q", 100) + b"{}", "truncated"),
        (struct.pack("<Q", 4) + b"[1] ", "not a JSON object"),
        (struct.pack("<Q", 4) + b"{1: ", "not JSON"),
    ],
    ids=["short", "huge-header", "truncated", "list", "garbage"],
)
def test_broken_files_are_reported_with_the_directory(
    tmp_path: Path, blob: bytes, words: str
) -> None:
    (tmp_path / "model.safetensors").write_bytes(blob)
    with pytest.raises(ModelConfigError, match=words) as caught:
        local_dir_bytes(tmp_path)
    assert caught.value.location == str(tmp_path)


def test_header_checks() -> None:
    assert header_length(struct.pack("<Q", 42)) == 42
    with pytest.raises(SafetensorsHeaderError, match="data_offsets"):
        header_tensor_bytes(json.dumps({"w": {"dtype": "F32", "data_offsets": [8, 4]}}).encode())
    assert header_tensor_bytes(b'{"__metadata__": {"format": "pt"}}') == 0
