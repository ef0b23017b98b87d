"""--disable-custom-all-reduce: the buffers vLLM's custom all-reduce allocates on each GPU of the
TP group (distributed/device_communicators/custom_all_reduce.py CustomAllreduce.__init__) and the
term of vLLM's arithmetic that holds them, by release (checker/data/vllm_custom_all_reduce.yaml)."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.memory.memory import MemoryPlan
from checker.planning.planner import plan_settings
from tests.planning.plans import catalog_model, fired, make_request, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
MIB = float(1 << 20)
# one KV block of Llama-3.1-8B at TP 2: 16 tokens x 32 layers x K and V x 4 KV heads x 128 x 2 B
TP2_BLOCK = 16 * 32 * 2 * 4 * 128 * 2  # 1 MiB


def _memory(version: str, **kw: Any) -> MemoryPlan:
    kw.setdefault("gpus", 2)
    kw.setdefault("tp", 2)
    request = make_request(LLAMA, version=version, max_model_len=16384, **kw)
    model = catalog_model(LLAMA)
    return plan_settings(request, model, find_gpu("H100-80GB"), tp=kw["tp"])[1]


def test_before_0_11_the_buffers_are_non_torch_memory_the_kv_cache_gets_back() -> None:
    """0.7.3: the memory baseline is taken before NCCL and custom all-reduce start, and
    MemorySnapshot counts the two IPC buffers (8 MiB metadata + 8 MiB input, cudaMalloc) as
    non-torch memory: disabled, the budget gains 16 MiB, 16 blocks of 1 MiB at TP 2."""
    on = _memory("0.7.3")
    off = _memory("0.7.3", disable_custom_all_reduce=True)
    assert on.binding.non_torch - off.binding.non_torch == pytest.approx(16 * MIB)
    assert off.binding.kv_budget - on.binding.kv_budget == pytest.approx(16 * MIB)
    assert off.binding.kv.num_blocks - on.binding.kv.num_blocks == 16 * MIB // TP2_BLOCK
    # 0.6.6 also counts rank_data (8 MiB of torch memory allocated before the profile)
    assert _memory("0.6.6").binding.non_torch - _memory(
        "0.6.6", disable_custom_all_reduce=True
    ).binding.non_torch == pytest.approx(24 * MIB)


@pytest.mark.parametrize(("version", "mib"), [("0.19.0", 24), ("0.33.0", 32)])
def test_from_0_11_the_buffers_sit_outside_the_budget(version: str, mib: int) -> None:
    """From 0.11 the snapshot is taken after NCCL init: the buffers (0.33: 8 MiB metadata, a
    16 MiB input buffer sized for reduce-scatter, 8 MiB rank_data; 0.19: 8 + 8 + 8) are in the
    baseline. Disabled, the KV cache is the same and the CUDA context smaller by them."""
    on, off = _memory(version), _memory(version, disable_custom_all_reduce=True)
    assert off.binding.kv.num_blocks == on.binding.kv.num_blocks
    assert on.cuda_context - off.cuda_context == pytest.approx(mib * MIB)


@pytest.mark.parametrize(
    "kw",
    [
        {"gpus": 1, "tp": 1},  # no TP group
        {"gpus": 3, "tp": 3},  # world size 3: "unsupported world size"
        {"gpus": 4, "tp": 4, "interconnect": "pcie"},  # more than two PCIe-only GPUs
    ],
)
def test_nothing_changes_where_custom_all_reduce_would_not_run(kw: dict[str, Any]) -> None:
    on = _memory("0.7.3", **kw)
    off = _memory("0.7.3", disable_custom_all_reduce=True, **kw)
    assert (off.binding.kv_budget, off.cuda_context) == (on.binding.kv_budget, on.cuda_context)


def test_explain_says_where_the_buffers_were() -> None:
    resp = plan(LLAMA, version="0.7.3", gpus=2, tp=2, disable_custom_all_reduce=True, explain=True)
    words = resp.config.explanations["--disable-custom-all-reduce"]
    assert "16 MiB of non-torch memory back to the KV cache" in words
    assert not fired(resp, "VW190")
    assert resp.feasibility.memory.non_torch_gib == pytest.approx(0.25 - 16 / 1024, abs=0.005)
