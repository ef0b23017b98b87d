"""vLLM 0.33.0 sizes a sliding-window layer's blocks per request for its window plus every
batch in flight (v1/kv_cache_interface.py SlidingWindowSpec.max_admission_blocks_per_request,
VllmConfig.max_in_flight_tokens = max_concurrent_batches x max_num_batched_tokens): with async
scheduling on Model Runner V2, pipeline stages + 1 batches; without it (--no-async-scheduling,
or the Ray executor, which has none) pipeline stages only. 0.24.0 counts one batch. MTP with
several modules keeps num_speculative_tokens - 1 more tokens below each window
(extra_retained_tokens)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import yaml

from checker.pipeline import plan_request
from checker.planning.kvcache.kv import size_kv
from checker.planning.memory.memory import MemoryPlan
from checker.schemas.model_info import LayerKind
from checker.schemas.outputs import FeasibilityReport
from checker.schemas.profile_io import load_profile_text, profile_to_request
from tests.planning.plans import catalog_model, fired, only, plan
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
        # --no-async-scheduling: max_concurrent_batches is the pipeline stages
        ({"version": "0.33.0", "async_scheduling": False}, 1),
        ({"version": "0.33.0", "gpus": 2, "pp": 2, "async_scheduling": False}, 2),
        ({"version": "0.33.0", "async_scheduling": True}, 2),
        ({"version": "0.24.0", "async_scheduling": True}, 1),
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


def test_no_async_scheduling_from_a_profile_reaches_the_plan() -> None:
    """`--no-async-scheduling` in outputs.vllm_args turns async scheduling off: Gemma-3-27B at
    32k on an H100 (0.33.0) holds one batch of 8,192 tokens beside each window instead of two,
    so the same blocks hold more requests."""
    profile = {
        "model": {"id": GEMMA, "max_model_len": LENGTH},
        "hardware": {"gpu_name": "H100-SXM-80GB"},
        "vllm": {"version": "0.33.0"},
    }

    def planned(data: dict[str, Any]) -> FeasibilityReport:
        loaded = load_profile_text(yaml.safe_dump(data), "p.yaml").profile
        return plan_request(profile_to_request(loaded), offline=True).feasibility

    on = planned(profile)
    off = planned({**profile, "outputs": {"vllm_args": {"no-async-scheduling": True}}})
    assert off.memory.kv_cache_gib == on.memory.kv_cache_gib
    assert off.max_concurrency_at_context > on.max_concurrency_at_context * 1.5


def test_async_scheduling_asked_for_on_ray_fails_as_vllm_does() -> None:
    """VllmConfig.__post_init__ (0.19.0 on): asked for, async scheduling on an executor
    without it is a ValueError; left unset vLLM only turns it off (one batch in flight)."""
    ray = {"version": "0.33.0", "distributed_executor_backend": "ray"}
    found = only(plan(GEMMA, max_model_len=LENGTH, async_scheduling=True, **ray), "VW144")
    assert found.message == "`ray` does not support async scheduling yet."
    assert found.severity.value == "error"
    assert not fired(plan(GEMMA, max_model_len=LENGTH, **ray), "VW144")
    older = {**ray, "version": "0.11.0"}
    assert not fired(plan(GEMMA, max_model_len=LENGTH, async_scheduling=True, **older), "VW144")


def test_explain_says_what_async_scheduling_costs_a_windowed_model() -> None:
    on = plan(GEMMA, max_model_len=LENGTH, version="0.33.0", explain=True)
    words = on.config.explanations["--async-scheduling"]
    assert "2 batch(es) of 8,192 tokens" in words and "with --no-async-scheduling" in words
    off = plan(GEMMA, max_model_len=LENGTH, version="0.33.0", async_scheduling=False, explain=True)
    assert "1 batch(es)" in off.config.explanations["--async-scheduling"]
    older = plan(GEMMA, max_model_len=LENGTH, version="0.24.0", explain=True)
    assert "--async-scheduling" not in older.config.explanations
    llama = plan("meta-llama/Llama-3.1-8B-Instruct", version="0.33.0", explain=True)
    assert "--async-scheduling" not in llama.config.explanations
