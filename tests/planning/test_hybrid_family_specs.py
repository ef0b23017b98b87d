"""Hybrid and KV-sharing families end to end against vLLM's arithmetic: config -> layer kinds ->
state page -> raised block -> groups -> blocks, tokens, concurrency, each expected value worked
out from vLLM's formulas (listed in tests/planning/test_hybrid_state.py).

Families whose checkpoints have no whole public config.json to vendor are built from the sizing
fields their published config.json files carry (the keys each vLLM class's
get_mamba_state_shape_from_config and attention layers read), so they test our reading of the
family's keys and the arithmetic, not a vendored checkpoint:
- Granite-4.0-H-Small (granitemoehybrid.py): Mamba-2 layers and 4 attention layers by layer_types;
- Falcon-H1-7B (falcon_h1.py FalconH1ParallelHybrid): attention and a Mamba-2 mixer side by
  side in every layer, the mixer mamba_d_ssm wide;
- Kimi-Linear-48B-A3B (0.19.0 kimi_linear.py): KDA layers by linear_attn_config (1-based), MLA
  elsewhere; 0.19.0 aligns an MLA hybrid's block to 64 tokens (HybridAttentionMambaModelConfig);
- Bamba-9B (0.19.0 bamba.py), MiniMax-Text-01 (0.19.0 minimax_text_01.py), Zamba2-2.7B
  (zamba2.py: shared attention blocks, a KV cache per hybrid layer), Gemma-3n E2B (gemma3n.py
  KV sharing).
Qwen3.6-35B-A3B, Qwen3-Next and Nemotron-H-56B come from their published files (the catalog).
The last tests cover speculative decoding's state blocks and conv rows, --explain, and item 6 of
issue 14: a layer kind without a recipe is flagged (VW124), never silently full attention.
"""

from __future__ import annotations

from typing import Any

from checker.hardware.catalog import find_gpu
from checker.models.catalog import lookup
from checker.models.config_parser import parse_config
from checker.planning.engine.settings import resolve_settings
from checker.planning.engine.spec_config import build_spec
from checker.planning.engine.versions import version_facts
from checker.planning.kvcache.kv import size_kv
from checker.planning.kvcache.state import state_page_bytes
from checker.schemas.enums import Severity, Verdict
from checker.schemas.model_info import LayerKind, ModelInfo, StateInfo, StateKind
from tests.planning.plans import catalog_model, fired, make_request, only, plan
from tests.planning.test_hybrid_state import BUDGET, cdiv, expected_kv, settings_for

GRANITE_H_SMALL: dict[str, Any] = {
    "architectures": ["GraniteMoeHybridForCausalLM"],
    "model_type": "granitemoehybrid",
    "hidden_size": 4096,
    "num_hidden_layers": 40,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 768,
    "shared_intermediate_size": 1536,
    "num_local_experts": 72,
    "num_experts_per_tok": 10,
    "mamba_n_heads": 128,
    "mamba_d_head": 64,
    "mamba_n_groups": 1,
    "mamba_d_state": 128,
    "mamba_d_conv": 4,
    "mamba_expand": 2,
    "vocab_size": 100352,
    "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16",
    "layer_types": ["mamba"] * 5
    + ["attention"]
    + (["mamba"] * 9 + ["attention"]) * 3
    + ["mamba"] * 4,
}
FALCON_H1_7B: dict[str, Any] = {
    "architectures": ["FalconH1ForCausalLM"],
    "model_type": "falcon_h1",
    "hidden_size": 3072,
    "num_hidden_layers": 44,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "head_dim": 128,
    "intermediate_size": 12288,
    "attn_layer_indices": None,
    "mamba_d_conv": 4,
    "mamba_d_head": 128,
    "mamba_d_ssm": 3072,
    "mamba_d_state": 256,
    "mamba_expand": 2,
    "mamba_n_groups": 1,
    "mamba_n_heads": 24,
    "vocab_size": 130049,
    "max_position_embeddings": 262144,
    "torch_dtype": "bfloat16",
}
KDA_LAYERS = [n for n in range(1, 27) if n % 4]  # 1-based; full attention at 4, 8, ..., 24, 27
KIMI_LINEAR: dict[str, Any] = {
    "architectures": ["KimiLinearForCausalLM"],
    "model_type": "kimi_linear",
    "hidden_size": 2304,
    "num_hidden_layers": 27,
    "num_attention_heads": 32,
    "num_key_value_heads": 1,
    "head_dim": 72,
    "intermediate_size": 9216,
    "vocab_size": 163840,
    "model_max_length": 1048576,
    "linear_attn_config": {
        "kda_layers": KDA_LAYERS,
        "full_attn_layers": [4, 8, 12, 16, 20, 24, 27],
        "num_heads": 32,
        "head_dim": 128,
        "short_conv_kernel_size": 4,
    },
    "num_experts": 256,
    "num_experts_per_token": 8,
    "num_shared_experts": 1,
    "moe_intermediate_size": 1024,
    "first_k_dense_replace": 1,
    "moe_layer_freq": 1,
    "kv_lora_rank": 512,
    "q_lora_rank": None,
    "qk_nope_head_dim": 128,
    "qk_rope_head_dim": 64,
    "v_head_dim": 128,
    "mla_use_nope": True,
    "torch_dtype": "bfloat16",
}


