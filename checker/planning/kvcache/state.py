"""Recurrent state of mamba / linear-attention layers as vLLM V1 allocates it.

Each state layer holds a MambaSpec page in the same block pool as the attention layers
(v1/kv_cache_interface.py MambaSpec): its tensors' shapes come from
MambaStateShapeCalculator (model_executor/layers/mamba/mamba_utils.py), their dtypes from
MambaStateDtypeCalculator and the model's MODELS_CONFIG_MAP entry (models/config.py). Before
the KV cache is sized, vLLM raises the attention block size until one attention page covers a
state page, then pads the state page to it ("Setting attention block size to N tokens",
0.19.0 models/config.py HybridAttentionMambaModelConfig, 0.33.0
platforms/interface.py Platform._align_hybrid_block_size).
"""

from __future__ import annotations

from math import lcm, prod

from checker.planning.engine.releases import has_behaviour, speculative_conv_rows
from checker.planning.kvcache.kv_dtypes import DTYPE_BYTES
from checker.schemas.model_info import ModelInfo, StateInfo, StateKind


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def state_shapes(state: StateInfo, tp: int, spec_rows: int = 0) -> tuple[tuple[int, ...], ...]:
    """One layer's state tensors on one TP rank (MambaStateShapeCalculator.<kind>_state_shape;
    conv tensors are (dim, kernel - 1 + spec_rows) either way round, the bytes are the same;
    ``spec_rows``: the speculative tokens' extra conv rows, where the calculator takes them)."""
    k = state.conv_kernel - 1 + spec_rows
    if state.kind is StateKind.MAMBA1:
        inner = state.intermediate_size // tp
        return (inner, k), (inner, state.state_size)
    if state.kind is StateKind.MAMBA2:
        # groups not divisible by TP are replicated to follow the head shards
        groups = state.n_groups + (0 if state.n_groups % tp == 0 else tp - state.n_groups)
        conv = state.intermediate_size + 2 * groups * state.state_size
        return (conv // tp, k), (state.num_heads // tp, state.head_dim, state.state_size)
    if state.kind is StateKind.GDN:
        conv = 2 * state.head_k_dim * state.num_k_heads + state.head_dim * state.num_heads
        return (conv // tp, k), (state.num_heads // tp, state.head_dim, state.head_k_dim)
    if state.kind is StateKind.SHORT_CONV:
        return ((state.intermediate_size // tp, k),)
    if state.kind is StateKind.LINEAR_ATTENTION:  # one (heads, head_dim, head_dim) KV state
        return ((state.num_heads // tp, state.head_dim, state.head_dim),)
    # KDA: q, k and v short convolutions (one tensor in 0.33.0, three in 0.19.0) and the
    # (heads, head_dim, head_dim) recurrent state
    conv = 3 * state.num_heads * state.head_dim
    return (conv // tp, k), (state.num_heads // tp, state.head_dim, state.head_dim)


def state_dtype_bytes(
    state: StateInfo,
    model_dtype: str,
    version: str,
    cache_dtype: str = "auto",
    ssm_cache_dtype: str = "auto",
) -> tuple[int, ...]:
    """Bytes per element of each state tensor (MambaStateDtypeCalculator._mamba_state_dtype)
    under --mamba-cache-dtype and --mamba-ssm-cache-dtype: the conv state in the cache dtype
    (auto: the model dtype); the SSM state in its own flag's dtype, which at auto is the
    model's config entry's pick (Qwen3.5, Nemotron-H) or else the conv state's; KDA keeps
    its recurrent state in float32 at auto (kda_state_dtype); MiniMax's linear attention keeps
    its one state tensor in the cache dtype (linear_attention_state_dtype)."""
    conv = DTYPE_BYTES[model_dtype if cache_dtype == "auto" else cache_dtype]
    ssm_dtype = ssm_cache_dtype
    if ssm_dtype == "auto" and state.ssm_dtype_rule == "config" and state.ssm_dtype:
        ssm_dtype = state.ssm_dtype
    elif ssm_dtype == "auto" and state.ssm_dtype_rule == "nemotron_h":
        fallback = (
            "float32" if has_behaviour("nemotron_h_float32_ssm_default", version) else "float16"
        )
        ssm_dtype = state.ssm_dtype or fallback
    if state.kind in (StateKind.SHORT_CONV, StateKind.LINEAR_ATTENTION):
        return (conv,)
    if state.kind is StateKind.KDA and ssm_dtype == "auto":
        return conv, 4
    return conv, conv if ssm_dtype == "auto" else DTYPE_BYTES[ssm_dtype]


def state_page_bytes(
    state: StateInfo,
    tp: int,
    model_dtype: str,
    version: str,
    cache_dtype: str = "auto",
    ssm_cache_dtype: str = "auto",
    num_spec: int = 0,
) -> int:
    """One layer's unpadded state page on one TP rank (MambaSpec.page_size_bytes), its conv
    state holding ``num_spec`` more rows where the release's calculator adds them."""
    rows = num_spec if state.kind.value in speculative_conv_rows(version) else 0
    shapes = state_shapes(state, tp, rows)
    sizes = state_dtype_bytes(state, model_dtype, version, cache_dtype, ssm_cache_dtype)
    return sum(prod(shape) * size for shape, size in zip(shapes, sizes, strict=True))


def prefix_caching_default(model: ModelInfo, version: str) -> bool:
    """vLLM's V1 default for --enable-prefix-caching (config/model.py
    ModelConfig.is_prefix_caching_supported): on, except for attention-free models (both
    releases) and hybrids before 0.33."""
    if model.attention_free:
        return False
    return model.state is None or has_behaviour("hybrid_prefix_caching_default", version)


def mamba_cache_mode(
    state: StateInfo, version: str, prefix_caching: bool, requested: str = "none"
) -> str:
    """vLLM's mamba_cache_mode (models/config.py MambaModelConfig.verify_and_update_config):
    none without prefix caching; with it --mamba-cache-mode, whose default "none" becomes
    "all" for 0.19.0 models that support Mamba prefix caching, else "align" (the only mode
    0.33.0 has); "all" on a model without that support falls back to "align"."""
    if not prefix_caching:
        return "none"
    all_mode = state.all_mode and not has_behaviour("mamba_prefix_caching_align_only", version)
    if requested in ("none", "all") and all_mode:
        return "all"
    return "align"


def state_blocks(
    mode: str, max_len: int, block_size: int, checkpoints: int = 0, speculative: int = 0
) -> int:
    """Blocks one request's state takes per state layer (MambaSpec.max_memory_usage_bytes /
    page): 1, or in align mode 2 plus the prefill checkpoint blocks, each plus the speculative
    blocks; one per block of the request in 0.19's all mode."""
    if mode == "all":
        return _cdiv(max_len, block_size)
    return (2 + checkpoints if mode == "align" else 1) + speculative


def prefill_checkpoint_alignment(
    state: StateInfo, mode: str, capability: int, version: str
) -> int | None:
    """The token alignment of GDN prefill checkpoints, when vLLM takes them: align mode with
    FlashInfer's GDN prefill kernel, which "auto" picks on Hopper
    (model_executor/layers/mamba/gdn/qwen_gdn_linear_attn.py _resolve_gdn_prefill_backend;
    FLASHINFER_GDN_CHECKPOINT_ALIGNMENT = 64 in v1/attention/backends/gdn_attn.py). Its
    MambaSpec then keeps one more block per request (num_prefill_checkpoint_blocks = 1).
    Blackwell also picks it with CUDA 13 runtimes, which the plan cannot see: not modelled."""
    if (
        mode == "align"
        and state.kind is StateKind.GDN
        and capability // 10 == 9
        and has_behaviour("gdn_prefill_checkpoints", version)
    ):
        return 64
    return None


def aligned_block_size(
    block_size: int,
    *,
    attn_page_per_token: int,
    state_page: int,
    alignment: int,
    mode: str,
    chunk_size: int,
    checkpoint_alignment: int | None = None,
) -> int:
    """The attention block size after vLLM makes one attention page cover a state page: the
    smallest multiple of the kernel alignment (times the prefill checkpoint alignment, if any)
    that does (all mode: of lcm(chunk, alignment)), never below ``block_size``."""
    if state_page == 0 or attn_page_per_token == 0:
        return block_size
    if checkpoint_alignment:
        alignment = lcm(alignment, checkpoint_alignment)
    if mode == "all":
        step = lcm(chunk_size, alignment)
        needed = step * _cdiv(_cdiv(state_page, attn_page_per_token), step)
    else:
        needed = alignment * _cdiv(state_page, alignment * attn_page_per_token)
    return max(block_size, needed)


def kernel_alignment(uses_mla: bool, block_size: int, version: str) -> int:
    """The block-size multiple the attention backend needs. 0.19.0: 16, or 64 for MLA
    (HybridAttentionMambaModelConfig; 128 only with --attention-backend CUTLASS_MLA, not
    modelled). 0.33.0: the backend's smallest kernel block (16 for FlashAttention and
    FlashInfer) or the block size if larger, at least 128 for MLA
    (Platform._align_hybrid_block_size)."""
    if not has_behaviour("hybrid_alignment_from_backend", version):
        return 64 if uses_mla else 16
    if uses_mla:
        return max(64, block_size, 128)
    return max(16, block_size)
