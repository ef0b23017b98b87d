"""--kv-cache-dtype-skip-layers (0.19+): the layers it names keep their KV in the model dtype
(model_executor/layers/attention/attention.py Attention.__init__: kv_cache_dtype "auto"), in one
KV cache group with the quantized layers (v1/kv_cache_interface.py UniformTypeKVCacheSpecs: a
block spans every layer's page); 0.33.0 raises the block size so the quantized page covers a
skipped one (platforms/interface.py Platform._align_heterogeneous_kv_block_size)."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.memory.memory import MemoryPlan
from checker.planning.planner import plan_settings
from checker.schemas.model_info import LayerKind
from tests.planning.plans import catalog_model, fired, make_request, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
# Llama-3.1-8B per token and layer: K and V x 8 KV heads x 128: 2,048 bytes in fp8, 4,096 in bf16
FP8, BF16 = 2 * 8 * 128, 2 * 8 * 128 * 2


def _memory(version: str, model_id: str = LLAMA, **kw: Any) -> MemoryPlan:
    request = make_request(model_id, version=version, max_model_len=16384, **kw)
    return plan_settings(request, catalog_model(model_id), find_gpu("H100-80GB"), tp=1)[1]


def test_0_33_keeps_two_layers_in_bf16_and_doubles_the_block() -> None:
    """The primary fp8 page is 2,048 bytes a token, a skipped layer's 4,096: with the kernel's
    smallest block 16 the block grows to 16 x ceil(4,096 x 16 / (16 x 2,048)) = 32 tokens. One
    block then holds 30 fp8 and 2 bf16 layers: 32 x (30 x 2,048 + 2 x 4,096) = 2,228,224
    bytes; the budget is the same as without the flag."""
    plain = _memory("0.33.0", kv_cache_dtype="fp8")
    skip = _memory("0.33.0", kv_cache_dtype="fp8", kv_cache_dtype_skip_layers=["0", "31"])
    s, b = skip.settings, skip.binding
    assert s.kv_skip_layers == frozenset({0, 31}) and s.block_size == 32
    assert b.kv.layout.bytes_per_token == 30 * FP8 + 2 * BF16
    assert b.kv.layout.group_block_bytes == 32 * (30 * FP8 + 2 * BF16) == 2_228_224
    assert b.kv_budget == plain.binding.kv_budget
    assert b.kv.num_blocks == int(b.kv_budget // 2_228_224)


def test_0_19_keeps_the_block_size() -> None:
    """0.19.0 has the flag but not the block alignment: 16-token blocks of both pages."""
    skip = _memory("0.19.0", kv_cache_dtype="fp8", kv_cache_dtype_skip_layers=["0", "31"])
    b = skip.binding
    assert skip.settings.block_size == 16
    assert b.kv.num_blocks == int(b.kv_budget // (16 * (30 * FP8 + 2 * BF16)))


@pytest.mark.parametrize(
    ("kw", "block"),
    [
        ({"kv_cache_dtype": "fp8", "block_size": 64}, 64),  # already covers a skipped page
        ({}, 16),  # no quantized KV: every page alike, nothing to align
    ],
)
def test_no_raise_where_the_pages_already_fit(kw: dict[str, Any], block: int) -> None:
    skip = _memory("0.33.0", kv_cache_dtype_skip_layers=["0"], **kw)
    assert skip.settings.block_size == block


def test_sliding_window_names_every_sliding_layer() -> None:
    gemma = "google/gemma-2-9b-it"
    model = catalog_model(gemma)
    sliding = {i for i in model.kv_layers if model.layer_kinds[i] is LayerKind.SLIDING}
    skip = _memory(
        "0.19.0", gemma, kv_cache_dtype="fp8", kv_cache_dtype_skip_layers=["sliding_window"]
    )
    assert sliding and skip.settings.kv_skip_layers == frozenset(sliding)


def test_the_flag_is_modeled_and_explained() -> None:
    resp = plan(
        LLAMA,
        version="0.33.0",
        max_model_len=16384,
        kv_cache_dtype="fp8",
        kv_cache_dtype_skip_layers=[0, 31],
        explain=True,
    )
    words = resp.config.explanations["--kv-cache-dtype-skip-layers"]
    assert "65,536 -> 69,632 bytes per token" in words and "block size 16 -> 32" in words
    assert not fired(resp, "VW190")


def test_an_mla_models_layers_are_skipped_from_0_33_only() -> None:
    """MLAAttention.__init__ reads --kv-cache-dtype-skip-layers from 0.33.0; in 0.19.0 every
    MLA layer takes the fp8 cache whatever the flag lists (the plan kept layer 0 in bf16)."""
    lite = "deepseek-ai/DeepSeek-V2-Lite-Chat"
    for version, skipped in (("0.19.0", frozenset()), ("0.33.0", frozenset({0}))):
        plain = _memory(version, lite, kv_cache_dtype="fp8")
        skip = _memory(version, lite, kv_cache_dtype="fp8", kv_cache_dtype_skip_layers=["0"])
        assert skip.settings.kv_skip_layers == skipped
        grows = skip.binding.kv.layout.bytes_per_token > plain.binding.kv.layout.bytes_per_token
        assert grows is bool(skipped)


def test_0_33_raises_an_mla_models_block_by_its_backends_smallest_kernel_block() -> None:
    """_align_heterogeneous_kv_block_size runs for MLA too: FlashMLA's smallest kernel block is
    64 and the bf16 latent page twice the fp8 one, so the block becomes
    64 x ceil(2 x 576 x 64 / (64 x 576)) = 128 tokens (it stayed 64)."""
    lite = "deepseek-ai/DeepSeek-V2-Lite-Chat"
    plain = _memory("0.33.0", lite, kv_cache_dtype="fp8")
    skip = _memory("0.33.0", lite, kv_cache_dtype="fp8", kv_cache_dtype_skip_layers=["0"])
    assert plain.settings.mla_backend == "FLASHMLA" and plain.settings.block_size == 64
    assert skip.settings.block_size == 128 and skip.settings.block_before_skip == 64