def parsed(config: dict[str, Any], model_id: str) -> ModelInfo:
    return parse_config(config, model_id=model_id, source="test")


def mamba2_page(*, inner: int, groups: int, heads: int, head_dim: int, state: int, tp: int) -> int:
    """MambaStateShapeCalculator.mamba2_state_shape in bf16 (conv kernel 4)."""
    conv = (inner + 2 * groups * state) // tp * (4 - 1)
    return 2 * (conv + heads // tp * head_dim * state)


def check(
    model: ModelInfo,
    model_id: str,
    *,
    attn_layers: int,
    state_layers: int,
    state_page: int,
    attn_per_token: int,
    alignment: int,
    max_len: int,
    tp: int = 1,
    gpu: str = "H100-80GB",
) -> None:
    """Block, page, groups, blocks, tokens and concurrency in 0.19 (no prefix caching: one
    state block a request) and 0.33 (align mode: two)."""
    for version, state_blocks in (("0.19", 1), ("0.33", 2)):
        s = settings_for(model, model_id, tp=tp, gpu=gpu, max_model_len=max_len, version=version)
        block = alignment * cdiv(state_page, alignment * attn_per_token)
        assert (s.state_page_bytes, s.block_size) == (state_page, block), version
        kv = size_kv(model, s, BUDGET, 0)
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=attn_layers,
            state_layers=state_layers,
            page=block * attn_per_token,
            block=block,
            state_blocks=state_blocks,
            max_len=max_len,
            version=version,
        )
        assert (kv.layout.page_bytes, len(kv.layout.kinds)) == (block * attn_per_token, groups)
        assert (kv.num_blocks, kv.tokens) == (blocks, tokens), version
        assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_granite_4_h_small_mamba2_beside_four_attention_layers() -> None:
    model = parsed(GRANITE_H_SMALL, "ibm-granite/granite-4.0-h-small")
    assert model.unmodeled_layer_kinds == ()
    attends = [i for i, k in enumerate(model.layer_kinds) if k is LayerKind.FULL]
    assert attends == [5, 15, 25, 35] and sum(model.state_layer_flags) == 36
    page = mamba2_page(inner=2 * 4096, groups=1, heads=128, head_dim=64, state=128, tp=1)
    assert page == 2_147_840
    # 16-token multiples of 8 KV heads of 128 in bf16: 528 tokens; groups of 4 layers
    # (36 >= 1.5 x 4): one attention group and nine state groups
    check(
        model,
        "ibm-granite/granite-4.0-h-small",
        attn_layers=4,
        state_layers=36,
        state_page=page,
        attn_per_token=2 * 8 * 128 * 2,
        alignment=16,
        max_len=131072,
    )
    assert settings_for(model, "g", max_model_len=8192, version="0.19").block_size == 528


def test_granite_4_h_small_at_tp4() -> None:
    model = parsed(GRANITE_H_SMALL, "ibm-granite/granite-4.0-h-small")
    # the single group is replicated to every rank (mamba_utils.py extra_groups_for_head_shards)
    page = mamba2_page(inner=2 * 4096, groups=4, heads=128, head_dim=64, state=128, tp=4)
    check(
        model,
        "ibm-granite/granite-4.0-h-small",
        attn_layers=4,
        state_layers=36,
        state_page=page,
        attn_per_token=2 * 2 * 128 * 2,
        alignment=16,
        max_len=131072,
        tp=4,
    )


