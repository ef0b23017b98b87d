"""Count parameters by role from a config's architecture (per layer, so PP stages can be sized)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from checker.schemas.model_info import LayerKind, ParamBreakdown, StateInfo, StateKind

_QK_NORM_TYPES = {"qwen3", "qwen3_moe", "qwen3_next", "gemma3_text", "glm4_moe"}


class ParamCount(NamedTuple):
    breakdown: ParamBreakdown
    per_layer: tuple[int, ...]
    moe_layers: tuple[bool, ...]
    rope_cache_elements: int
    vision: VisionParams | None = None


def _nas_intermediate(ffn_mult: float, hidden: int) -> int:
    """Nemotron-NAS: intermediate = 2/3 * mult * hidden, rounded up to a multiple of 256."""
    size = int(2 * ffn_mult * hidden / 3)
    return size + (-size % 256)


def _lfm2_intermediate(cfg: dict[str, Any], size: int) -> int:
    """LFM2's block_auto_adjust_ff_dim (vLLM models/lfm2.py Lfm2MLP): 2/3 of the configured
    size, times block_ffn_dim_multiplier, rounded up to a multiple of block_multiple_of."""
    if not cfg.get("block_auto_adjust_ff_dim"):
        return size
    size = int(2 * size / 3)
    if cfg.get("block_ffn_dim_multiplier") is not None:
        size = int(float(cfg["block_ffn_dim_multiplier"]) * size)
    multiple = int(cfg.get("block_multiple_of") or 1)
    return multiple * -(-size // multiple)


def _is_moe_layer(cfg: dict[str, Any], model_type: str, index: int, experts: int) -> bool:
    if not experts:
        return False
    if "first_k_dense_replace" in cfg or "moe_layer_freq" in cfg:  # DeepSeek, GLM-4.5
        first = int(cfg.get("first_k_dense_replace") or 0)
        freq = int(cfg.get("moe_layer_freq") or 1)
        return index >= first and index % freq == 0
    if "expert_layer_period" in cfg:  # Jamba (transformers JambaConfig.layers_num_experts)
        period, offset = int(cfg["expert_layer_period"]), int(cfg.get("expert_layer_offset") or 0)
        return index % period == offset
    if index in (cfg.get("mlp_only_layers") or ()):
        return False
    step = int(cfg.get("decoder_sparse_step") or cfg.get("interleave_moe_layer_step") or 1)
    return (index + 1) % step == 0


def _attention(
    cfg: dict[str, Any], kind: LayerKind, *, hidden: int, heads: int, kv: int, head_dim: int
) -> tuple[int, int]:
    """(linear weights, biases and norms) of one attention block."""
    if kind is LayerKind.MLA:
        rope, nope = int(cfg["qk_rope_head_dim"]), int(cfg.get("qk_nope_head_dim") or 128)
        v_dim, latent = int(cfg.get("v_head_dim") or 128), int(cfg["kv_lora_rank"])
        q_rank = cfg.get("q_lora_rank")
        q = (
            (hidden * q_rank + q_rank * heads * (nope + rope))
            if q_rank
            else (hidden * heads * (nope + rope))
        )
        linear = (
            q + hidden * (latent + rope) + latent * heads * (nope + v_dim) + heads * v_dim * hidden
        )
        norms = latent + (q_rank or 0)
        index_heads, index_dim = cfg.get("index_n_heads"), cfg.get("index_head_dim")
        if cfg.get("index_topk") and q_rank and index_heads and index_dim:
            # sparse MLA's indexer (models/deepseek_v2.py Indexer): wq_b, wk, weights_proj
            # and the LayerNorm k_norm (weight and bias), in every layer as 0.19.0 builds it
            # (planning/memory/weights.py drops the layers later releases let share one)
            linear += q_rank * index_heads * index_dim + hidden * (index_dim + index_heads)
            norms += 2 * index_dim
        return linear, norms
    if kv == 0:
        return 0, 0
    q_dim, kv_dim = heads * head_dim, kv * head_dim
    # a gated attention output: qkv_proj projects a gate as wide as the queries beside them
    gate = q_dim if cfg.get("_attn_output_gate") else 0
    linear = hidden * (q_dim + gate) + 2 * hidden * kv_dim + q_dim * hidden
    extra = 0
    if cfg.get("_qkv_bias"):
        extra += q_dim + 2 * kv_dim
    if cfg.get("attention_bias") and cfg.get("_model_type") == "gpt_oss":
        extra += hidden + heads  # o_proj bias and attention sinks
    if cfg.get("_model_type") in _QK_NORM_TYPES:
        extra += 2 * head_dim
    return linear, extra


def _linear_mixer(cfg: dict[str, Any], hidden: int, state: StateInfo) -> int:
    """Weights of one mamba / linear-attention mixer (vLLM's mixer layers: projections, conv,
    per-head parameters; small biases and norms left out). The state is sized in
    checker.planning.kvcache.state."""
    kernel = state.conv_kernel
    if state.kind is StateKind.GDN:
        kd, vd = state.num_k_heads * state.head_k_dim, state.num_heads * state.head_dim
        conv = 2 * kd + vd
        return (
            hidden * (2 * kd + 2 * vd) + hidden * 2 * state.num_heads + conv * kernel + vd * hidden
        )
    if state.kind is StateKind.MAMBA2:  # in_proj to z, x, B, C and dt; conv; out_proj
        inner, heads = state.intermediate_size, state.num_heads
        conv = inner + 2 * state.n_groups * state.state_size
        return hidden * (inner + conv + heads) + conv * kernel + inner * hidden + 3 * heads + inner
    if state.kind is StateKind.MAMBA1:  # in_proj, conv, x_proj, dt_proj, A, D, out_proj
        inner, d_state = state.intermediate_size, state.state_size
        # dt rank: Jamba's mamba_dt_rank, Mamba's time_step_rank; "auto" is ceil(hidden / 16)
        given = cfg.get("mamba_dt_rank") or cfg.get("time_step_rank")
        rank = given if isinstance(given, int) and given > 0 else -(-hidden // 16)
        return (
            hidden * 2 * inner
            + inner * kernel
            + inner * (rank + 2 * d_state)
            + rank * inner
            + inner * d_state
            + inner
            + inner * hidden
        )
    if state.kind is StateKind.SHORT_CONV:  # in_proj to B, C, x; conv; out_proj
        width = state.intermediate_size
        return hidden * 3 * width + width * kernel + width * hidden
    if state.kind is StateKind.LINEAR_ATTENTION:
        # layers/mamba/linear_attn.py MiniMaxText01LinearAttention: qkv_proj, output_gate,
        # out_proj and the norm over heads x head_dim
        inner = state.num_heads * state.head_dim
        return 5 * hidden * inner + inner
    # KDA: q, k, v, o projections, their short convs, low-rank decay and output gates, beta
    proj, head_dim = state.num_heads * state.head_dim, state.head_dim
    return (
        4 * hidden * proj
        + 3 * proj * kernel
        + 2 * (hidden * head_dim + head_dim * proj)
        + (hidden * state.num_heads)
    )


def _shared_blocks(
    cfg: dict[str, Any], facts: dict[str, Any], hidden: int, width: int, hybrid: int
) -> dict[str, int]:
    """Zamba2's shared transformer (models/zamba2.py): num_mem_blocks blocks of attention on
    the concatenated 2 x hidden input (qkv_proj to ``width`` each, o_proj) and a gated MLP;
    per hybrid layer a hidden x hidden linear, the MLP's LoRA adapter and, with
    use_shared_attention_adapter, q/k/v adapters (Zamba2LoRA: A to adapter_rank, B back)."""
    defaults = facts.get("defaults", {})

    def get(key: str) -> Any:
        return cfg[key] if cfg.get(key) is not None else defaults.get(key)

    blocks, rank = int(get("num_mem_blocks") or 1), int(get("adapter_rank") or 0)
    inter = int(get("intermediate_size") or 4 * hidden)
    attention = blocks * (2 * hidden * 3 * width + width * hidden)
    if get("use_shared_attention_adapter"):
        attention += hybrid * 3 * (2 * hidden * rank + rank * width)
    per_hybrid = hidden * hidden + hidden * rank + rank * 2 * inter
    mlp = blocks * 3 * hidden * inter + hybrid * per_hybrid
    return {
        "attention_linear": attention,
        "mlp_linear": mlp,
        "norms_and_biases": blocks * 3 * hidden,  # input (2 x hidden) and pre-MLP norms
    }


def vision_width(vision: dict[str, Any]) -> tuple[int, int]:
    """(width, MLP intermediate size) of a vision tower. Qwen2-VL names its width embed_dim
    (its hidden_size is the language model's) and sizes the MLP as embed_dim x mlp_ratio
    (qwen2_vl.py Qwen2VisionBlock)."""
    width = int(vision.get("embed_dim") or vision.get("hidden_size") or 0)
    ratio = vision.get("mlp_ratio")
    inner = vision.get("intermediate_size") or (ratio * width if ratio else 4 * width)
    return width, int(inner)


class VisionParams(NamedTuple):
    """A vision tower's parameters, split by what a quantization method can store compactly:
    the weights of its attention, MLP and projector linear layers, and everything else (the
    patch embedding, position embeddings, norms and biases), which vLLM keeps in the model
    dtype. Which of the linear layers vLLM actually quantizes depends on the family and the
    method (checker/data/vllm_multimodal.yaml tower_quantization)."""

    attention: int  # q/k/v and output projection weights over all blocks
    mlp: int  # the MLP's weights over all blocks
    projector: int  # the projector's (patch merger's) linear weights
    other: int

    @property
    def total(self) -> int:
        return self.attention + self.mlp + self.projector + self.other


def is_mistral_vision_encoder(vision: dict[str, Any]) -> bool:
    """A Mistral-format params.json's vision_encoder, which vLLM builds as Pixtral's
    VisionTransformer (transformers_utils/configs/mistral.py turns the model into
    PixtralForConditionalGeneration); only that format carries the image break token."""
    return "image_break_token_id" in vision


def _pixtral_params(vision: dict[str, Any], text_hidden: int) -> VisionParams:
    """pixtral.py (0.11.0 to 0.19.0) PixtralForConditionalGeneration: VisionTransformer
    (patch_conv without bias, ln_pre, blocks of wq/wk/wv/wo and a gated w1/w2/w3 feed-forward
    without biases, two RMSNorms; 2-D RoPE, so no position table), pre_mm_projector_norm,
    PatchMerger (merging_layer over spatial_merge_size^2 patches, no bias) when
    mm_projector_id is "patch_merge", and VisionLanguageAdapter (w_in, GELU, w_out, biases
    per adapter_bias, which VisionEncoderArgs defaults to True)."""
    width, inner = vision_width(vision)
    depth = int(vision["num_hidden_layers"])
    patch = int(vision.get("patch_size") or 14)
    merge = int(vision.get("spatial_merge_size") or 1)
    merger = width * merge * merge * width if vision.get("mm_projector_id") == "patch_merge" else 0
    adapter = width * text_hidden + text_hidden * text_hidden
    biases = 2 * text_hidden if vision.get("adapter_bias", True) else 0
    pre_norm = width if vision.get("add_pre_mm_projector_layer_norm") else 0
    norms = depth * 2 * width + width + pre_norm  # the blocks', ln_pre, pre_mm_projector_norm
    channels = int(vision.get("num_channels") or 3)
    return VisionParams(
        attention=depth * 4 * width * width,
        mlp=depth * 3 * width * inner,
        projector=merger + adapter,
        other=norms + channels * patch * patch * width + biases,
    )


def vision_params(config: dict[str, Any], text_hidden: int) -> VisionParams | None:
    vision = config.get("vision_config")
    if not isinstance(vision, dict) or "num_hidden_layers" not in vision and "depth" not in vision:
        return None
    if is_mistral_vision_encoder(vision):
        return _pixtral_params(vision, text_hidden)
    width, inner = vision_width(vision)
    depth = int(vision.get("num_hidden_layers") or vision.get("depth") or 0)
    patch = int(vision.get("patch_size") or 14)
    image = int(vision.get("image_size") or 0)
    # Gemma-4's encoder (transformers Gemma4VisionModel, which vLLM builds with AutoModel): a
    # gated MLP, and a (2, position_embedding_size, width) table of learned 2-D positions
    gemma4 = vision.get("model_type") == "gemma4_vision"
    gated = vision.get("hidden_act") == "silu" or gemma4
    positions = (image // patch) ** 2 * width if image else 0
    if gemma4:
        positions = 2 * int(vision.get("position_embedding_size") or 0) * width
    out = int(vision.get("out_hidden_size") or text_hidden)
    channels = int(vision.get("num_channels") or vision.get("in_chans") or 3)
    patch_embed = channels * int(vision.get("temporal_patch_size") or 1) * patch * patch * width
    merge = int(vision.get("spatial_merge_size") or 0)
    if merge:  # Qwen2-VL's patch merger: norm, then an MLP over merge^2 patches (qwen2_vl.py)
        merged = width * merge * merge
        projector, projector_rest = merged * merged + merged * out, width + merged + out
    else:
        projector, projector_rest = width * out, 0
    return VisionParams(
        attention=depth * 4 * width * width,
        mlp=depth * (3 if gated else 2) * width * inner,
        projector=projector,
        other=depth * 6 * width + patch_embed + positions + projector_rest,  # norms and biases
    )


def count_params(
    cfg: dict[str, Any],
    full_config: dict[str, Any],
    model_type: str,
    facts: dict[str, Any],
    *,
    hidden: int,
    layers: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    vocab: int,
    kinds: list[LayerKind],
    state: StateInfo | None = None,
    state_flags: tuple[bool, ...] = (),
    layer_kv_heads: tuple[int, ...] = (),
    layer_head_dims: tuple[int, ...] = (),
) -> ParamCount:
    cfg = {
        **cfg,
        "_model_type": model_type,
        "_qkv_bias": bool(facts.get("qkv_bias")),
        "_attn_output_gate": bool(cfg.get("attn_output_gate", facts.get("attn_output_gate"))),
    }
    gated = facts.get("gated_mlp", True) and cfg.get("mlp_hidden_act") != "relu2"
    experts = int(
        cfg.get("num_experts") or cfg.get("num_local_experts") or cfg.get("n_routed_experts") or 0
    )
    moe_inter = int(cfg.get("moe_intermediate_size") or cfg.get("intermediate_size") or 0)
    dense_inter = _lfm2_intermediate(
        cfg, int(cfg.get("intermediate_size_mlp") or cfg.get("intermediate_size") or 0)
    )
    shared_inter = int(
        cfg.get("shared_expert_intermediate_size")
        or cfg.get("moe_shared_expert_intermediate_size")
        or 0
    )
    if not shared_inter and cfg.get("n_shared_experts"):
        shared_inter = int(cfg["n_shared_experts"]) * moe_inter
    if model_type.startswith("llama4"):
        shared_inter = int(cfg.get("intermediate_size") or 0)
    mlp_factor = 3 if gated else 2
    # latent MoE: the routed experts work in a narrower width between two dense projections of
    # the MoE block (nemotron_h.py NemotronHMoE moe_latent_size: fc1/fc2_latent_proj;
    # 0.33.0 models/kimi_k3 routed_expert_hidden_size)
    latent = int(cfg.get("moe_latent_size") or cfg.get("routed_expert_hidden_size") or 0)
    # attention-free mamba layers hold a norm and a mixer only (MambaDecoderLayer)
    free = bool(facts.get("attention_free"))
    norms_per_layer = (1 if model_type == "nemotron_h" or free else 2) + int(
        facts.get("extra_norms_per_layer", 0)
    )
    pattern = cfg.get("hybrid_override_pattern")
    blocks = cfg.get("block_configs") or []
    # Gemma-3n / Gemma-4 per-layer embeddings (models/gemma3n.py, gemma4.py): a per-layer
    # input gate and projection in each layer; at the model, embed_tokens_per_layer
    # (vocab_size_per_layer_input x layers * width) and per_layer_model_projection
    per_layer_width = int(cfg.get("hidden_size_per_layer_input") or 0)

    shared = bool(facts.get("shared_transformer"))
    totals = dict.fromkeys(ParamBreakdown.model_fields, 0)
    per_layer: list[int] = []
    moe_flags: list[bool] = []
    # an attention block's size per (kind, kv heads, head size): a model's layers share a few
    attention: dict[tuple[LayerKind, int, int], tuple[int, int]] = {}
    for i, kind in enumerate(kinds):
        before = sum(totals.values())
        kv = layer_kv_heads[i] if layer_kv_heads else kv_heads
        if blocks and kind is not LayerKind.NONE:
            kv = heads // int((blocks[i].get("attention") or {}).get("n_heads_in_group") or heads)
        if state is not None and state_flags[i]:
            totals["linear_attention"] += _linear_mixer(cfg, hidden, state)
        if kind is not LayerKind.NONE and kind is not LayerKind.LINEAR and not shared:
            size = layer_head_dims[i] if layer_head_dims else head_dim
            shape = (kind, kv, size)
            found = attention.get(shape)
            if found is None:
                found = attention[shape] = _attention(
                    cfg, kind, hidden=hidden, heads=heads, kv=kv, head_dim=size
                )
            linear, extra = found
            totals["attention_linear"] += linear
            totals["norms_and_biases"] += extra
        letter = pattern[i] if isinstance(pattern, str) else None
        is_moe = letter == "E" or (letter is None and _is_moe_layer(cfg, model_type, i, experts))
        moe_flags.append(is_moe)
        if is_moe:
            totals["expert_linear"] += experts * mlp_factor * (latent or hidden) * moe_inter
            totals["mlp_linear"] += 2 * hidden * latent
            if cfg.get("enable_moe_block") or cfg.get("use_second_mlp_block"):
                # Gemma-4 (models/gemma4.py Gemma4DecoderLayer): a dense MLP beside the experts
                totals["mlp_linear"] += mlp_factor * hidden * dense_inter
            totals["shared_expert_linear"] += mlp_factor * hidden * shared_inter
            totals["router"] += hidden * experts
            if model_type == "gpt_oss":
                totals["norms_and_biases"] += experts * (2 * moe_inter + hidden) + experts
        elif blocks:
            inter = _nas_intermediate(float(blocks[i]["ffn"]["ffn_mult"]), hidden)
            totals["mlp_linear"] += 3 * hidden * inter
        elif letter in (None, "-") and not shared and not free:
            totals["mlp_linear"] += mlp_factor * hidden * dense_inter
        totals["norms_and_biases"] += norms_per_layer * hidden
        totals["mlp_linear"] += 2 * hidden * per_layer_width
        per_layer.append(sum(totals.values()) - before)

    if shared:
        hybrid = sum(k is LayerKind.FULL for k in kinds)
        for role, count in _shared_blocks(cfg, facts, hidden, heads * head_dim, hybrid).items():
            totals[role] += count

    per_layer_vocab = int(cfg.get("vocab_size_per_layer_input") or vocab)
    totals["embedding"] = vocab * hidden + per_layer_vocab * layers * per_layer_width
    totals["mlp_linear"] += hidden * layers * per_layer_width
    totals["norms_and_biases"] += per_layer_width
    tied = cfg.get("tie_word_embeddings")
    if tied is None:
        tied = facts.get("defaults", {}).get("tie_word_embeddings", False)
    totals["lm_head"] = 0 if tied else vocab * hidden
    totals["norms_and_biases"] += hidden
    vision = vision_params(full_config, hidden)
    totals["vision"] = vision.total if vision else 0
    rotary = int(
        cfg.get("qk_rope_head_dim") or head_dim * float(cfg.get("partial_rotary_factor") or 1.0)
    )
    # a minimal text_config (Gemma-3) leaves the context to the transformers default
    positions = int(
        cfg.get("max_position_embeddings")
        or facts.get("defaults", {}).get("max_position_embeddings")
        or 0
    )
    scaling = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    if (
        isinstance(scaling, dict)
        and scaling.get("original_max_position_embeddings")
        and (scaling.get("rope_type") or scaling.get("type")) == "yarn"
    ):
        positions = int(math.ceil(scaling["original_max_position_embeddings"] * scaling["factor"]))
    per_type = _per_type_ropes(scaling)
    if per_type:
        # transformers v5 rope_parameters per layer type (Gemma-4): one rope per type
        wide = max(layer_head_dims, default=head_dim)
        elements = 0
        for name, rope in per_type.items():
            size = wide if name == "full_attention" else head_dim
            share = float(rope.get("partial_rotary_factor") or 1.0)
            if rope.get("rope_type") == "proportional":
                share = 1.0  # Gemma4RotaryEmbedding (gemma4_rope.py) caches the whole head
            elements += positions * _rope_cache_factor(rope) * int(size * share)
    else:
        # Gemma-3 keeps a local rope (default scaling) beside the global one the config describes
        local = positions if facts.get("sliding") == "pattern" else 0
        elements = (local + positions * _rope_cache_factor(scaling)) * rotary
    return ParamCount(
        breakdown=ParamBreakdown(**totals),
        per_layer=tuple(per_layer),
        moe_layers=tuple(moe_flags),
        rope_cache_elements=elements,
        vision=vision,
    )


def _per_type_ropes(scaling: Any) -> dict[str, dict[str, Any]]:
    """rope_parameters keyed by layer type (transformers v5), else empty."""
    if not isinstance(scaling, dict):
        return {}
    return {
        name: rope
        for name, rope in scaling.items()
        if name in ("full_attention", "sliding_attention") and isinstance(rope, dict)
    }


def _rope_cache_factor(scaling: Any) -> int:
    """Rows of the cos/sin cache per position of max_position_embeddings: linear and dynamic
    (factor) scaling cache max_position x factor positions (vLLM rotary_embedding
    linear_scaling_rope.py LinearScalingRotaryEmbedding._compute_cos_sin_cache,
    dynamic_ntk_scaling_rope.py); YaRN's length is already in `positions`."""
    if not isinstance(scaling, dict):
        return 1
    kind = scaling.get("rope_type") or scaling.get("type")
    factor = scaling.get("factor")
    if kind in ("linear", "dynamic") and isinstance(factor, int | float) and factor > 1:
        return math.ceil(factor)
    return 1
