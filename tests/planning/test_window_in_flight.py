"""vLLM 0.33.0 sizes a sliding-window layer's blocks per request for its window plus every
batch in flight (v1/kv_cache_interface.py SlidingWindowSpec.max_admission_blocks_per_request,
VllmConfig.max_in_flight_tokens = max_concurrent_batches x max_num_batched_tokens): with async
scheduling on Model Runner V2, pipeline stages + 1 batches; the Ray executor has no async
scheduling, so pipeline stages only. 0.24.0 counts one batch. MTP with several modules keeps
num_speculative_tokens - 1 more tokens below each window (extra_retained_tokens)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from checker.planning.kv import size_kv
from checker.planning.memory import MemoryPlan
from checker.schemas.model_info import LayerKind
from tests.planning.plans import catalog_model
from tests.planning.test_speculative import _memory

GEMMA = "google/gemma-3-27b-it"
LENGTH = 32768


def _plan(**kw: Any) -> MemoryPlan:
    return _memory(GEMMA, max_model_len=LENGTH, **kw)


def _mtp(nextn: int, tokens: int, version: str) -> int:
    glm = catalog_model("zai-org/GLM-4.5", num_nextn_predict_layers=nextn)
    spec = {"method": "mtp", "num_speculative_tokens": tokens}
    kw: dict[str, Any] = {"gpu": "H200", "gpus": 8, "tp": 8, "max_model_len": 8192}
    memory = _memory("zai-org/GLM-4.5", draft=glm, speculative_config=spec, version=version, **kw)
    return memory.settings.window_retained_tokens


def test_multi_module_mtp_keeps_its_lookahead_below_each_window() -> None:
    """SpeculativeConfig.use_multi_module_mtp: more than one MTP module and more than one
    token; num_prefill_lookahead_tokens is then the token count, and a window keeps it - 1."""
    assert _mtp(2, 4, "0.33.0") == 3
    assert _mtp(1, 4, "0.33.0") == _mtp(2, 1, "0.33.0") == _mtp(2, 4, "0.24.0") == 0
    # retained tokens widen what a Gemma-3 sliding group holds per request
    memory = _plan(version="0.33.0")
    s, kv = memory.settings, memory.binding.kv
    budget = kv.num_blocks * kv.layout.group_block_bytes
    model = catalog_model(GEMMA)
    wider = replace(s, window_retained_tokens=s.max_num_batched_tokens)
    assert size_kv(model, wider, budget, 0).max_concurrency < kv.max_concurrency


@pytest.mark.parametrize(
    ("kw", "batches"),
    [
        ({"version": "0.33.0"}, 2),
        ({"version": "0.33.0", "distributed_executor_backend": "ray"}, 1),
        ({"version": "0.33.0", "gpus": 2, "pp": 2}, 3),
        ({"version": "0.24.0"}, 1),
    ],
)
def test_a_sliding_window_group_keeps_every_batch_in_flight(
    kw: dict[str, Any], batches: int
) -> None:
    memory = _plan(**kw)
    s, kv = memory.settings, memory.binding.kv
    assert s.in_flight_batches == batches
    window = catalog_model(GEMMA).sliding_window or 0
    sliding = -(-(window - 1 + batches * s.max_num_batched_tokens) // s.block_size) + 1
    full = -(-LENGTH // s.block_size)
    kinds = kv.layout.kinds
    needed = kinds.count(LayerKind.SLIDING) * sliding + kinds.count(LayerKind.FULL) * full
    assert kv.max_concurrency == pytest.approx(kv.num_blocks / needed)