def test_falcon_h1_keeps_attention_and_a_mamba_mixer_in_every_layer() -> None:
    model = parsed(FALCON_H1_7B, "tiiuae/Falcon-H1-7B-Instruct")
    assert model.unmodeled_layer_kinds == ()
    assert model.layer_kinds == (LayerKind.FULL,) * 44 and sum(model.state_layer_flags) == 44
    # the mixer is mamba_d_ssm (3072) wide, not mamba_expand x hidden_size (6144)
    page = mamba2_page(inner=3072, groups=1, heads=24, head_dim=128, state=256, tp=1)
    assert page == 1_594_368
    # 44 attention and 44 state layers: two groups of 44
    check(
        model,
        "tiiuae/Falcon-H1-7B-Instruct",
        attn_layers=44,
        state_layers=44,
        state_page=page,
        attn_per_token=2 * 2 * 128 * 2,
        alignment=16,
        max_len=131072,
    )


def test_kimi_linear_kda_state_beside_mla_v019() -> None:
    model = parsed(KIMI_LINEAR, "moonshotai/Kimi-Linear-48B-A3B-Instruct")
    assert model.unmodeled_layer_kinds == ()
    mla = [i + 1 for i, k in enumerate(model.layer_kinds) if k is LayerKind.MLA]
    assert mla == [4, 8, 12, 16, 20, 24, 27] and sum(model.state_layer_flags) == 20
    for tp in (1, 4):
        # kda_state_shape: q, k and v convolutions of 32 heads x 128 (kernel - 1 rows, bf16)
        # and the (heads, 128, 128) recurrent state in float32 (kda_state_dtype at auto)
        state = 3 * 32 * 128 // tp * 3 * 2 + 32 // tp * 128 * 128 * 4
        s = settings_for(
            model, "moonshotai/Kimi-Linear-48B-A3B", tp=tp, max_model_len=131072, version="0.19"
        )
        latent = 2 * (512 + 64)  # the MLA latent of one token, bf16, on every rank
        block = 64 * cdiv(state, 64 * latent)
        assert (s.state_page_bytes, s.block_size) == (state, block)
        kv = size_kv(model, s, BUDGET, 0)
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=7,
            state_layers=20,
            page=block * latent,
            block=block,
            state_blocks=1,
            max_len=131072,
            version="0.19",
        )
        assert groups == 4  # groups of 7: one MLA group, three KDA groups
        assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
        assert abs(kv.max_concurrency - concurrency) < 1e-9
    assert state == 542_720 and block == 512


QWEN36 = "Qwen/Qwen3.6-35B-A3B"


def test_qwen36_from_its_published_config_v033() -> None:
    model = catalog_model(QWEN36)
    assert (sum(model.state_layer_flags), model.cache_layer_count) == (30, 10)
    # gated delta net: 16 key and 32 value heads of 128, kernel 4; bf16 conv state and the
    # float32 SSM state its config's mamba_ssm_dtype asks for
    # (models/config.py Qwen3_5ForConditionalGenerationConfig)
    for tp in (1, 2):
        conv = (2 * 16 * 128 + 32 * 128) // tp * 3 * 2
        page = conv + 32 // tp * 128 * 128 * 4
        attn_per_token = 2 * (2 // tp) * 256 * 2
        # A100: 16-token alignment; align mode (prefix caching on), two state blocks
        s = settings_for(
            model, QWEN36, tp=tp, gpu="A100-80GB", max_model_len=262144, version="0.33"
        )
        block = 16 * cdiv(page, 16 * attn_per_token)
        assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, block, "align")
        kv = size_kv(model, s, BUDGET, 0)
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=10,
            state_layers=30,
            page=block * attn_per_token,
            block=block,
            state_blocks=2,
            max_len=262144,
            version="0.33",
        )
        assert groups == 4
        assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
        assert abs(kv.max_concurrency - concurrency) < 1e-9


