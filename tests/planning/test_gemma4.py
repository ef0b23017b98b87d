"""Gemma-4 from its real config (google/gemma-4-26B-A4B, catalog) against vLLM's arithmetic:
- models/gemma4.py Gemma4DecoderLayer: full-attention layers use global_head_dim (512) and, with
  attention_k_eq_v, num_global_key_value_heads (2), the K weights loaded into both the K and the
  V slot of one QKV projection; every layer runs a dense MLP beside the experts
  (enable_moe_block);
- rotary_embedding/gemma4_rope.py Gemma4RotaryEmbedding: the "proportional" global rope caches
  the whole head (512), the sliding rope its 256;
- v1/core/kv_cache_utils.py unify_kv_cache_spec_page_size: the full layers' page (2 heads of 512)
  is half the sliding layers' (8 of 256), so their block size doubles to equal pages.
"""

from __future__ import annotations

from checker.planning.kvcache.kv import size_kv
from checker.schemas.model_info import LayerKind
from tests.planning.plans import catalog_model, plan
from tests.planning.test_hybrid_state import BUDGET, cdiv, settings_for

GEMMA4 = "google/gemma-4-26B-A4B"
HIDDEN, EXPERTS, MOE_INTER, DENSE_INTER, LAYERS, POSITIONS = 2816, 128, 704, 2112, 30, 262144


def test_gemma4_global_layers_dense_mlp_and_rope_in_the_weights() -> None:
    model = catalog_model(GEMMA4)
    full = [i for i, d in enumerate(model.head_dim_per_layer) if d == 512]
    assert full == [5, 11, 17, 23, 29]
    assert [model.kv_heads_of(i) for i in (0, 5)] == [8, 2]
    sliding = HIDDEN * 16 * 256 * 2 + 2 * HIDDEN * 8 * 256  # q, o; k, v
    global_ = HIDDEN * 16 * 512 * 2 + 2 * HIDDEN * 2 * 512  # v slot kept under k_eq_v
    assert model.params.attention_linear == 25 * sliding + 5 * global_
    assert model.params.mlp_linear == LAYERS * 3 * HIDDEN * DENSE_INTER
    assert model.params.expert_linear == LAYERS * EXPERTS * 3 * HIDDEN * MOE_INTER
    assert model.rope_cache_elements == POSITIONS * (256 + 512)
    # the vision encoder (transformers Gemma4VisionModel): 27 layers of width 1152 with a gated
    # MLP of 4304, 16x16 patches, a 2 x 10240 table of positions, the projection to the text
    width = 1152
    layer = 4 * width * width + 3 * width * 4304 + 6 * width
    tower = 27 * layer + 3 * 16 * 16 * width + 2 * 10240 * width + width * HIDDEN
    assert model.params.vision == tower
    # myoceane.fr A100 log (vLLM 0.19.0, benchmarks/corpora/hybrid_heldout.yaml): 48.5 GiB
    resp = plan(GEMMA4, "A100-80GB", max_model_len=131072, version="0.19.0", enforce_eager=True)
    assert abs(resp.feasibility.memory.weights_gib / 48.5 - 1) < 0.003


def test_gemma4_full_layers_get_twice_the_block_size_at_the_same_page() -> None:
    model = catalog_model(GEMMA4)
    s = settings_for(model, GEMMA4, max_model_len=131072, version="0.19")
    kv = size_kv(model, s, BUDGET, 0)
    page = 16 * 8 * 256 * 2 * 2  # the sliding layers' block: 8 KV heads of 256, K and V, bf16
    assert page == 16 * 2 * (2 * 512 * 2) * 2  # the full layers' at 32 tokens a block
    layout = kv.layout
    assert (layout.page_bytes, layout.group_size) == (page, 5)
    groups = list(zip(layout.kinds, layout.block_multiples, strict=True))
    assert groups == [(LayerKind.SLIDING, 1)] * 5 + [(LayerKind.FULL, 2)]
    blocks = int(BUDGET // (page * 5))
    window = cdiv(min(1024 - 1 + s.max_num_batched_tokens, 131072), 16) + 1
    needed = cdiv(131072, 32) + 5 * window
    assert (kv.num_blocks, kv.tokens) == (blocks, blocks // 6 * 16)
    assert abs(kv.max_concurrency - blocks / needed) < 1e-9


def test_gemma4_keeps_its_sliding_groups_in_0_20_and_only_the_logged_tokens_change_in_0_21() -> (
    None
):
    # vllm#43308: ~55k logged tokens in 0.20.0, ~525k in 0.21.0 for the same ~50 GB. Both wheels
    # group Gemma-4 the same way (models/config.py Gemma4Config forces TRITON_ATTN, which leaves
    # the hybrid KV cache manager on; attention.py get_kv_cache_spec returns SlidingWindowSpec
    # for the sliding layers); only kv_cache_utils.py _report_kv_cache_config's figure changed,
    # from num_blocks // groups x min block size to int(max concurrency x max_model_len).
    # The 31B AWQ checkpoint's config is not public here; the 26B-A4B has the same groups (5
    # sliding of window 1024, 1 full at 32-token blocks), so the ratio of the two figures, 6 x
    # max_model_len / (16 x blocks a request needs), is the same on the A100 (2048
    # batched tokens by default)
    model = catalog_model(GEMMA4)
    old, new = (
        size_kv(model, settings_for(model, GEMMA4, gpu="A100-80GB", **kw), BUDGET, 0)
        for kw in ({"max_model_len": 131072, "version": v} for v in ("0.20.0", "0.21.0"))
    )
    assert old.layout == new.layout and len(old.layout.kinds) == 6
    assert (old.num_blocks, old.max_concurrency) == (new.num_blocks, new.max_concurrency)
    assert old.tokens == old.num_blocks // 6 * 16
    assert new.tokens == int(new.max_concurrency * 131072)
    needed = 131072 // 32 + 5 * (cdiv(1023 + 2048, 16) + 1)
    assert new.max_concurrency == BUDGET // (16 * 8 * 256 * 2 * 2 * 5) / needed
    assert 9 < new.tokens / old.tokens < 10  # the issue's ~9.5x
