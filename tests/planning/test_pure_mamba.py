"""Attention-free Mamba, Mamba-2 and FalconMamba models (IsAttentionFree classes), from the
catalog's real configs, against vLLM's arithmetic worked out by hand here:
- classes: 0.19.0 / 0.33.0 models/mamba.py MambaForCausalLM (FalconMambaForCausalLM maps to it
  in registry.py) and models/mamba2.py Mamba2ForCausalLM: every layer a norm and a mixer;
- state: MambaStateShapeCalculator.mamba1_state_shape (intermediate_size, conv_kernel - 1) and
  (intermediate_size, state_size); mamba2_state_shape (expand x hidden + 2 x groups x state,
  conv_kernel - 1) and (heads, head_dim, state); both in the model dtype at auto;
- no attention layer, not is_hybrid: HybridAttentionMambaModelConfig never runs (0.19.0
  config/vllm.py try_verify_and_update_config) and 0.33.0 update_block_size_for_backend finds
  no attention backend, so the block stays 16 and the state page is not padded;
- prefix caching is off by default (config/model.py is_prefix_caching_supported:
  "attention_free"), so MambaModelConfig sets mamba_block_size to max_model_len and one state
  block serves a request; with prefix caching on, 0.19.0 runs "all" mode (both classes
  implement SupportsMambaPrefixCaching, one block per 16 tokens), 0.33.0 "align" (2 blocks);
- blocks = available // page // layers (one uniform MambaSpec group); 0.19.0 logs
  num_blocks x the group's block size (max_model_len without prefix caching), 0.33.0
  int(concurrency x max_model_len).
"""

from __future__ import annotations

from checker.planning.kvcache.kv import size_kv
from checker.schemas.model_info import LayerKind, StateKind
from tests.planning.plans import catalog_model, fired, only, plan
from tests.planning.test_hybrid_state import BUDGET, cdiv, settings_for

MAMBA_130M = "state-spaces/mamba-130m-hf"
MAMBA_28B = "state-spaces/mamba-2.8b-hf"
FALCON_MAMBA = "tiiuae/falcon-mamba-7b"
CODESTRAL = "mistralai/Mamba-Codestral-7B-v0.1"
MAX_LEN = 32768


def mamba1_params(
    *, hidden: int, inner: int, state: int, rank: int, layers: int, vocab: int, tied: bool
) -> int:
    """MambaMixer's in_proj, conv1d, x_proj, dt_proj, A, D, out_proj and the layer norm; the
    embedding, the final norm and an untied LM head (conv and dt biases left out)."""
    mixer = (
        hidden * 2 * inner
        + inner * 4
        + inner * (rank + 2 * state)
        + rank * inner
        + inner * state
        + inner
        + inner * hidden
    )
    return layers * (mixer + hidden) + vocab * hidden * (1 if tied else 2) + hidden


def mamba1_page(*, inner: int, state: int, tp: int = 1, dtype_bytes: int = 2) -> int:
    return (inner // tp * (4 - 1) + inner // tp * state) * dtype_bytes


def test_the_four_configs_parse_as_attention_free_state_models() -> None:
    for model_id, kind, layers in (
        (MAMBA_130M, StateKind.MAMBA1, 24),
        (MAMBA_28B, StateKind.MAMBA1, 64),
        (FALCON_MAMBA, StateKind.MAMBA1, 64),
        (CODESTRAL, StateKind.MAMBA2, 64),
    ):
        model = catalog_model(model_id)
        assert model.attention_free and model.state is not None
        assert model.state.kind is kind and model.state.all_mode
        assert model.layer_kinds == (LayerKind.LINEAR,) * layers
        assert (model.num_attention_heads, model.num_key_value_heads, model.head_dim) == (0, 0, 0)
        assert (model.cache_layer_count, sum(model.state_layer_flags)) == (0, layers)
        assert model.unmodeled_layer_kinds == ()
        # no length key in any of them: vLLM assumes 2048 unless max_model_len is given
        assert (model.config_max_len, model.max_len_key) == (2048, None)


def test_weights_from_the_configs() -> None:
    # every dt rank is the config's time_step_rank (= ceil(hidden / 16) in all three)
    assert catalog_model(MAMBA_130M).param_count == mamba1_params(
        hidden=768, inner=1536, state=16, rank=48, layers=24, vocab=50280, tied=True
    )
    assert catalog_model(MAMBA_28B).param_count == mamba1_params(
        hidden=2560, inner=5120, state=16, rank=160, layers=64, vocab=50280, tied=True
    )
    falcon = catalog_model(FALCON_MAMBA)
    assert falcon.param_count == mamba1_params(
        hidden=4096, inner=8192, state=16, rank=256, layers=64, vocab=65024, tied=False
    )
    assert falcon.param_count == 7_271_616_512  # the published "7.27B"
    # Mamba2Mixer: in_proj to z, x, B, C and dt (8192 + 10240 + 128), conv1d over x, B and C
    # (8192 + 2 x 8 x 128 = 10240 channels), dt_bias, A, D, the gated norm, out_proj
    conv = 8192 + 2 * 8 * 128
    mixer = 4096 * (8192 + conv + 128) + conv * 4 + 8192 * 4096 + 3 * 128 + 8192
    expected = 64 * (mixer + 4096) + 2 * 32768 * 4096 + 4096
    codestral = catalog_model(CODESTRAL)
    assert codestral.param_count == expected
    # the published count, 7,285,403,648, also holds the conv biases (64 x 10240) left out here
    assert 7_285_403_648 - expected == 64 * conv


def test_falcon_mamba_v019_keeps_block_16_and_one_unpadded_state_block_a_request() -> None:
    model = catalog_model(FALCON_MAMBA)
    page = mamba1_page(inner=8192, state=16)  # bf16 checkpoint: 311,296 bytes
    assert page == 311_296
    s = settings_for(model, FALCON_MAMBA, max_model_len=MAX_LEN, version="0.19")
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, 16, "none")
    kv = size_kv(model, s, BUDGET, 0)
    blocks = BUDGET // page // 64
    assert (kv.layout.page_bytes, kv.layout.kinds) == (page, (LayerKind.LINEAR,))
    # the group's block size is mamba_block_size = max_model_len; one block a request
    assert (kv.num_blocks, kv.tokens, kv.max_concurrency) == (blocks, blocks * MAX_LEN, blocks)
    assert blocks == 2155