BAMBA_9B: dict[str, Any] = {
    "architectures": ["BambaForCausalLM"],
    "model_type": "bamba",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 14336,
    "vocab_size": 128256,
    "attn_layer_indices": [9, 18, 27],
    "mamba_n_heads": 128,
    "mamba_d_head": 64,
    "mamba_n_groups": 1,
    "mamba_d_state": 128,
    "mamba_d_conv": 4,
    "mamba_expand": 2,
    "mamba_chunk_size": 256,
    "max_position_embeddings": 262144,
    "torch_dtype": "bfloat16",
}


def test_bamba_attention_at_its_indices_and_mamba2_elsewhere_v019() -> None:
    # 0.19.0 bamba.py: layers_block_type from attn_layer_indices (transformers' BambaConfig)
    model = parsed(BAMBA_9B, "ibm-ai-platform/Bamba-9B")
    assert model.unmodeled_layer_kinds == ()
    attends = [i for i, k in enumerate(model.layer_kinds) if k is LayerKind.FULL]
    assert attends == [9, 18, 27] and sum(model.state_layer_flags) == 29
    page = mamba2_page(inner=2 * 4096, groups=1, heads=128, head_dim=64, state=128, tp=1)
    attn_per_token = 2 * 8 * 128 * 2  # head_dim = hidden / heads
    s = settings_for(model, "ibm-ai-platform/Bamba-9B", max_model_len=65536, version="0.19")
    block = 16 * cdiv(page, 16 * attn_per_token)
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, block, "none")
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, groups = expected_kv(
        attn_layers=3,
        state_layers=29,
        page=block * attn_per_token,
        block=block,
        state_blocks=1,
        max_len=65536,
        version="0.19",
    )
    assert groups == 11  # groups of 3: one attention group, ten mamba groups
    assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
    assert abs(kv.max_concurrency - concurrency) < 1e-9
    # prefix caching: SupportsMambaPrefixCaching -> "all" mode, the block a multiple of the
    # 256-token chunk (mamba_chunk_size), one state block per block of the request
    s = settings_for(
        model,
        "ibm-ai-platform/Bamba-9B",
        max_model_len=65536,
        version="0.19",
        enable_prefix_caching=True,
    )
    block = 256 * cdiv(cdiv(page, attn_per_token), 256)
    assert (s.mamba_cache_mode, s.block_size) == ("all", block) == ("all", 768)
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, _ = expected_kv(
        attn_layers=3,
        state_layers=29,
        page=block * attn_per_token,
        block=block,
        state_blocks=cdiv(65536, block),
        max_len=65536,
        version="0.19",
    )
    assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


# Item 6: a layer kind without a recipe is never silently full attention (rule VW124 names it).
NEMOTRON = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"
QWEN3_NEXT = "Qwen/Qwen3-Next-80B-A3B-Thinking"


def vw124(model_id: str, model: ModelInfo) -> str:
    found = [
        f
        for f in plan(model_id, model=model, max_model_len=8192).feasibility.findings
        if f.rule_id == "VW124"
    ]
    assert len(found) == 1
    assert "not trustworthy" in found[0].message
    return found[0].message


def test_state_layers_of_a_type_without_a_recipe_are_flagged_not_left_silent() -> None:
    # gated delta net layers by full_attention_interval under a model_type with no state
    # recipe: no state is sized for them, and the plan says so
    model = catalog_model(QWEN3_NEXT, model_type="olmo_hybrid")
    assert model.state is None and model.cache_layer_count == 12
    assert "state layers of model_type 'olmo_hybrid'" in vw124(QWEN3_NEXT, model)


def test_an_unknown_nemotron_h_pattern_letter_is_flagged() -> None:
    found = lookup(NEMOTRON)
    assert found is not None
    pattern = str(found[0]["hybrid_override_pattern"])
    model = catalog_model(NEMOTRON, hybrid_override_pattern=pattern[:-1] + "Q")
    assert model.layer_kinds[-1] is LayerKind.FULL  # sized as attention, and so flagged
    assert "hybrid_override_pattern 'Q'" in vw124(NEMOTRON, model)


