"""Qwen3.5 and LFM2 from their real configs, and the mamba engine flags, against vLLM's
arithmetic (the formulas and their sources are in tests/planning/test_hybrid_state.py):
- Qwen3.5 (qwen3_5.py): gated delta net state, its SSM state in the config's mamba_ssm_dtype
  (models/config.py Qwen3_5ForConditionalGenerationConfig);
- LFM2 (lfm2.py Lfm2ForCausalLM.get_mamba_state_shape_from_config): one (conv_dim, L_cache - 1)
  conv tensor, smaller than an attention page, so the block stays 16 and the state is padded;
- flags: MambaStateDtypeCalculator._mamba_state_dtype (--mamba-cache-dtype for the conv state,
  --mamba-ssm-cache-dtype for the SSM state), MambaModelConfig (--mamba-cache-mode),
  HybridAttentionMambaModelConfig ("all" mode aligned to --mamba-block-size).
"""

from __future__ import annotations

from math import lcm

from checker.planning.kvcache.kv import size_kv
from tests.planning.plans import catalog_model, only, plan
from tests.planning.test_hybrid_state import BUDGET, cdiv, expected_kv, settings_for

QWEN35 = "Qwen/Qwen3.5-27B"
QWEN35_MOE = "Qwen/Qwen3.5-35B-A3B"
LFM2 = "LiquidAI/LFM2.5-VL-1.6B"
JAMBA = "ai21labs/AI21-Jamba-1.5-Mini"


def gdn_page(k_heads: int, v_heads: int, tp: int, conv_bytes: int = 2, ssm_bytes: int = 4) -> int:
    # key and value heads of 128, conv kernel 4; Qwen3.5's SSM state in float32 by default
    conv = (2 * k_heads * 128 + v_heads * 128) // tp * (4 - 1)
    return conv * conv_bytes + v_heads // tp * 128 * 128 * ssm_bytes


def test_qwen35_dense_float32_state_block_pages_groups_v019() -> None:
    model = catalog_model(QWEN35)
    assert (sum(model.state_layer_flags), model.cache_layer_count) == (48, 16)
    page = gdn_page(16, 48, 1)
    assert page == 3_207_168
    attn_per_token = 2 * 4 * 256 * 2  # K and V, 4 KV heads of 256, bf16
    s = settings_for(model, QWEN35, max_model_len=32768, version="0.19")
    block = 16 * cdiv(page, 16 * attn_per_token)
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, block, "none")
    assert block == 784
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, groups = expected_kv(
        attn_layers=16,
        state_layers=48,
        page=block * attn_per_token,
        block=block,
        state_blocks=1,
        max_len=32768,
        version="0.19",
    )
    assert (kv.layout.page_bytes, kv.layout.group_size, len(kv.layout.kinds)) == (
        block * attn_per_token,
        16,
        groups,
    )
    assert groups == 4
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_qwen35_moe_tp2_on_h100_v033_align_with_prefill_checkpoints() -> None:
    model = catalog_model(QWEN35_MOE)
    page = gdn_page(16, 32, 2)
    attn_per_token = 2 * 1 * 256 * 2  # 2 KV heads over TP 2
    # align mode (prefix caching on by default in 0.33); FlashInfer's GDN prefill on Hopper
    # checkpoints every 64 tokens: block a multiple of lcm(16, 64), a third state block
    s = settings_for(model, QWEN35_MOE, tp=2, max_model_len=65536, version="0.33")
    block = 64 * cdiv(page, 64 * attn_per_token)
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, block, "align")
    assert block == 1088
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, groups = expected_kv(
        attn_layers=10,
        state_layers=30,
        page=block * attn_per_token,
        block=block,
        state_blocks=3,
        max_len=65536,
        version="0.33",
    )
    assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_lfm2_short_conv_state_is_padded_to_a_16_token_attention_page() -> None:
    model = catalog_model(LFM2)  # the VL config: its text_config is LFM2-1.2B
    assert (model.model_type, sum(model.state_layer_flags), model.cache_layer_count) == (
        "lfm2",
        10,
        6,
    )
    state = 2048 * (3 - 1) * 2  # conv_dim x (L_cache - 1), bf16
    attn_page = 16 * 2 * 8 * 64 * 2  # 16 tokens, K and V, 8 KV heads of 64
    for version, state_blocks in (("0.19", 1), ("0.33", 2)):
        s = settings_for(model, LFM2, max_model_len=32768, version=version)
        assert (s.state_page_bytes, s.block_size) == (state, 16)
        kv = size_kv(model, s, BUDGET, 0)
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=6,
            state_layers=10,
            page=attn_page,
            block=16,
            state_blocks=state_blocks,
            max_len=32768,
            version=version,
        )
        assert kv.layout.page_bytes == attn_page and groups == 3
        assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
        assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_lfm2_weights_use_the_auto_adjusted_feed_forward() -> None:
    # block_auto_adjust_ff_dim: int(2 * 12288 / 3) = 8192, a multiple of 256 already
    params = catalog_model(LFM2).params
    assert params.mlp_linear == 16 * 3 * 2048 * 8192


