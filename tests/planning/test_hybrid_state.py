"""Hybrid mamba / linear-attention models against vLLM's own arithmetic, from real configs.

Expected values are worked out here from vLLM's formulas, not from the planner:
- state shapes: model_executor/layers/mamba/mamba_utils.py MambaStateShapeCalculator, dtypes
  MambaStateDtypeCalculator and models/config.py (NemotronHForCausalLMConfig);
- block size: 0.19.0 models/config.py HybridAttentionMambaModelConfig, 0.33.0
  platforms/interface.py Platform._align_hybrid_block_size: the smallest multiple of the kernel
  alignment whose attention page covers the state page (all mode: of lcm(chunk, 16));
- groups: v1/core/kv_cache_utils.py _get_kv_cache_groups_uniform_page_size;
- blocks: available // page // layers per group (get_kv_cache_config_from_groups);
- per request: v1/kv_cache_interface.py MambaSpec.max_memory_usage_bytes (1 block without
  prefix caching, 2 in align mode, one per block in all mode) plus cdiv(len, block) for
  full attention;
- tokens: 0.19.0 num_blocks // groups * block_size; 0.33.0 int(concurrency * max_model_len).
"""

from __future__ import annotations

from math import lcm

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.kvcache.kv import size_kv
from checker.planning.kvcache.state import state_dtype_bytes, state_shapes
from checker.schemas.model_info import ModelInfo, StateInfo, StateKind
from tests.planning.plans import catalog_model, make_request, only, plan

GIB = 1 << 30
BUDGET = 40 * GIB
QWEN3_NEXT = "Qwen/Qwen3-Next-80B-A3B-Thinking"
NEMOTRON = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"
JAMBA = "ai21labs/AI21-Jamba-1.5-Mini"


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def settings_for(
    model: ModelInfo, model_id: str, *, tp: int = 1, gpu: str = "H100-80GB", **kw: object
) -> Settings:
    request = make_request(model_id, gpu, gpus=tp, tp=tp, **kw)  # type: ignore[arg-type]
    return resolve_settings(request, model, find_gpu(gpu), tp=tp)


def expected_kv(
    *,
    attn_layers: int,
    state_layers: int,
    page: int,
    block: int,
    state_blocks: int,
    max_len: int,
    version: str,
) -> tuple[int, int, float, int]:
    """(blocks, tokens, concurrency, groups) for BUDGET bytes, vLLM's way."""
    group = min(attn_layers, state_layers)
    if max(attn_layers, state_layers) < 1.5 * group:
        group = max(attn_layers, state_layers)
    groups = cdiv(attn_layers, group) + cdiv(state_layers, group)
    blocks = BUDGET // page // group
    per_request = cdiv(max_len, block) * cdiv(attn_layers, group) + state_blocks * cdiv(
        state_layers, group
    )
    concurrency = blocks / per_request
    tokens = int(concurrency * max_len) if version == "0.33" else blocks // groups * block
    return blocks, tokens, concurrency, groups


def gdn_page(tp: int) -> int:
    # Qwen3-Next: 16 key heads x 128, 32 value heads x 128, conv kernel 4, bf16 state
    conv = (2 * 16 * 128 + 32 * 128) // tp * (4 - 1)
    temporal = 32 // tp * 128 * 128
    return 2 * (conv + temporal)


def test_qwen3_next_block_size_pages_groups_tokens_v033_align() -> None:
    model = catalog_model(QWEN3_NEXT)
    attn_per_token = 2 * 2 * 256 * 2  # K and V, 2 KV heads of 256, bf16
    assert gdn_page(1) == 1_097_728
    # A100: Triton GDN prefill, no checkpoints: the 16-token kernel alignment, 2 state blocks.
    # H100: FlashInfer's GDN prefill checkpoints every 64 tokens, so the block is a multiple of
    # lcm(16, 64) and each request keeps a third state block.
    for gpu, alignment, state_blocks in (("A100-80GB", 16, 2), ("H100-80GB", 64, 3)):
        s = settings_for(model, QWEN3_NEXT, gpu=gpu, max_model_len=32768, version="0.33")
        block = alignment * cdiv(gdn_page(1), alignment * attn_per_token)
        assert s.block_size == block and s.mamba_cache_mode == "align"  # prefix caching: on
        kv = size_kv(model, s, BUDGET, 0)
        page = block * attn_per_token
        blocks, tokens, concurrency, groups = expected_kv(
            attn_layers=12,
            state_layers=36,
            page=page,
            block=block,
            state_blocks=state_blocks,
            max_len=32768,
            version="0.33",
        )
        assert (kv.layout.page_bytes, len(kv.layout.kinds), kv.layout.group_size) == (
            page,
            groups,
            12,
        )
        assert (kv.num_blocks, kv.tokens) == (blocks, tokens)
        assert abs(kv.max_concurrency - concurrency) < 1e-9
    assert settings_for(model, QWEN3_NEXT, gpu="A100-80GB", version="0.33").block_size == 544