ZAMBA2_2_7B: dict[str, Any] = {
    "architectures": ["Zamba2ForCausalLM"],
    "model_type": "zamba2",
    "hidden_size": 2560,
    "num_hidden_layers": 54,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "intermediate_size": 10240,
    "vocab_size": 32000,
    "mamba_d_state": 64,
    "mamba_d_conv": 4,
    "mamba_expand": 2,
    "mamba_ngroups": 1,
    "n_mamba_heads": 80,
    "num_mem_blocks": 2,
    "adapter_rank": 128,
    "use_shared_attention_adapter": False,
    "hidden_act": "gelu",
    "chunk_size": 256,
    "max_position_embeddings": 4096,
    "torch_dtype": "bfloat16",
    "layers_block_type": ["mamba"]
    + (["mamba"] * 5 + ["hybrid"]) * 7
    + ["mamba"] * 4
    + ["hybrid"]
    + ["mamba"] * 3
    + ["hybrid"]
    + ["mamba"] * 2,
}


def test_zamba2_hybrid_layers_attend_and_every_layer_keeps_a_mamba_state() -> None:
    # zamba2.py: each of the 9 hybrid layers has its own Attention (32 KV heads of
    # attention_head_dim = 2 x 2560 / 32 = 160, on the shared block's 2 x hidden input) and
    # every one of the 54 layers a MambaMixer2 (mamba_headdim = 2 x 2560 / 80 = 64)
    model = parsed(ZAMBA2_2_7B, "Zyphra/Zamba2-2.7B")
    assert model.unmodeled_layer_kinds == ()
    assert (sum(model.state_layer_flags), model.cache_layer_count) == (54, 9)
    page = mamba2_page(inner=5120, groups=1, heads=80, head_dim=64, state=64, tp=1)
    assert page == 686_848
    check(
        model,
        "Zyphra/Zamba2-2.7B",
        attn_layers=9,
        state_layers=54,
        state_page=page,
        attn_per_token=2 * 32 * 160 * 2,
        alignment=16,
        max_len=4096,
    )
    # weights: two shared blocks, not an attention and an MLP per hybrid layer
    h, inter, rank = 2560, 10240, 128
    shared = 2 * (2 * h * 3 * 2 * h + 2 * h * h) + 2 * 3 * h * inter
    hybrid = 9 * (h * h + h * rank + rank * 2 * inter)
    params = model.params
    assert params.attention_linear + params.mlp_linear == shared + hybrid
    assert round(model.param_count / 1e8) == 27  # the published 2.7B


def test_an_unknown_zamba2_block_type_is_flagged() -> None:
    names = ["mamba"] * 53 + ["moe"]
    model = parsed({**ZAMBA2_2_7B, "layers_block_type": names}, "z")
    assert model.unmodeled_layer_kinds == ("layers_block_type 'moe'",)
    assert "layers_block_type 'moe'" in vw124("z", model)


GEMMA3N_E2B: dict[str, Any] = {
    "architectures": ["Gemma3nForConditionalGeneration"],
    "model_type": "gemma3n",
    "text_config": {
        "model_type": "gemma3n_text",
        "num_hidden_layers": 30,
        "num_kv_shared_layers": 10,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "sliding_window": 512,
        "vocab_size": 262400,
        "vocab_size_per_layer_input": 262144,
        "hidden_size_per_layer_input": 256,
        "max_position_embeddings": 32768,
        "torch_dtype": "bfloat16",
        "layer_types": ["full_attention" if i % 5 == 4 else "sliding_attention" for i in range(30)],
    },
}


def test_gemma3n_shared_kv_layers_allocate_nothing_and_the_rest_group_by_window() -> None:
    # models/gemma3n.py: the last num_kv_shared_layers layers read the cache of an earlier layer
    # of their type (kv_sharing_target_layer_name), so only layers 0-19 own a page: 4 full
    # (4, 9, 14, 19) and 16 sliding. Groups of 4 (16 >= 1.5 x 4): one full, four sliding.
    model = parsed(GEMMA3N_E2B, "google/gemma-3n-E2B-it")
    assert model.kv_layers == tuple(range(20)) and model.unmodeled_layer_kinds == ()
    page = 16 * 2 * 2 * 256 * 2  # 16 tokens, K and V, 2 KV heads of 256, bf16
    blocks = BUDGET // page // 4
    for version in ("0.19", "0.33"):
        s = settings_for(model, "google/gemma-3n-E2B-it", max_model_len=32768, version=version)
        kv = size_kv(model, s, BUDGET, 0)
        assert (s.block_size, kv.layout.page_bytes, kv.layout.group_size) == (16, page, 4)
        assert sorted(k.value for k in kv.layout.kinds) == ["full"] + ["sliding"] * 4
        # SlidingWindowSpec.max_memory_usage_bytes: the window plus the tokens in flight (one
        # step's in 0.19; every batch in flight in 0.33), one more block for the window's
        # edge; FullAttentionSpec: the whole request
        in_flight = s.in_flight_batches * s.max_num_batched_tokens
        window = min(512 - 1 + in_flight, 32768)
        per_request = cdiv(32768, 16) + 4 * (cdiv(window, 16) + 1)
        concurrency = blocks / per_request
        tokens = blocks // 5 * 16 if version == "0.19" else int(concurrency * 32768)
        assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
        assert abs(kv.max_concurrency - concurrency) < 1e-9