def test_mamba_state_dtype_flags_resize_the_state_page() -> None:
    model = catalog_model(QWEN35)
    # --mamba-ssm-cache-dtype float16 overrides the config's float32 SSM state
    s = settings_for(
        model, QWEN35, version="0.33", max_model_len=8192, mamba_ssm_cache_dtype="float16"
    )
    assert s.state_page_bytes == gdn_page(16, 48, 1, ssm_bytes=2)
    # --mamba-cache-dtype float32 widens the conv state; the SSM state keeps the config's
    s = settings_for(model, QWEN35, version="0.33", max_model_len=8192, mamba_cache_dtype="float32")
    assert s.state_page_bytes == gdn_page(16, 48, 1, conv_bytes=4)


def jamba_page() -> int:
    inner = 2 * 4096
    return inner * (4 - 1) * 2 + inner * 16 * 2


def test_mamba_block_size_aligns_the_019_all_mode_block() -> None:
    model = catalog_model(JAMBA)
    attn_per_token = 2 * 8 * 128 * 2
    step = lcm(1024, 16)  # --mamba-block-size replaces the 2048 chunk
    s = settings_for(
        model,
        JAMBA,
        version="0.19",
        max_model_len=65536,
        enable_prefix_caching=True,
        mamba_block_size=1024,
    )
    assert s.mamba_cache_mode == "all"
    assert s.block_size == step * cdiv(cdiv(jamba_page(), attn_per_token), step) == 1024


def test_mamba_cache_mode_align_replaces_the_019_all_mode() -> None:
    model = catalog_model(JAMBA)
    s = settings_for(
        model,
        JAMBA,
        version="0.19",
        max_model_len=65536,
        enable_prefix_caching=True,
        mamba_cache_mode="align",
    )
    assert s.mamba_cache_mode == "align"
    assert s.block_size == 16 * cdiv(jamba_page(), 16 * 2 * 8 * 128 * 2) == 80


def test_mamba_options_vllm_refuses_are_errors() -> None:
    # 0.19 hybrids run without prefix caching by default
    found = only(plan(JAMBA, max_model_len=8192, version="0.19", mamba_block_size=512), "VW140")
    assert found.message == "--mamba-block-size can only be set with --enable-prefix-caching"
    assert found.key == "outputs.vllm_args.mamba-block-size"
    found = only(
        plan(JAMBA, max_model_len=8192, version="0.19", mamba_ssm_cache_dtype="bfloat16"), "VW140"
    )
    assert "invalid choice: 'bfloat16'" in found.message
    found = only(plan(JAMBA, max_model_len=8192, version="0.33", mamba_cache_mode="all"), "VW140")
    assert "--mamba-cache-mode: invalid choice: 'all'" in found.message
    assert found.fix_values == {"outputs.vllm_args.mamba-cache-mode": "none"}
    clean = plan(JAMBA, max_model_len=8192, version="0.33", mamba_ssm_cache_dtype="bfloat16")
    assert not [f for f in clean.feasibility.findings if f.rule_id == "VW140"]