def test_qwen3_next_tp2_v019_without_prefix_caching() -> None:
    model = catalog_model(QWEN3_NEXT)
    s = settings_for(model, QWEN3_NEXT, tp=2, max_model_len=32768, version="0.19")
    attn_per_token = 2 * 1 * 256 * 2  # 2 KV heads over TP 2
    block = 16 * cdiv(gdn_page(2), 16 * attn_per_token)
    assert s.block_size == block == 544 and s.mamba_cache_mode == "none"  # 0.19: off for hybrids
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, groups = expected_kv(
        attn_layers=12,
        state_layers=36,
        page=block * attn_per_token,
        block=block,
        state_blocks=1,
        max_len=32768,
        version="0.19",
    )
    assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
    assert abs(kv.max_concurrency - concurrency) < 1e-9


def test_hybrids_take_prefix_caching_by_default_from_026() -> None:
    # config/model.py ModelConfig.is_prefix_caching_supported: "Hybrid models do not support
    # prefix caching" in the 0.25.0 wheel, "Generative hybrid models support prefix caching" in
    # 0.26.0; prefix caching then runs the GDN state in align mode (2 blocks a request)
    model = catalog_model(QWEN3_NEXT)
    modes = {
        v: settings_for(model, QWEN3_NEXT, max_model_len=32768, version=v).mamba_cache_mode
        for v in ("0.25.0", "0.26.0", "0.29.0")
    }
    assert modes == {"0.25.0": "none", "0.26.0": "align", "0.29.0": "align"}


def test_mamba_all_mode_until_027_then_align_only() -> None:
    # models/config.py MambaModelConfig: prefix caching runs a SupportsMambaPrefixCaching model
    # (Jamba) in "all" mode in the 0.27.0 wheel, "align" in every release from 0.28.0
    model = catalog_model(JAMBA)
    modes = {
        v: settings_for(model, JAMBA, max_model_len=65536, version=v).mamba_cache_mode
        for v in ("0.27.0", "0.28.0")
    }
    assert modes == {"0.27.0": "all", "0.28.0": "align"}


def test_nemotron_h_float32_ssm_state_and_the_block_it_forces() -> None:
    model = catalog_model(NEMOTRON)
    # mamba2: 64 heads x 64, 8 groups of state 128, kernel 4; conv in bf16, SSM in float32
    conv = (64 * 64 + 2 * 8 * 128) * (4 - 1) * 2
    page = conv + 64 * 64 * 128 * 4
    assert page == 2_134_016
    attn_per_token = 2 * 2 * 128 * 2
    block = 16 * cdiv(page, 16 * attn_per_token)
    for version in ("0.19", "0.33"):
        s = settings_for(model, NEMOTRON, max_model_len=131072, version=version)
        assert (s.state_page_bytes, s.block_size) == (page, block) == (page, 2096)
        kv = size_kv(model, s, BUDGET, 0)
        state_blocks = 2 if version == "0.33" else 1  # align mode / no prefix caching
        blocks, tokens, _, groups = expected_kv(
            attn_layers=6,
            state_layers=23,
            page=block * attn_per_token,
            block=block,
            state_blocks=state_blocks,
            max_len=131072,
            version=version,
        )
        assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)


def test_nemotron_h_without_a_config_dtype_takes_each_releases_default() -> None:
    # NemotronHForCausalLMConfig: float16 in 0.19.0, float32 (DEFAULT_MAMBA_SSM_CACHE_DTYPE)
    # in 0.33.0 when the config does not say
    model = catalog_model(NEMOTRON, mamba_ssm_cache_dtype=None)
    conv = (64 * 64 + 2 * 8 * 128) * 3 * 2
    pages = {"0.19": conv + 64 * 64 * 128 * 2, "0.33": conv + 64 * 64 * 128 * 4}
    for version, page in pages.items():
        assert settings_for(model, NEMOTRON, version=version).state_page_bytes == page