MINIMAX_TEXT_01: dict[str, Any] = {
    "architectures": ["MiniMaxText01ForCausalLM"],
    "model_type": "minimax_text_01",
    "hidden_size": 6144,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "rotary_dim": 64,
    "intermediate_size": 9216,
    "num_local_experts": 32,
    "num_experts_per_tok": 2,
    "vocab_size": 200064,
    "max_position_embeddings": 10240000,
    "attn_type_list": ([0] * 7 + [1]) * 10,
    "torch_dtype": "bfloat16",
}


def test_minimax_text_01_lightning_attention_state_v019() -> None:
    # 0.19.0 minimax_text_01.py: attn_type_list 0 -> MiniMaxText01LinearAttention, a MambaSpec
    # of one (heads / tp, head_dim, head_dim) tensor in the model dtype; 1 -> attention
    model = parsed(MINIMAX_TEXT_01, "MiniMaxAI/MiniMax-Text-01")
    assert model.unmodeled_layer_kinds == ()
    assert (sum(model.state_layer_flags), model.cache_layer_count) == (70, 10)
    assert round(model.param_count / 1e9) == 456  # the published 456B total
    for tp in (8, 4):
        state = 64 // tp * 128 * 128 * 2
        attn_per_token = 2 * (8 // tp) * 128 * 2
        s = settings_for(
            model,
            "MiniMaxAI/MiniMax-Text-01",
            tp=tp,
            gpu="H200",
            max_model_len=1048576,
            version="0.19",
        )
        block = 16 * cdiv(state, 16 * attn_per_token)
        assert (s.state_page_bytes, s.block_size) == (state, block) and block == 512
        kv = size_kv(model, s, BUDGET, 0)
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=10,
            state_layers=70,
            page=block * attn_per_token,
            block=block,
            state_blocks=1,
            max_len=1048576,
            version="0.19",
        )
        assert groups == 8  # groups of 10: one attention group, seven state groups
        assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
        assert abs(kv.max_concurrency - concurrency) < 1e-9
    # transformers' own MiniMax configs name the same layers by layer_types
    named = {
        **MINIMAX_TEXT_01,
        "model_type": "minimax",
        "layer_types": [
            "full_attention" if t else "linear_attention" for t in MINIMAX_TEXT_01["attn_type_list"]
        ],
    }
    del named["attn_type_list"]
    assert parsed(named, "m").layer_kinds == model.layer_kinds