def test_falcon_mamba_v033_the_same_without_prefix_caching() -> None:
    model = catalog_model(FALCON_MAMBA)
    page = mamba1_page(inner=8192, state=16)
    s = settings_for(model, FALCON_MAMBA, max_model_len=MAX_LEN, version="0.33")
    # unlike hybrids, 0.33 leaves prefix caching off for attention-free models
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, 16, "none")
    kv = size_kv(model, s, BUDGET, 0)
    blocks = BUDGET // page // 64
    assert (kv.num_blocks, kv.max_concurrency, kv.tokens) == (blocks, blocks, blocks * MAX_LEN)


def test_codestral_mamba2_at_tp2_with_prefix_caching_in_both_releases() -> None:
    model = catalog_model(CODESTRAL)
    # TP 2: conv channels 10240 / 2 x 3 rows, 64 of 128 heads x 64 x state 128; bf16
    page = (10240 // 2 * 3 + 128 // 2 * 64 * 128) * 2
    assert page == 1_079_296
    # 0.19.0: "all" mode (SupportsMambaPrefixCaching), mamba_block_size = block_size = 16
    s = settings_for(
        model, CODESTRAL, tp=2, max_model_len=MAX_LEN, version="0.19", enable_prefix_caching=True
    )
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, 16, "all")
    kv = size_kv(model, s, BUDGET, 0)
    blocks = BUDGET // page // 64
    assert (kv.layout.page_bytes, kv.num_blocks, kv.tokens) == (page, blocks, blocks * 16)
    assert abs(kv.max_concurrency - blocks / cdiv(MAX_LEN, 16)) < 1e-9
    # 0.33.0: "align" mode, two blocks a request, the block still 16
    s = settings_for(
        model, CODESTRAL, tp=2, max_model_len=MAX_LEN, version="0.33", enable_prefix_caching=True
    )
    assert (s.state_page_bytes, s.block_size, s.mamba_cache_mode) == (page, 16, "align")
    kv = size_kv(model, s, BUDGET, 0)
    assert (kv.num_blocks, kv.max_concurrency) == (blocks, blocks / 2)
    assert kv.tokens == int(blocks / 2 * MAX_LEN)


def test_a_float32_checkpoint_keeps_its_state_in_the_dtype_vllm_runs() -> None:
    # mamba-130m-hf is a float32 checkpoint: dtype auto runs it in bfloat16 on an H100, and
    # the state follows the model dtype (MambaStateDtypeCalculator at auto)
    model = catalog_model(MAMBA_130M)
    s = settings_for(model, MAMBA_130M, max_model_len=MAX_LEN, version="0.33")
    assert s.dtype == "bfloat16"
    assert s.state_page_bytes == mamba1_page(inner=1536, state=16) == 58_368


def test_a_plan_passes_past_2048_tokens_and_prints_vllms_figures() -> None:
    # no length key: vLLM takes the given max_model_len as is (_get_and_verify_max_len)
    resp = plan(MAMBA_28B, "L4", max_model_len=MAX_LEN, version="0.19", explain=True)
    assert not fired(resp, "VW103")
    kv = resp.feasibility.kv
    assert kv is not None and (kv.block_size, kv.page_bytes) == (
        16,
        mamba1_page(inner=5120, state=16),
    )
    assert (kv.tokens, kv.max_concurrency) == (kv.num_blocks * MAX_LEN, kv.num_blocks)
    words = resp.config.explanations["recurrent state"]
    assert words.startswith(
        f"64 mamba1 state layers on the first rank, 1 block each per request (1 in none mode) "
        f"of {mamba1_page(inner=5120, state=16):,} bytes: "
    )
    tp = next(r for r in resp.recommendations if r.key == "tensor_parallel_size")
    assert "attention heads" not in tp.reason


def test_decode_context_parallel_divides_by_the_zero_kv_heads_as_vllm_does() -> None:
    # ModelConfig.verify_with_parallel_config: max_dcp_size = tp // total_num_kv_heads, and an
    # attention-free model has none: vLLM stops with a ZeroDivisionError
    for version in ("0.19", "0.33"):
        resp = plan(
            CODESTRAL,
            gpus=2,
            tp=2,
            max_model_len=MAX_LEN,
            version=version,
            decode_context_parallel_size=2,
        )
        finding = only(resp, "VW135")
        assert finding.message == "integer division or modulo by zero"
        assert finding.key == "outputs.vllm_args.decode-context-parallel-size"
