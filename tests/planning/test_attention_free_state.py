"""Hybrid-class models none of whose layers attend (every layer a Mamba-2 mixer), against
vLLM's arithmetic:
- 0.19.0 models/config.py HybridAttentionMambaModelConfig.verify_and_update_config raises the
  block size from the config's attention heads and pads the state page to that attention page
  (mamba_page_size_padded) though no layer attends; MambaModelConfig sets mamba_block_size to
  max_model_len without prefix caching;
- 0.33.0 platforms/interface.py Platform.update_block_size_for_backend returns when
  _find_non_ssm_backends finds no attention backend: the block stays 16, the page unpadded;
- v1/core/kv_cache_utils.py: the state layers form one group (uniform MambaSpec), blocks =
  available // page // layers; 0.19.0 _report_kv_cache_config logs num_blocks // groups x the
  smallest group block size, the MambaSpec's mamba_block_size; 0.33.0 get_kv_cache_capacity
  logs int(concurrency x max_model_len); concurrency = blocks / cdiv(MambaSpec
  .max_memory_usage_bytes, page) (v1/kv_cache_interface.py).

No verbatim public config.json of such a model was found, so the configs are the sizing fields
of the published Bamba-9B and Granite-4.0-H-Small configs (tests/planning/
test_hybrid_family_specs.py) with no attention layer: Bamba without attn_layer_indices
(transformers' BambaConfig then makes every layer a mamba layer), Granite with layer_types all
"mamba". The IsAttentionFree classes (Mamba, Mamba-2, FalconMamba), which vLLM never treats
as hybrids, are tested from their real configs in tests/planning/test_pure_mamba.py.
"""

from __future__ import annotations

from checker.planning.kvcache.kv import size_kv
from checker.schemas.model_info import LayerKind
from tests.planning.test_hybrid_family_specs import (
    BAMBA_9B,
    GRANITE_H_SMALL,
    mamba2_page,
    parsed,
)
from tests.planning.test_hybrid_state import BUDGET, cdiv, settings_for

MAX_LEN = 65536
# 128 heads of 64, one group of state 128, expand 2 x hidden 4096, bf16: both configs' state
STATE_PAGE = mamba2_page(inner=2 * 4096, groups=1, heads=128, head_dim=64, state=128, tp=1)
ATTN_PER_TOKEN = 2 * 8 * 128 * 2  # K and V, 8 KV heads of 4096 / 32, bf16: no layer uses it


def test_bamba_without_attention_layers_v019_pads_to_the_config_heads_page() -> None:
    model = parsed({**BAMBA_9B, "attn_layer_indices": None}, "b")
    assert (model.cache_layer_count, sum(model.state_layer_flags)) == (0, 32)
    s = settings_for(model, "b", max_model_len=MAX_LEN, version="0.19")
    block = 16 * cdiv(STATE_PAGE, 16 * ATTN_PER_TOKEN)
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (STATE_PAGE, block, "none")
    assert block == 528
    kv = size_kv(model, s, BUDGET, 0)
    page = block * ATTN_PER_TOKEN  # mamba_page_size_padded
    blocks = BUDGET // page // 32
    assert (kv.layout.page_bytes, kv.layout.kinds) == (page, (LayerKind.LINEAR,))
    # the one group's block size is mamba_block_size = max_model_len; one block a request
    assert (kv.num_blocks, kv.tokens, kv.max_concurrency) == (blocks, blocks * MAX_LEN, blocks)
    assert blocks == 620

    # prefix caching: "all" mode, block and mamba_block_size lcm(256, 16)-aligned, one state
    # block per block of the request
    s = settings_for(model, "b", max_model_len=MAX_LEN, version="0.19", enable_prefix_caching=True)
    block = 256 * cdiv(cdiv(STATE_PAGE, ATTN_PER_TOKEN), 256)
    assert (s.mamba_cache_mode, s.block_size) == ("all", block) == ("all", 768)
    kv = size_kv(model, s, BUDGET, 0)
    page = block * ATTN_PER_TOKEN
    blocks = BUDGET // page // 32
    assert (kv.layout.page_bytes, kv.num_blocks, kv.tokens) == (page, blocks, blocks * block)
    assert abs(kv.max_concurrency - blocks / cdiv(MAX_LEN, block)) < 1e-9


def test_granite_h_without_attention_layers_v033_keeps_block_16_and_unpadded_pages() -> None:
    model = parsed({**GRANITE_H_SMALL, "layer_types": ["mamba"] * 40}, "g")
    assert (model.cache_layer_count, sum(model.state_layer_flags)) == (0, 40)
    s = settings_for(model, "g", max_model_len=MAX_LEN, version="0.33")
    # prefix caching on for hybrids: align mode, two state blocks a request
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (STATE_PAGE, 16, "align")
    kv = size_kv(model, s, BUDGET, 0)
    blocks = BUDGET // STATE_PAGE // 40
    assert (kv.layout.page_bytes, kv.layout.kinds) == (STATE_PAGE, (LayerKind.LINEAR,))
    assert (kv.num_blocks, kv.max_concurrency) == (blocks, blocks / 2)
    assert kv.tokens == int(blocks / 2 * MAX_LEN)
    # 0.19.0 raises and pads this one as it does Bamba's (HybridAttentionMambaModelConfig)
    s = settings_for(model, "g", max_model_len=MAX_LEN, version="0.19")
    assert s.block_size == 528
    assert size_kv(model, s, BUDGET, 0).layout.page_bytes == 528 * ATTN_PER_TOKEN