def test_speculative_tokens_add_conv_rows_and_state_blocks() -> None:
    """Qwen3-Next with 2 MTP tokens: the gated delta net conv state keeps 2 more rows
    (gated_delta_net_state_shape num_spec) and each request 2 more state blocks per state layer
    (MambaSpec.num_speculative_blocks; max_memory_usage_bytes 1 + n, align 2 + n); the MTP
    layer's attention joins the target's 12 (groups of 13)."""
    model = catalog_model(QWEN3_NEXT)
    conv = 2 * 16 * 128 + 32 * 128
    page = 2 * (conv * (4 - 1 + 2) + 32 * 128 * 128)
    attn_per_token = 2 * 2 * 256 * 2
    for version, gpu, mode, state_blocks in (
        ("0.19", "H100-80GB", "none", 1 + 2),
        ("0.33", "A100-80GB", "align", 2 + 2),
    ):
        request = make_request(
            QWEN3_NEXT,
            gpu,
            max_model_len=32768,
            version=version,
            speculative_config={"method": "mtp", "num_speculative_tokens": 2},
        )
        spec = build_spec(request.engine, model, None, version_facts(version).version)
        s = resolve_settings(request, model, find_gpu(gpu), tp=1, spec=spec)
        block = 16 * cdiv(page, 16 * attn_per_token)
        assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, block, mode)
        assert block == 560  # 544 without the speculative rows
        kv = size_kv(model, s, BUDGET, 0)
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=13,
            state_layers=36,
            page=block * attn_per_token,
            block=block,
            state_blocks=state_blocks,
            max_len=32768,
            version=version,
        )
        assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
        assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_speculative_conv_rows_follow_each_releases_calculators() -> None:
    # 0.19.0's kda_state_shape ignores num_spec; 0.33.0's adds the rows; Jamba's mamba1 never
    kda = StateInfo(kind=StateKind.KDA, num_heads=32, head_dim=128, conv_kernel=4)
    conv = 3 * 32 * 128 * 2  # q, k and v convolutions, bf16, per row
    plain = state_page_bytes(kda, 1, "bfloat16", "0.19.0")
    assert state_page_bytes(kda, 1, "bfloat16", "0.19.0", num_spec=3) == plain
    assert state_page_bytes(kda, 1, "bfloat16", "0.33.0", num_spec=3) == plain + 3 * conv
    jamba = catalog_model("ai21labs/AI21-Jamba-1.5-Mini").state
    assert jamba is not None
    assert state_page_bytes(jamba, 1, "bfloat16", "0.33.0", num_spec=3) == state_page_bytes(
        jamba, 1, "bfloat16", "0.33.0"
    )


def test_explain_says_what_the_recurrent_state_costs_a_request() -> None:
    resp = plan(
        QWEN3_NEXT,
        "A100-80GB",
        max_model_len=32768,
        version="0.33",
        explain=True,
        speculative_config={"method": "mtp", "num_speculative_tokens": 2},
    )
    words = resp.config.explanations["recurrent state"]
    page = 560 * 2 * 2 * 256 * 2  # the raised attention page the state is padded to
    assert words.startswith(
        f"36 gdn state layers on the first rank, 4 blocks each per request (2 in align mode, "
        f"2 more for the speculative tokens) of {page:,} bytes"
    )
    assert f"{36 * 4 * page / (1 << 20):,.1f} MiB per request" in words
    dense = plan("meta-llama/Llama-3.1-8B-Instruct", max_model_len=8192, explain=True)
    assert "recurrent state" not in dense.config.explanations


def test_a_malformed_attn_type_list_is_flagged_not_read_as_full_attention() -> None:
    for bad in (([0] * 7 + [1]) * 9, ([0] * 7 + [2]) * 10, "0,1", [[0]] * 80):
        model = parsed({**MINIMAX_TEXT_01, "attn_type_list": bad}, "m")
        assert model.unmodeled_layer_kinds == ("attn_type_list (not one 0 or 1 per layer)",)
    # no list at all: every layer attends, as vLLM defaults it
    config = dict(MINIMAX_TEXT_01)
    del config["attn_type_list"]
    model = parsed(config, "m")
    assert model.unmodeled_layer_kinds == () and model.cache_layer_count == 80


def test_malformed_attn_layer_indices_are_flagged() -> None:
    for bad in ("9", [9, "18"], {"9": 1}, [[9]]):
        model = parsed({**BAMBA_9B, "attn_layer_indices": bad}, "b")
        assert model.unmodeled_layer_kinds == ("attn_layer_indices (not a list of layer numbers)",)
    # none given: every layer is a mamba layer (transformers' BambaConfig.layers_block_type)
    model = parsed({**BAMBA_9B, "attn_layer_indices": None}, "b")
    assert model.cache_layer_count == 0 and sum(model.state_layer_flags) == 32


