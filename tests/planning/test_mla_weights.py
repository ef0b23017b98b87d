"""MLA weights per rank as vLLM holds them: the latent down-projections whole on every rank,
and a quantized kv_b_proj's dequantized W_UK / W_UV beside it."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import resolve_settings
from checker.planning.memory.weights import stage_weight_bytes
from tests.planning.conftest import request
from tests.planning.plans import catalog_model

V3 = "deepseek-ai/DeepSeek-V3"  # 61 MLA layers, hidden 7168, 128 heads, fp8 block-quantized
LAYERS, HIDDEN, HEADS = 61, 7168, 128


def weights(tp: int, version: str = "0.19", **overrides: Any) -> float:
    m = catalog_model(V3, **overrides)
    req = request(V3, tp=tp, version=version)
    return stage_weight_bytes(m, resolve_settings(req, m, find_gpu("H200"), tp=tp), 0)


@pytest.mark.parametrize("tp", [1, 8])
def test_a_wider_q_latent_adds_whole_q_a_proj_rows_on_every_rank(tp: int) -> None:
    # q_a_proj (hidden x q_lora_rank) is a ReplicatedLinear: every rank holds all of it;
    # q_b_proj (q_lora_rank x heads x 192) is column-parallel: it shrinks with TP;
    # q_a_layernorm (q_lora_rank) is whole on every rank too
    bf16 = {"quantization_config": None}
    wider = weights(tp, **bf16, q_lora_rank=1536 + 512) - weights(tp, **bf16)
    replicated = LAYERS * (HIDDEN + 1) * 512 * 2
    sharded = LAYERS * 512 * HEADS * (128 + 64) * 2 / tp
    assert wider == pytest.approx(replicated + sharded, rel=1e-9)


def test_fp8_kv_b_proj_keeps_a_bf16_copy_from_0_8() -> None:
    # W_UK / W_UV: this rank's heads of kv_b_proj, dequantized to bf16 (512 x 16 x 256 at TP 8)
    copy = LAYERS * 512 * (HEADS // 8) * (128 + 128) * 2
    assert weights(8, "0.19") - weights(8, "0.7") == pytest.approx(copy, rel=1e-9)
    assert weights(8, "0.34") - weights(8, "0.7") == pytest.approx(copy, rel=1e-9)


def test_bf16_kv_b_proj_is_only_viewed() -> None:
    bf16 = {"quantization_config": None}
    assert weights(8, "0.19", **bf16) == weights(8, "0.7", **bf16)


V32 = "deepseek-ai/DeepSeek-V3.2"  # V3's shapes plus a sparse indexer: 64 heads of 128


def v32_weights(tp: int, version: str = "0.19", **overrides: Any) -> float:
    m = catalog_model(V32, **overrides)
    req = request(V32, tp=tp, version=version, max_num_batched_tokens=8192)
    return stage_weight_bytes(m, resolve_settings(req, m, find_gpu("H200"), tp=tp), 0)


@pytest.mark.parametrize("tp", [1, 8])
def test_the_sparse_indexer_is_whole_on_every_rank(tp: int) -> None:
    # wq_b (q_lora_rank x heads x 128) and weights_proj (hidden x heads) are ReplicatedLinear
    bf16 = {"quantization_config": None}
    wider = v32_weights(tp, **bf16, index_n_heads=128) - v32_weights(tp, **bf16)
    assert wider == pytest.approx(LAYERS * 64 * (1536 * 128 + HIDDEN) * 2, rel=1e-9)


def test_the_indexer_top_k_buffer_grows_with_the_batched_tokens() -> None:
    m = catalog_model(V32)
    by_tokens = [
        stage_weight_bytes(
            m,
            resolve_settings(
                request(V32, tp=8, max_num_batched_tokens=n), m, find_gpu("H200"), tp=8
            ),
            0,
        )
        for n in (8192, 16384)
    ]
    assert by_tokens[1] - by_tokens[0] == 8192 * 2048 * 4  # int32, index_topk columns


def test_fp8_indexer_wk_is_stored_unquantized_from_0_33() -> None:
    # wk (hidden x 128) joins weights_proj in an unquantized wk_weights_proj: two bytes, not one
    grown = v32_weights(8, "0.33") - v32_weights(8, "0.19")
    assert grown == pytest.approx(LAYERS * HIDDEN * 128 * (2 - 1), rel=1e-3)


def test_glm52_layers_sharing_an_indexer_build_none_from_0_33() -> None:
    # indexer_types: "full" in layers 0-2 and every fourth from 6, "shared" in the other 57
    glm = "zai-org/GLM-5.2"  # bf16; hidden 6144, q_lora_rank 2048, 32 indexer heads of 128
    m = catalog_model(glm)
    assert m.indexer_layers.count(False) == 57

    def at(version: str) -> float:
        req = request(glm, tp=8, version=version)
        return stage_weight_bytes(m, resolve_settings(req, m, find_gpu("H200"), tp=8), 0)

    indexer = 2048 * 32 * 128 + 6144 * (128 + 32)
    assert at("0.19") - at("0.33") == pytest.approx(57 * indexer * 2, rel=1e-9)
