"""Families added to the catalog for issue 14, from their real configs, against vLLM's arithmetic:
- DeepSeek-V3.2 / GLM-5 (sparse MLA): each MLA layer also keeps the indexer's key cache, an
  MLAAttentionSpec of one head of index_head_dim fp8 bytes plus a float32 scale per 128 of
  them (132 bytes per token for 128-dim keys; model_executor/models/deepseek_v2.py Indexer,
  DeepseekV32IndexerCache). Both specs are MLA, so vLLM puts every layer in one
  UniformTypeKVCacheSpecs group whose block is the sum of the layers' pages
  (v1/kv_cache_interface.py; v1/core/kv_cache_utils.py get_kv_cache_config_from_groups:
  num_blocks = available_memory // page_size_bytes);
- Gemma-4 26B-A4B (gemma4.py Gemma4DecoderLayer): full-attention layers of global_head_dim with
  num_global_key_value_heads (attention_k_eq_v), sliding layers of head_dim; when their pages
  differ vLLM raises the smaller-page layers' block size until the pages match
  (kv_cache_utils.py unify_kv_cache_spec_page_size) and groups them as usual;
- MiniMax-M2 (minimax_m2.py): full attention in every layer, its attn_type_list not read;
- Kimi-K3 (KimiLinearForCausalLM text model, vLLM 0.33.0): KDA state layers
  (MambaStateShapeCalculator.kda_state_shape, float32 recurrent state) beside MLA layers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from checker.models.catalog import lookup
from checker.models.config_parser import parse_config
from checker.planning.kvcache.kv import size_kv
from checker.schemas.model_info import LayerKind
from tests.planning.plans import catalog_model, plan
from tests.planning.test_hybrid_state import BUDGET, cdiv, expected_kv, settings_for

CONFIGS = Path(__file__).resolve().parents[1] / "data" / "configs"
V32 = "deepseek-ai/DeepSeek-V3.2"
GLM5 = "zai-org/GLM-5"
MINIMAX = "MiniMaxAI/MiniMax-M2.7"
LATENT = 512 + 64  # kv_lora_rank + qk_rope_head_dim of DeepSeek-V3.2 and GLM-5
INDEXER = 128 + 128 // 128 * 4  # index_head_dim fp8 bytes + one float32 scale


def _uniform_mla(layers: int, per_token: int, block: int, max_len: int, version: str) -> tuple:
    """(page, blocks, tokens, concurrency) of one UniformTypeKVCacheSpecs group."""
    page = block * layers * per_token
    blocks = BUDGET // page
    concurrency = blocks / cdiv(max_len, block)
    tokens = int(concurrency * max_len) if version == "0.33" else blocks * block
    return page, blocks, tokens, concurrency


def test_the_sparse_indexer_is_read_from_the_config_not_flagged() -> None:
    for model_id, layers in ((V32, 61), (GLM5, 78)):
        model = catalog_model(model_id)
        assert model.sparse_mla and model.indexer_token_bytes == INDEXER == 132
        assert model.unmodeled_layer_kinds == ()
        assert model.layer_kinds == (LayerKind.MLA,) * layers
    assert catalog_model("deepseek-ai/DeepSeek-V3").indexer_token_bytes == 0


def test_deepseek_v32_indexer_pages_join_the_mla_group_v019() -> None:
    model = catalog_model(V32)
    # FLASHMLA_SPARSE, the Hopper sparse backend, takes 64-token blocks only
    s = settings_for(model, V32, tp=8, gpu="H200", max_model_len=32768, version="0.19")
    assert (s.block_size, s.mla_backend) == (64, "FLASHMLA_SPARSE")
    kv = size_kv(model, s, BUDGET, 0)
    page, blocks, tokens, concurrency = _uniform_mla(61, 2 * LATENT + INDEXER, 64, 32768, "0.19")
    assert (kv.layout.group_block_bytes, len(kv.layout.kinds)) == (page, 1)
    assert kv.layout.bytes_per_token == 61 * (1152 + 132)
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_deepseek_v32_with_fp8_ds_mla_v033() -> None:
    model = catalog_model(V32)
    s = settings_for(
        model,
        V32,
        tp=8,
        gpu="H200",
        max_model_len=65536,
        version="0.33",
        kv_cache_dtype="fp8_ds_mla",
    )
    # FlashAttention's sparse kernel takes only bf16 caches: FLASHMLA_SPARSE, 64-token blocks
    assert (s.block_size, s.mla_backend) == (64, "FLASHMLA_SPARSE")
    kv = size_kv(model, s, BUDGET, 0)
    # 656 bytes per token: the "FP8 with scale" MLA layout (MLAAttentionSpec)
    page, blocks, tokens, concurrency = _uniform_mla(61, 656 + INDEXER, 64, 65536, "0.33")
    assert kv.layout.group_block_bytes == page
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_glm5_indexer_pages_on_each_of_78_layers() -> None:
    model = catalog_model(GLM5)
    s = settings_for(model, GLM5, tp=8, gpu="H200", max_model_len=32768, version="0.19")
    assert s.block_size == 64
    kv = size_kv(model, s, BUDGET, 0)
    page, blocks, tokens, _ = _uniform_mla(78, 2 * LATENT + INDEXER, 64, 32768, "0.19")
    assert (kv.layout.group_block_bytes, kv.num_blocks, kv.tokens) == (page, blocks, tokens)


def test_explain_says_what_the_indexer_costs() -> None:
    resp = plan(V32, "H200", gpus=8, tp=8, version="0.19", max_model_len=32768, explain=True)
    words = resp.config.explanations["sparse attention indexer"]
    # 132 of the 1152 + 132 bytes each layer keeps a token
    assert "132 bytes a token" in words and f"{132 / 1284:.1%} of the KV cache" in words
    resp = plan("deepseek-ai/DeepSeek-V3", "H200", gpus=8, tp=8, version="0.19", explain=True)
    assert "sparse attention indexer" not in resp.config.explanations


def test_sparse_mla_backends_and_their_blocks_per_gpu_dtype_and_heads() -> None:
    # platforms/cuda.py _get_backend_priorities: on Blackwell a quantized cache or at most 16
    # heads a rank prefer FlashInfer's sparse kernel (32-token blocks), more heads FlashMLA's
    # (64); fp8_ds_mla only FlashMLA takes. Hopper: 64 in both releases.
    model = catalog_model(V32)  # 128 attention heads
    cases = (
        ("H100-80GB", 8, "auto", "0.19", "FLASHMLA_SPARSE", 64),
        ("H100-80GB", 8, "auto", "0.33", "FLASH_ATTN_MLA_SPARSE", 64),
        ("B200", 8, "auto", "0.19", "FLASHINFER_MLA_SPARSE", 32),
        ("B200", 4, "auto", "0.19", "FLASHMLA_SPARSE", 64),
        ("B200", 4, "fp8", "0.19", "FLASHINFER_MLA_SPARSE", 32),
        ("B200", 4, "fp8_ds_mla", "0.19", "FLASHMLA_SPARSE", 64),
        ("B200", 8, "auto", "0.33", "FLASH_ATTN_MLA_SPARSE_FA4", 64),
        ("B200", 4, "fp8", "0.33", "FLASHINFER_MLA_SPARSE", 32),
    )
    for gpu, tp, dtype, version, backend, block in cases:
        s = settings_for(
            model, V32, tp=tp, gpu=gpu, max_model_len=8192, version=version, kv_cache_dtype=dtype
        )
        assert (s.mla_backend, s.block_size) == (backend, block), (gpu, tp, dtype, version)
    # the dense backends' choice is unchanged for DeepSeek-V3 (no indexer)
    dense = catalog_model("deepseek-ai/DeepSeek-V3")
    s = settings_for(dense, "deepseek-ai/DeepSeek-V3", tp=8, gpu="B200", version="0.19")
    assert s.mla_backend == "FLASHINFER_MLA"


def test_minimax_m2_is_full_attention_and_not_flagged() -> None:
    model = catalog_model(MINIMAX)
    assert model.unmodeled_layer_kinds == ()
    assert model.layer_kinds == (LayerKind.FULL,) * 62
    s = settings_for(model, MINIMAX, tp=4, max_model_len=65536, version="0.19")
    kv = size_kv(model, s, BUDGET, 0)
    page = 16 * 2 * (8 // 4) * 128 * 2  # K and V of 2 of the 8 KV heads of 128, bf16
    blocks = BUDGET // page // 62
    assert (kv.layout.page_bytes, kv.layout.group_size, kv.num_blocks) == (page, 62, blocks)
    assert kv.tokens == blocks * 16
    assert abs(kv.max_concurrency - blocks / cdiv(65536, 16)) < 1e-9


def test_state_hint_keys_of_an_unknown_type_are_still_flagged() -> None:
    found = lookup(MINIMAX)
    assert found is not None
    # a model_type with no recipe (minimax_text_01 has one now: its attn_type_list is read)
    info = parse_config({**found[0], "model_type": "minimax_next"}, model_id="x", source="t")
    assert info.unmodeled_layer_kinds == ("state layers ('attn_type_list')",)


def test_kimi_k3_kda_state_beside_mla_v033() -> None:
    config = json.loads((CONFIGS / "moonshotai__Kimi-K3.json").read_text())
    model = parse_config(config, model_id="moonshotai/Kimi-K3", source="t")
    assert model.unmodeled_layer_kinds == ()
    assert (sum(model.state_layer_flags), model.cache_layer_count) == (69, 24)
    # kda_state_shape at TP 8: conv (3 x 96 heads x 128 / 8, kernel - 1) in bf16 and the
    # (96 / 8, 128, 128) recurrent state in float32 (kda_state_dtype at auto)
    state = 3 * 96 * 128 // 8 * 3 * 2 + 96 // 8 * 128 * 128 * 4
    assert state == 814_080
    s = settings_for(
        model, "moonshotai/Kimi-K3", tp=8, gpu="H200", max_model_len=131072, version="0.33"
    )
    # 0.33.0 Platform._align_hybrid_block_size: MLA aligns to 128-token multiples; prefix
    # caching on by default, KDA without "all" support: align mode, 2 state blocks a request
    attn_per_token = 2 * LATENT
    block = 128 * cdiv(state, 128 * attn_per_token)
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (state, 768, "align")
    assert block == 768
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, groups = expected_kv(
        attn_layers=24,
        state_layers=69,
        page=block * attn_per_token,
        block=block,
        state_blocks=2,
        max_len=131072,
        version="0.33",
    )
    assert (kv.layout.page_bytes, kv.layout.group_size, len(kv.layout.kinds)) == (
        block * attn_per_token,
        24,
        groups,
    )
    assert groups == 4
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


GEMMA4 = "google/gemma-4-26B-A4B"


def _gemma4_expected(s: object, tp: int, full_block: int) -> tuple[int, int, float]:
    """(blocks, tokens, concurrency) of Gemma-4 26B-A4B for BUDGET, 0.19.0's way: 25 sliding
    and 5 full layers, groups of 5 layers (5 sliding groups, 1 full group)."""
    sliding = 2 * (8 // tp) * 256 * 2
    block = 16
    blocks = BUDGET // (block * sliding) // 5
    window = min(1024 - 1 + s.max_num_batched_tokens, 32768)  # type: ignore[attr-defined]
    per_request = cdiv(32768, full_block) + 5 * (cdiv(window, block) + 1)
    return blocks, blocks // 6 * block, blocks / per_request


def test_gemma4_full_layers_have_their_own_heads_and_a_raised_block_v019() -> None:
    model = catalog_model(GEMMA4)
    full = [i for i, k in enumerate(model.layer_kinds) if k is LayerKind.FULL]
    assert full == [5, 11, 17, 23, 29]
    assert {model.head_dim_of(i) for i in full} == {512}
    assert {model.kv_heads_of(i) for i in full} == {2}
    assert (model.head_dim_of(0), model.kv_heads_of(0)) == (256, 8)
    s = settings_for(model, GEMMA4, max_model_len=32768, version="0.19")
    kv = size_kv(model, s, BUDGET, 0)
    # sliding: K and V of 8 heads of 256 (8192 B a token); full: 2 heads of 512 (4096 B), so
    # the full layers' block doubles to 32 tokens and both pages are 16 x 8192 bytes
    assert kv.layout.page_bytes == 16 * 8192 and kv.layout.group_size == 5
    assert kv.layout.kinds == (LayerKind.SLIDING,) * 5 + (LayerKind.FULL,)
    assert kv.layout.block_multiples == (1,) * 5 + (2,)
    blocks, tokens, concurrency = _gemma4_expected(s, 1, 32)
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_gemma4_at_tp4_pages_match_and_blocks_stay() -> None:
    model = catalog_model(GEMMA4)
    s = settings_for(model, GEMMA4, tp=4, max_model_len=32768, version="0.19")
    kv = size_kv(model, s, BUDGET, 0)
    # 2 of 8 sliding heads of 256 and 1 replicated full head of 512: 2048 B a token each
    assert kv.layout.page_bytes == 16 * 2048 and kv.layout.block_multiples == ()
    blocks, tokens, concurrency = _gemma4_expected(s, 4, 16)
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_qwen35_397b_gdn_moe_at_tp8_v019() -> None:
    model_id = "Qwen/Qwen3.5-397B-A17B"
    model = catalog_model(model_id)
    assert (sum(model.state_layer_flags), model.cache_layer_count) == (45, 15)
    # gdn_attention_state_shape at TP 8: conv (2 x 16 key heads x 128 + 64 value heads x 128)
    # / 8 x (kernel 4 - 1) in bf16, SSM (64 / 8, 128, 128) in the config's float32
    state = (2 * 16 * 128 + 64 * 128) // 8 * 3 * 2 + 64 // 8 * 128 * 128 * 4
    attn_per_token = 2 * 1 * 256 * 2  # 2 KV heads over TP 8: one replicated head of 256
    s = settings_for(model, model_id, tp=8, gpu="H200", max_model_len=131072, version="0.19")
    block = 16 * cdiv(state, 16 * attn_per_token)
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (state, 528, "none")
    assert block == 528
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, groups = expected_kv(
        attn_layers=15,
        state_layers=45,
        page=block * attn_per_token,
        block=block,
        state_blocks=1,
        max_len=131072,
        version="0.19",
    )
    assert (kv.layout.group_size, len(kv.layout.kinds), groups) == (15, 4, 4)
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_sparse_flashmla_stores_an_fp8_cache_as_fp8_ds_mla() -> None:
    # MLAAttention.__init__: FLASHMLA_SPARSE serves --kv-cache-dtype fp8 in DeepSeek's
    # fp8_ds_mla layout (656 bytes a token); FlashInfer's sparse kernel keeps plain fp8 (576)
    model = catalog_model(V32)
    for gpu, tp, backend, latent in (
        ("H200", 8, "FLASHMLA_SPARSE", 656),
        ("B200", 8, "FLASHINFER_MLA_SPARSE", 576),
    ):
        s = settings_for(
            model, V32, tp=tp, gpu=gpu, max_model_len=32768, version="0.19", kv_cache_dtype="fp8"
        )
        assert (s.mla_backend, s.kv_cache_dtype) == (backend, "fp8")
        kv = size_kv(model, s, BUDGET, 0)
        page, blocks, tokens, _ = _uniform_mla(61, latent + INDEXER, s.block_size, 32768, "0.19")
        assert (kv.layout.group_block_bytes, kv.num_blocks, kv.tokens) == (page, blocks, tokens)
    resp = plan(V32, "H200", gpus=8, tp=8, version="0.19", kv_cache_dtype="fp8")
    assert any("fp8_ds_mla KV cache format" in line for line in resp.feasibility.log_lines)


def test_deepseek_v32_mtp_layer_keeps_its_own_indexer() -> None:
    # deepseek_mtp.py: the MTP layer is a DeepseekV2DecoderLayer, so with index_topk it has an
    # indexer key cache beside its MLA latent, both joining the target's one MLA group
    kw: dict[str, Any] = {"gpus": 8, "tp": 8, "max_model_len": 32768, "version": "0.19"}
    base = plan(V32, "H200", **kw)
    spec = plan(V32, "H200", speculative_config={"method": "mtp"}, **kw)
    after, before = spec.feasibility.kv, base.feasibility.kv
    assert after is not None and before is not None
    assert after.bytes_per_token - before.bytes_per_token == 2 * LATENT + INDEXER