def test_nemotron_h_56b_from_its_published_config_at_tp8() -> None:
    # 54 Mamba-2 layers (256 heads of 64, 8 groups, state 256) and 10 attention layers of 8 KV
    # heads; no mamba_ssm_cache_dtype in the config: NemotronHForCausalLMConfig keeps the SSM
    # state in float16 in 0.19.0 and float32 in 0.33.0 (0.33: align mode, two state blocks)
    model_id = "nvidia/Nemotron-H-56B-Base-8K"
    model = catalog_model(model_id)
    assert (sum(model.state_layer_flags), model.cache_layer_count) == (54, 10)
    conv = (256 * 64 + 2 * 8 * 256) // 8 * (4 - 1) * 2
    for version, ssm_bytes, state_blocks in (("0.19", 2, 1), ("0.33", 4, 2)):
        page = conv + 256 // 8 * 64 * 256 * ssm_bytes
        s = settings_for(model, model_id, tp=8, gpu="H200", max_model_len=8192, version=version)
        attn_per_token = 2 * 1 * 128 * 2
        block = 16 * cdiv(page, 16 * attn_per_token)
        assert (s.state_page_bytes, s.block_size) == (page, block)
        kv = size_kv(model, s, BUDGET, 0)
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=10,
            state_layers=54,
            page=block * attn_per_token,
            block=block,
            state_blocks=state_blocks,
            max_len=8192,
            version=version,
        )
        assert groups == 7  # groups of 10: one attention group, six mamba groups
        assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
        assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_an_mla_backends_block_carries_into_tokens_and_concurrency() -> None:
    # DeepSeek-V3 on B200: FlashInfer MLA's 32-token blocks (attention_backends.yaml); one
    # group of 61 MLA layers: tokens num_blocks x 32 (0.19) or concurrency x length (0.33)
    model_id = "deepseek-ai/DeepSeek-V3"
    model = catalog_model(model_id)
    page = 32 * (512 + 64) * 2
    for version in ("0.19", "0.33"):
        s = settings_for(model, model_id, tp=8, gpu="B200", max_model_len=65536, version=version)
        assert s.block_size == 32
        kv = size_kv(model, s, BUDGET, 0)
        blocks = BUDGET // page // 61
        concurrency = blocks / cdiv(65536, 32)
        tokens = blocks * 32 if version == "0.19" else int(concurrency * 65536)
        assert (kv.layout.page_bytes, len(kv.layout.kinds)) == (page, 1)
        assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
        assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_the_033_transformers_backend_refuses_bamba_s_mamba_layers() -> None:
    # 0.33.0 has no BambaForCausalLM of its own: the Transformers backend builds it and stops at
    # the first decoder layer that does not attend (transformers/base.py)
    model = parsed(BAMBA_9B, "ibm-ai-platform/Bamba-9B")
    resp = plan("ibm-ai-platform/Bamba-9B", model=model, max_model_len=8192, version="0.33")
    found = only(resp, "VW207")
    assert found.severity is Severity.ERROR and resp.feasibility.verdict is Verdict.FAIL
    assert found.message == (
        "Layer 0 does not dispatch through the Transformers attention interface and vLLM has no "
        "other way to handle it."
    )
    native = plan("ibm-ai-platform/Bamba-9B", model=model, max_model_len=8192, version="0.19")
    assert not fired(native, "VW207")
    # an attention-only model on the Transformers backend is not refused
    llama = catalog_model(
        "meta-llama/Llama-3.1-8B-Instruct", architectures=["MllamaForConditionalGeneration"]
    )
    mllama = plan("meta-llama/Llama-3.1-8B-Instruct", model=llama, max_model_len=8192)
    assert fired(mllama, "VW121") and not fired(mllama, "VW207")


def test_a_float32_minimax_state_is_refused() -> None:
    model = parsed(MINIMAX_TEXT_01, "MiniMaxAI/MiniMax-Text-01")
    resp = plan(
        "MiniMaxAI/MiniMax-Text-01",
        "H200",
        gpus=8,
        tp=8,
        model=model,
        max_model_len=8192,
        version="0.19",
        mamba_cache_dtype="float32",
    )
    found = only(resp, "VW140")
    assert found.message == "fp32 state for minimax is not yet supported"
    assert found.fix_values == {"outputs.vllm_args.mamba-cache-dtype": "auto"}
    # Bamba's Mamba-2 state takes it
    bamba = parsed(BAMBA_9B, "b")
    assert not fired(
        plan("b", model=bamba, max_model_len=8192, version="0.19", mamba_cache_dtype="float32"),
        "VW140",
    )