def test_jamba_mamba1_all_mode_in_019_and_align_in_033() -> None:
    model = catalog_model(JAMBA)
    assert sum(model.state_layer_flags) == 28  # attention at i % 8 == 4
    inner = 2 * 4096
    page = inner * (4 - 1) * 2 + inner * 16 * 2  # conv and SSM state, bf16
    attn_per_token = 2 * 8 * 128 * 2
    # 0.19 with prefix caching: Jamba supports Mamba prefix caching -> "all" mode; no chunk
    # size in its config -> get_mamba_chunk_size's 2048
    step = lcm(2048, 16)
    s = settings_for(model, JAMBA, max_model_len=65536, version="0.19", enable_prefix_caching=True)
    block = step * cdiv(cdiv(page, attn_per_token), step)
    assert (s.mamba_cache_mode, s.block_size) == ("all", block) == ("all", 2048)
    kv = size_kv(model, s, BUDGET, 0)
    blocks, tokens, concurrency, groups = expected_kv(
        attn_layers=4,
        state_layers=28,
        page=block * attn_per_token,
        block=block,
        state_blocks=cdiv(65536, block),  # one state block per block of the request
        max_len=65536,
        version="0.19",
    )
    assert (kv.num_blocks, kv.tokens, len(kv.layout.kinds)) == (blocks, tokens, groups)
    assert abs(kv.max_concurrency - concurrency) < 1e-9
    # 0.33: align mode, smallest 16-multiple covering the state
    s = settings_for(model, JAMBA, max_model_len=65536, version="0.33")
    assert (s.mamba_cache_mode, s.block_size) == ("align", 16 * cdiv(page, 16 * attn_per_token))


def test_the_printed_block_size_is_the_raised_one() -> None:
    resp = plan(QWEN3_NEXT, "H200", gpus=2, tp=2, max_model_len=32768, version="0.19")
    assert resp.feasibility.kv is not None and resp.feasibility.kv.block_size == 544


def test_an_unknown_layer_kind_is_flagged_not_silently_full_attention() -> None:
    kinds = ["linear_attention", "linear_attention", "linear_attention", "hybrid_attention"] * 12
    model = catalog_model(QWEN3_NEXT, layer_types=kinds)
    assert model.unmodeled_layer_kinds == ("layer_types 'hybrid_attention'",)
    found = only(plan(QWEN3_NEXT, model=model, max_model_len=8192), "VW124")
    assert "hybrid_attention" in found.message and "not trustworthy" in found.message


def test_state_keys_without_a_recipe_are_flagged() -> None:
    # a Zamba2-style layout on a model_type with no state recipe
    model = catalog_model("meta-llama/Llama-3.1-8B", layers_block_type=["mamba"] * 31 + ["hybrid"])
    assert model.unmodeled_layer_kinds == ("state layers ('layers_block_type')",)
    assert only(plan("meta-llama/Llama-3.1-8B", model=model, max_model_len=8192), "VW124")


def test_a_known_model_without_unknown_kinds_has_no_flag() -> None:
    resp = plan(NEMOTRON, max_model_len=8192)
    assert not [f for f in resp.feasibility.findings if f.rule_id == "VW124"]


def test_state_calculators_follow_mamba_utils() -> None:
    # MambaStateShapeCalculator / MambaStateDtypeCalculator on their own inputs (no config):
    # mamba2 replicates n_groups to the TP size when they do not divide it
    mamba2 = StateInfo(
        kind=StateKind.MAMBA2,
        intermediate_size=4096,
        n_groups=1,
        num_heads=64,
        head_dim=64,
        state_size=128,
        conv_kernel=4,
    )
    assert state_shapes(mamba2, 4) == (((4096 + 2 * 4 * 128) // 4, 3), (16, 64, 128))
    # Qwen3.5: the config's mamba_ssm_dtype sets the SSM state dtype (conv stays bf16)
    qwen35 = StateInfo(
        kind=StateKind.GDN,
        num_k_heads=16,
        head_k_dim=128,
        num_heads=32,
        head_dim=128,
        conv_kernel=4,
        ssm_dtype="float32",
        ssm_dtype_rule="config",
    )
    assert state_dtype_bytes(qwen35, "bfloat16", "0.33.0") == (2, 4)
    # KDA keeps its recurrent state in float32 at auto; LFM2's short conv is one tensor
    kda = StateInfo(kind=StateKind.KDA, num_heads=32, head_dim=128, conv_kernel=4)
    assert state_dtype_bytes(kda, "bfloat16", "0.19.0") == (2, 4)
    assert state_shapes(kda, 2) == ((3 * 32 * 128 // 2, 3), (16, 128, 128))
    conv = StateInfo(kind=StateKind.SHORT_CONV, intermediate_size=2048, conv_kernel=3)
    assert state_shapes(conv, 1) == ((2048, 2),) and state_dtype_bytes(conv, "float16", "") == (2,)


def test_the_log_shows_the_raised_block_and_the_state_padding() -> None:
    resp = plan(NEMOTRON, max_model_len=131072, version="0.33")
    page = 2096 * 2 * 2 * 128 * 2  # the raised attention page the state is padded to
    pct = 100 * (page - 2_134_016) / 2_134_016
    assert resp.feasibility.log_lines[:2] == [
        "Setting attention block size to 2096 tokens to ensure that attention page size is >= "
        "mamba page size.",
        f"Padding mamba page size by {pct:.2f}% to ensure that mamba page size and attention "
        "page size are exactly equal.",
    ]
    dense = plan("meta-llama/Llama-3.1-8B-Instruct", max_model_len=8192)
    assert dense.feasibility.log_lines[0].startswith("Model loading took")
