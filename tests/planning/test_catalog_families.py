"""Families added to the catalog for issue 14, from their real configs, against vLLM's arithmetic:
- DeepSeek-V3.2 / GLM-5 (sparse MLA): each MLA layer also keeps the indexer's key cache, an
  MLAAttentionSpec of one head of index_head_dim fp8 bytes plus a float32 scale per 128 of
  them (132 bytes per token for 128-dim keys; model_executor/models/deepseek_v2.py Indexer,
  DeepseekV32IndexerCache). Both specs are MLA, so vLLM puts every layer in one
  UniformTypeKVCacheSpecs group whose block is the sum of the layers' pages
  (v1/kv_cache_interface.py; v1/core/kv_cache_utils.py get_kv_cache_config_from_groups:
  num_blocks = available_memory // page_size_bytes);
- MiniMax-M2 (minimax_m2.py): full attention in every layer, its attn_type_list not read;
- Kimi-K3 (KimiLinearForCausalLM text model, vLLM 0.33.0): KDA state layers
  (MambaStateShapeCalculator.kda_state_shape, float32 recurrent state) beside MLA layers.
"""

from __future__ import annotations

from pathlib import Path

from checker.models.catalog import lookup
from checker.models.config_parser import parse_config
from checker.planning.kv import size_kv
from checker.schemas.model_info import LayerKind
from tests.planning.plans import catalog_model
from tests.planning.test_hybrid_state import BUDGET, cdiv, settings_for

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
    s = settings_for(
        model, V32, tp=8, gpu="H200", max_model_len=32768, version="0.19", block_size=64
    )
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
        block_size=64,
    )
    kv = size_kv(model, s, BUDGET, 0)
    # 656 bytes per token: the "FP8 with scale" MLA layout (MLAAttentionSpec)
    page, blocks, tokens, concurrency = _uniform_mla(61, 656 + INDEXER, 64, 65536, "0.33")
    assert kv.layout.group_block_bytes == page
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_glm5_indexer_pages_on_each_of_78_layers() -> None:
    model = catalog_model(GLM5)
    s = settings_for(
        model, GLM5, tp=8, gpu="H200", max_model_len=32768, version="0.19", block_size=64
    )
    kv = size_kv(model, s, BUDGET, 0)
    page, blocks, tokens, _ = _uniform_mla(78, 2 * LATENT + INDEXER, 64, 32768, "0.19")
    assert (kv.layout.group_block_bytes, kv.num_blocks, kv.tokens) == (page, blocks, tokens)


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
    info = parse_config({**found[0], "model_type": "minimax_text_01"}, model_id="x", source="t")
    assert info.unmodeled_layer_kinds == ("state layers ('attn_type_list')",)
