"""Read a Hugging Face config.json into ModelInfo, the way vLLM reads it.

Nothing is guessed from a parameter count: every figure comes from the config, or from the
transformers class default for that model_type (``checker/data/model_types.yaml``).
"""

from __future__ import annotations

import copy
import functools
import math
import re
from typing import Any

from checker.errors import ModelConfigError
from checker.models.param_count import (
    VisionParams,
    count_params,
    is_mistral_vision_encoder,
    vision_width,
)
from checker.models.quant_config import read_quant_config
from checker.schemas.model_info import (
    CompressedAttention,
    LayerKind,
    ModelInfo,
    RopeScaling,
    StateInfo,
    StateKind,
    VisionInfo,
)
from checker.schemas.yaml_source import bundled_data

# Keys vLLM's _get_and_verify_max_len takes the minimum of.
_MAX_LEN_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_target_positions",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)
# patch_legacy_rope_type (transformers_utils/config.py): old names vLLM rewrites before use.
_LEGACY_ROPE_TYPES = {"su": "longrope", "mrope": "default"}
# Keys holding a nested PretrainedConfig, which a dict override merges into key by key.
_NESTED_CONFIGS = ("text_config", "llm_config", "vision_config", "audio_config", "thinker_config")
_MULTIMODAL_KEYS = ("vision_config", "audio_config", "vision_tower")
# Real models stay far below these; larger values are typos or hostile, and per-layer loops
# over them would run for minutes.
_MAX_SIZE = 1 << 24
_MAX_LAYERS = 4096
_HINT = "pass a complete config.json with --model-config"


@functools.cache  # a tuple built once
def _mtp_layer_keys() -> tuple[str, ...]:
    """Config keys counting a model's MTP layers (checker/data/vllm_speculative.yaml)."""
    return tuple(bundled_data("vllm_speculative.yaml")["mtp_layer_keys"])


def _mtp_layers(cfg: dict[str, Any]) -> int:
    value = next((cfg[k] for k in _mtp_layer_keys() if cfg.get(k) is not None), 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 64:
        raise ModelConfigError(f"config.json gives {value!r} MTP layers", hint=_HINT)
    return value


def _draft_vocab(cfg: dict[str, Any]) -> int | None:
    value = cfg.get("draft_vocab_size")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_SIZE:
        raise ModelConfigError("config.json has no usable 'draft_vocab_size'", hint=_HINT)
    return value


def model_type_facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("model_types.yaml")
    return data


def type_facts(model_type: str) -> dict[str, Any]:
    """The model_types.yaml entry of one model_type ({} when it has none)."""
    value = model_type_facts().get(model_type, {})
    return value if isinstance(value, dict) else {}


def _text_config(config: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The language-model part of the config and its model_type (VLMs nest it)."""
    top_type = str(config.get("model_type") or "")
    if not top_type:
        for arch in config.get("architectures") or ():
            top_type = model_type_facts()["architectures"].get(arch, "")
            if top_type:
                break
    nested = config.get("text_config") or config.get("llm_config")
    if isinstance(nested, dict):
        text = {
            **{k: v for k, v in config.items() if k not in ("text_config", "llm_config")},
            **nested,
        }
        return text, str(nested.get("model_type") or top_type)
    return dict(config), top_type


def _get(cfg: dict[str, Any], facts: dict[str, Any], key: str, default: Any = None) -> Any:
    value = cfg.get(key)
    if value is None:
        value = facts.get("defaults", {}).get(key, default)
    return value


def _require_int(cfg: dict[str, Any], facts: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = _get(cfg, facts, key)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_SIZE:
            return value
    raise ModelConfigError(f"config.json has no usable '{keys[0]}'", hint=_HINT)


def _optional_int(cfg: dict[str, Any], facts: dict[str, Any], key: str) -> int | None:
    """A count the config may leave out (None: absent or null); when given, a whole number
    above 0, else a clear error (not a silent fallback to another field)."""
    value = _get(cfg, facts, key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_SIZE:
        return value
    raise ModelConfigError(
        f"config.json gives '{key}' the value {value!r}: expected a whole number above 0",
        hint=_HINT,
    )


# layer_types values and the kind vLLM gives them (each model's decoder-layer choice).
_LAYER_TYPES = {
    "full_attention": LayerKind.FULL,
    "attention": LayerKind.FULL,  # Granite-4.0-H
    "sliding_attention": LayerKind.SLIDING,
    "chunked_attention": LayerKind.CHUNKED,
    "linear_attention": LayerKind.LINEAR,  # Qwen3.5 gated delta net
    "mamba": LayerKind.LINEAR,  # Granite-4.0-H
    "conv": LayerKind.LINEAR,  # LFM2 short convolution
}
# Keys of hybrid configs whose layers vllm-wizard has no state recipe for (Zamba2, Bamba,
# MiniMax, PLaMo-2...): their presence without a model_types.yaml `state` entry is flagged.
_STATE_HINT_KEYS = (
    "layers_block_type",
    "attn_layer_indices",
    "attn_type_list",
    "linear_attn_config",
    "mamba_d_state",
    "ssm_state_size",
    "state_size",
)


def _layer_kinds(
    cfg: dict[str, Any], facts: dict[str, Any], layers: int
) -> tuple[list[LayerKind], list[str]]:
    """Each layer's kind and the layer kinds the config names that are not modelled (sized as
    full attention, and so flagged)."""
    if facts.get("attention_free"):  # Mamba, Mamba-2, FalconMamba: a mixer in every layer
        return [LayerKind.LINEAR] * layers, []
    if "block_configs" in cfg:  # Nemotron-NAS: some layers drop attention entirely
        return [
            LayerKind.NONE
            if (b.get("attention") or {}).get("no_op")
            or (b.get("attention") or {}).get("replace_with_linear")
            else LayerKind.FULL
            for b in cfg["block_configs"]
        ], []
    pattern = cfg.get("hybrid_override_pattern")
    if isinstance(pattern, str):  # Nemotron-H: M mamba, * attention, - MLP, E MoE
        unknown = sorted({c for c in pattern if c not in "M*-E"})[:5]
        return [
            LayerKind.LINEAR if c == "M" else LayerKind.NONE if c in "-E" else LayerKind.FULL
            for c in pattern
        ], [f"hybrid_override_pattern '{c}'" for c in unknown]
    linear = cfg.get("linear_attn_config")
    if isinstance(linear, dict) and isinstance(linear.get("kda_layers"), list):
        # Kimi-Linear: 1-based KDA layer numbers, MLA elsewhere (KimiLinearConfig.is_kda_layer)
        kda = {int(n) for n in linear["kda_layers"]}
        full = LayerKind.MLA if cfg.get("kv_lora_rank") else LayerKind.FULL
        return [LayerKind.LINEAR if i + 1 in kda else full for i in range(layers)], []
    if cfg.get("kv_lora_rank"):
        return [LayerKind.MLA] * layers, []
    names = cfg.get("layer_types")
    if not isinstance(names, list) and isinstance(cfg.get("full_attn_idxs"), list):
        # LFM2 configs before layer_types: transformers' Lfm2Config derives it from these
        attends = {int(i) for i in cfg["full_attn_idxs"]}
        names = ["full_attention" if i in attends else "conv" for i in range(layers)]
    if isinstance(names, list) and len(names) == layers:
        # a config's own words reach the report: a few, cut short
        unknown = sorted({str(n)[:40] for n in names if str(n) not in _LAYER_TYPES})[:5]
        kinds = [_LAYER_TYPES.get(str(n), LayerKind.FULL) for n in names]
        return kinds, [f"layer_types '{n}'" for n in unknown]
    if cfg.get("full_attention_interval"):  # Qwen3-Next: gated delta net, every Nth full
        every = int(cfg["full_attention_interval"])
        return [
            LayerKind.FULL if (i + 1) % every == 0 else LayerKind.LINEAR for i in range(layers)
        ], []
    state_layout = (facts.get("state") or {}).get("layers")
    if state_layout == "period":  # Jamba
        period = int(_get(cfg, facts, "attn_layer_period"))
        offset = int(_get(cfg, facts, "attn_layer_offset"))
        return [
            LayerKind.FULL if i % period == offset else LayerKind.LINEAR for i in range(layers)
        ], []
    if state_layout == "block_type":  # Zamba2: "hybrid" layers attend (and keep a mamba state)
        names = cfg.get("layers_block_type")
        if not isinstance(names, list) or len(names) != layers:
            return [LayerKind.FULL] * layers, ["layers_block_type (not one name per layer)"]
        unknown = sorted({str(n)[:40] for n in names if n not in ("hybrid", "mamba")})[:5]
        kinds = [LayerKind.LINEAR if n == "mamba" else LayerKind.FULL for n in names]
        return kinds, [f"layers_block_type '{n}'" for n in unknown]
    if state_layout == "indices":  # Bamba: attention at attn_layer_indices, mamba elsewhere
        indices = cfg.get("attn_layer_indices") or []
        if not isinstance(indices, list) or not all(type(i) is int for i in indices):
            return [LayerKind.FULL] * layers, ["attn_layer_indices (not a list of layer numbers)"]
        return [LayerKind.FULL if i in indices else LayerKind.LINEAR for i in range(layers)], []
    types = cfg.get("attn_type_list")
    if state_layout == "type_list" and types is not None:
        # MiniMax-Text-01: 0 lightning (linear) attention, 1 softmax attention (none given:
        # every layer attends, MiniMaxText01Model's default)
        valid = isinstance(types, list) and len(types) == layers
        if not valid or any(t not in (0, 1) for t in types):
            return [LayerKind.FULL] * layers, ["attn_type_list (not one 0 or 1 per layer)"]
        return [LayerKind.FULL if t == 1 else LayerKind.LINEAR for t in types], []
    if cfg.get("attention_chunk_size"):  # Llama-4: every 4th layer global (NoPE), rest chunked
        no_rope = cfg.get("no_rope_layers") or [int((i + 1) % 4 != 0) for i in range(layers)]
        return [LayerKind.CHUNKED if flag else LayerKind.FULL for flag in no_rope], []
    modeled = facts.get("state") or facts.get("attention_only")
    unknown = [] if modeled else [k for k in _STATE_HINT_KEYS if k in cfg]
    window = _get(cfg, facts, "sliding_window")
    if not window or cfg.get("use_sliding_window") is False:
        return [LayerKind.FULL] * layers, [f"state layers ('{k}')" for k in unknown[:1]]
    layout = facts.get("sliding")
    if layout == "alternate":
        return [LayerKind.SLIDING if i % 2 == 0 else LayerKind.FULL for i in range(layers)], []
    if layout == "pattern":
        every = int(_get(cfg, facts, "sliding_window_pattern", 6))
        return [
            LayerKind.FULL if (i + 1) % every == 0 else LayerKind.SLIDING for i in range(layers)
        ], []
    if layout == "all":
        return [LayerKind.SLIDING] * layers, []
    return [LayerKind.FULL] * layers, []


def _indexer_layers(cfg: dict[str, Any], layers: int) -> tuple[bool, ...]:
    """Per layer: builds its own sparse indexer where a release lets layers share one
    (vLLM 0.34.0 model_executor/models/utils.py compute_skip_topk_layers: indexer_types'
    "shared" layers, else index_topk_pattern's "S" layers, else those off index_topk_freq
    past index_skip_topk_offset). Empty where every layer builds one."""
    types = cfg.get("indexer_types")
    if isinstance(types, list) and len(types) == layers:
        return tuple(t != "shared" for t in types)
    pattern = cfg.get("index_topk_pattern")
    if isinstance(pattern, str) and pattern:
        return tuple(i >= len(pattern) or pattern[i] != "S" for i in range(layers))
    freq, offset = cfg.get("index_topk_freq"), cfg.get("index_skip_topk_offset", 2)
    if not isinstance(freq, int) or freq <= 1 or not isinstance(offset, int):
        return ()
    return tuple(max(i - offset + 1, 0) % freq == 0 for i in range(layers))


def _indexer_token_bytes(cfg: dict[str, Any]) -> int:
    """Bytes per token of a sparse-MLA layer's indexer key cache (models/deepseek_v2.py
    Indexer: index_head_dim fp8 values and a float32 scale per quant block of them)."""
    head_dim = cfg.get("index_head_dim")
    if not isinstance(head_dim, int) or isinstance(head_dim, bool) or not 0 < head_dim <= _MAX_SIZE:
        raise ModelConfigError(
            "config.json has index_topk but no usable 'index_head_dim'", hint=_HINT
        )
    layout = model_type_facts()["sparse_mla_indexer"]
    return head_dim + head_dim // int(layout["quant_block"]) * int(layout["scale_bytes"])


def _compressed_attention(
    cfg: dict[str, Any], facts: dict[str, Any], layers: int
) -> CompressedAttention | None:
    """DeepSeek-V4's per-layer KV compression (models/deepseek_v4/attention.py
    DeepseekV4Attention.__init__: compress_ratios[i], 0 read as 1; the list may carry one
    more entry for the MTP layer, which vLLM does not read here)."""
    if not facts.get("compressed_attention"):
        return None
    ratios = cfg.get("compress_ratios")
    if not isinstance(ratios, list) or len(ratios) < layers:
        raise ModelConfigError(
            f"config.json has no usable 'compress_ratios' (one per each of its {layers} layers)",
            hint=_HINT,
        )
    allowed = {int(r) for r in model_type_facts()["compress_ratios"]}
    bad = [r for r in ratios[:layers] if isinstance(r, bool) or r not in allowed]
    if bad:
        raise ModelConfigError(
            f"config.json's compress_ratios holds {str(bad[0])[:20]!r}: vLLM builds "
            f"compressors only for ratios {sorted(allowed - {0, 1})} (0 or 1: none)",
            hint=_HINT,
        )
    expert_dtype = str(cfg.get("expert_dtype") or "fp4")  # quant_config.py: missing is fp4
    if expert_dtype not in ("fp4", "fp8"):
        raise ModelConfigError(
            f"config.json's expert_dtype {expert_dtype[:20]!r} is not one vLLM loads (fp4 or fp8)",
            hint=_HINT,
        )
    # common/rope.py build_deepseek_v4_rope: DeepseekV4ScalingRotaryEmbedding caches
    # original_max_position_embeddings x factor positions (max_position without YaRN)
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    positions = _require_int(cfg, facts, "max_position_embeddings")
    if isinstance(rope, dict) and rope.get("original_max_position_embeddings"):
        positions = int(rope["original_max_position_embeddings"] * float(rope.get("factor", 1)))
    return CompressedAttention(
        ratios=tuple(max(1, int(r)) for r in ratios[:layers]),
        sliding_window=_require_int(cfg, facts, "sliding_window"),
        head_dim=_require_int(cfg, facts, "head_dim"),
        index_head_dim=_require_int(cfg, facts, "index_head_dim"),
        index_n_heads=_require_int(cfg, facts, "index_n_heads"),
        index_topk=_require_int(cfg, facts, "index_topk"),
        o_lora_rank=_require_int(cfg, facts, "o_lora_rank"),
        o_groups=_require_int(cfg, facts, "o_groups"),
        hc_mult=_require_int(cfg, facts, "hc_mult"),
        hash_layers=int(cfg.get("num_hash_layers") or 0),
        shared_experts=int(cfg.get("n_shared_experts") or 0),
        expert_dtype=expert_dtype,
        rope_positions=positions,
    )


def _config_value(cfg: dict[str, Any], key: str, defaults: dict[str, Any]) -> Any:
    """A model_types.yaml state key: "a/b" divides (integer division, after the products on
    its left), "a*b" multiplies, a number is itself, "a.b" reads into dict a; a key the
    config lacks takes the transformers default (an explicit null stays null)."""
    if "/" in key:
        left, right = (_config_value(cfg, k, defaults) for k in key.rsplit("/", 1))
        valid = isinstance(left, int) and isinstance(right, int) and right > 0
        return left // right if valid else None
    if key.isdigit():
        return int(key)
    if "*" in key:
        left, right = (_config_value(cfg, k, defaults) for k in key.split("*", 1))
        return left * right if isinstance(left, int) and isinstance(right, int) else None
    head, _, rest = key.partition(".")
    value = cfg[head] if head in cfg else defaults.get(head)
    if rest:
        return _config_value(value, rest, {}) if isinstance(value, dict) else None
    return value


def _shape_value(cfg: dict[str, Any], facts: dict[str, Any], key: str) -> int:
    """A model_types.yaml attention_shape value, which must come out a positive size."""
    value = _config_value(cfg, key, facts.get("defaults", {}))
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_SIZE:
        raise ModelConfigError(f"config.json has no usable '{key}'", hint=_HINT)
    return value


def _state_info(cfg: dict[str, Any], facts: dict[str, Any], kinds: list[LayerKind]) -> Any:
    """The StateInfo of a model whose model_types.yaml entry has a state recipe (None when the
    model has none, or no layer keeps a state, like Granite-4.0 Micro's all-attention list)."""
    recipe = facts.get("state")
    if not recipe or (LayerKind.LINEAR not in kinds and not recipe.get("parallel")):
        return None
    values: dict[str, Any] = {}
    for field, keys in recipe["keys"].items():
        options = keys if isinstance(keys, list) else [keys]
        defaults = facts.get("defaults", {})
        value = next(
            (v for k in options if (v := _config_value(cfg, k, defaults)) is not None), None
        )
        if field == "chunk_size" and value is None:
            continue  # vLLM's get_mamba_chunk_size default
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= _MAX_SIZE:
            raise ModelConfigError(f"config.json has no usable '{options[0]}'", hint=_HINT)
        values[field] = value
    ssm_key = recipe.get("ssm_dtype_key")
    ssm = cfg.get(ssm_key) if ssm_key else None
    return StateInfo(
        kind=StateKind(recipe["calculator"]),
        ssm_dtype=str(ssm) if ssm else None,
        ssm_dtype_rule=str(recipe.get("ssm_dtype_rule", "auto")),
        all_mode=bool(recipe.get("all_mode")),
        **values,
    )


def config_max_len(cfg: dict[str, Any], facts: dict[str, Any]) -> tuple[int, str | None]:
    """The smallest length key and its name, model_max_length winning when set (vLLM's
    ModelArchConfigConvertor.derive_max_model_len_and_key); 2048 and None without one."""
    if isinstance(v := _get(cfg, facts, "model_max_length"), (int, float)) and v > 0:
        return int(v), "model_max_length"
    lengths = [
        (int(v), k)
        for k in _MAX_LEN_KEYS
        if isinstance(v := _get(cfg, facts, k), (int, float)) and not isinstance(v, bool) and v > 0
    ]
    return min(lengths, key=lambda p: p[0]) if lengths else (2048, None)


def rope_scalings(cfg: dict[str, Any]) -> tuple[RopeScaling, ...]:
    """The config's RoPE parameters as vLLM reads them after patch_rope_parameters: one entry,
    or one per layer type when nested; legacy 'type', 'su' and 'mrope' renamed; a config with
    only rope_theta has one 'default' entry; none for models without RoPE."""
    params = cfg.get("rope_parameters") or cfg.get("rope_scaling")
    if not isinstance(params, dict) or not params:
        theta = any(cfg.get(k) is not None for k in ("rope_theta", "rotary_emb_base"))
        return (RopeScaling(rope_type="default"),) if theta else ()
    nested = all(isinstance(v, dict) for v in params.values())
    entries = [v for v in params.values() if v] if nested else [params]
    original = cfg.get("original_max_position_embeddings")
    result = []
    for entry in entries:
        rope_type = str(entry.get("rope_type") or entry.get("type") or "default")
        rope_type = _LEGACY_ROPE_TYPES.get(rope_type, rope_type)
        factor = entry.get("factor")
        result.append(
            RopeScaling(
                rope_type=rope_type,
                factor=float(factor) if isinstance(factor, (int, float)) else None,
                # a top-level value wins (transformers standardize_rope_params, vLLM 0.19's patch)
                original_max_position_embeddings=original
                or entry.get("original_max_position_embeddings"),
            )
        )
    return tuple(result)


def apply_hf_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``config`` with vLLM's --hf-overrides laid over it, as ModelConfig.__post_init__ does:
    plain values update the config while it loads (get_config: config.update), then dict values
    replace a top-level attribute or merge key by key into a nested config
    (_apply_dict_overrides, _update_nested). transformers v5, which vLLM 0.33 runs, keeps
    rope_scaling and rope_parameters as one attribute, so both names are one key here."""
    result = _alias_rope(copy.deepcopy(config))
    updates = _alias_rope(copy.deepcopy(overrides))
    for key, value in updates.items():
        if not isinstance(value, dict):
            result[key] = value
    for key, value in updates.items():
        if not isinstance(value, dict):
            continue
        if key in _NESTED_CONFIGS and isinstance(result.get(key), dict):
            _update_nested(result[key], value)
        else:
            result[key] = value
    return result


def _without_rope_scaling(overrides: dict[str, Any]) -> dict[str, Any]:
    result = {k: v for k, v in overrides.items() if k != "rope_scaling"}
    for key in _NESTED_CONFIGS:
        if isinstance(result.get(key), dict):
            result[key] = _without_rope_scaling(result[key])
    return result


def _update_nested(target: dict[str, Any], updates: dict[str, Any]) -> None:
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _update_nested(target[key], value)
        else:
            target[key] = value


def _alias_rope(data: dict[str, Any]) -> dict[str, Any]:
    """rope_scaling renamed rope_parameters (transformers v5 convert_rope_params_to_dict:
    rope_scaling wins when both are set), in ``data`` and its nested configs."""
    if "rope_scaling" in data:
        scaling = data.pop("rope_scaling")
        if scaling or "rope_parameters" not in data:
            data["rope_parameters"] = scaling
    for key in _NESTED_CONFIGS:
        if isinstance(data.get(key), dict):
            _alias_rope(data[key])
    return data


def _vision_info(config: dict[str, Any], split: VisionParams | None) -> VisionInfo | None:
    """The vision tower's figures (None without a vision_config that names its depth)."""
    vision = config.get("vision_config")
    if not isinstance(vision, dict):
        return None
    width, inner = vision_width(vision)
    depth = vision.get("num_hidden_layers") or vision.get("depth")
    if not (width and inner and depth):
        return None
    tokens = config.get("mm_tokens_per_image")
    # a Mistral-format config's model_type is its text model's; vLLM serves it as Pixtral
    family = "pixtral" if is_mistral_vision_encoder(vision) else config.get("model_type")
    return VisionInfo(
        family=str(family or ""),
        hidden_size=width,
        intermediate_size=inner,
        depth=int(depth),
        patch_size=int(vision.get("patch_size") or 14),
        image_size=int(vision.get("image_size") or 0),
        num_channels=int(vision.get("num_channels") or vision.get("in_chans") or 3),
        temporal_patch_size=int(vision.get("temporal_patch_size") or 1),
        spatial_merge_size=int(vision.get("spatial_merge_size") or 1),
        tokens_per_image=int(tokens) if isinstance(tokens, int) else 0,
        attention_linear=split.attention if split else 0,
        mlp_linear=split.mlp if split else 0,
        projector_linear=split.projector if split else 0,
    )


def _kv_heads_per_layer(cfg: dict[str, Any], heads: int) -> list[int]:
    result = []
    for block in cfg.get("block_configs") or ():
        group = (block.get("attention") or {}).get("n_heads_in_group")
        result.append(heads // int(group) if group else 0)
    return result


def _global_layer_shapes(
    cfg: dict[str, Any], kinds: list[LayerKind], head_dim: int, kv_heads: int
) -> tuple[list[int], list[int]]:
    """(head size, KV heads) per layer where full-attention layers differ (Gemma-4,
    models/gemma4.py Gemma4DecoderLayer: global_head_dim; with attention_k_eq_v,
    num_global_key_value_heads, K loaded into both the K and the V slot); else two empty lists."""
    global_dim = cfg.get("global_head_dim")
    global_kv = kv_heads
    if cfg.get("attention_k_eq_v"):
        global_kv = int(cfg.get("num_global_key_value_heads") or kv_heads)
    if not isinstance(global_dim, int) or (global_dim, global_kv) == (head_dim, kv_heads):
        return [], []
    full = [k is LayerKind.FULL for k in kinds]
    return (
        [global_dim if f else head_dim for f in full],
        [global_kv if f else kv_heads for f in full],
    )


def parse_config(
    config: dict[str, Any],
    *,
    model_id: str,
    source: str,
    source_detail: str = "",
    safetensors_bytes: int | None = None,
    hf_overrides: dict[str, Any] | None = None,
) -> ModelInfo:
    """ModelInfo from a config dict (with vLLM's --hf-overrides applied); a value of the wrong
    type or range is a ModelConfigError."""
    from checker.schemas.error_words import error_text
    from checker.schemas.section import ValidationError

    try:
        _check_numbers(config)
        if not (hf_overrides and isinstance(config, dict)):
            return _parse_config(config, model_id, source, source_detail, safetensors_bytes)
        info = _parse_config(
            apply_hf_overrides(config, hf_overrides),
            model_id,
            source,
            source_detail,
            safetensors_bytes,
        )
        # Under transformers v4 vLLM copies rope_scaling into rope_parameters before it sets
        # the dict overrides, so an overridden rope_scaling changes nothing there.
        v4_config = apply_hf_overrides(config, _without_rope_scaling(hf_overrides))
        v4_rope = rope_scalings(_text_config(v4_config)[0])
        if v4_rope == info.rope_scalings:
            return info
        return info.model_copy(update={"rope_scalings_v4": v4_rope})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ModelConfigError(
            f"config.json gives an unusable '{where}': {error_text(err)}", hint=_HINT
        ) from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        raise ModelConfigError(
            f"config.json has a value of the wrong type or range ({exc})", hint=_HINT
        ) from None


# No size, count or rate in any model's config comes near 2**53; past it (1e308, 10**400) the
# planner's float arithmetic overflows to inf or loses the value.
_MAX_NUMBER = 2**53


# Mamba's dt clamp: transformers' default upper bound is float("inf"), which the published
# Nemotron-H configs write as Infinity or 1e308 (time_step_limit: [0.0, Infinity]); nothing
# sized reads it
_UNBOUNDED = re.compile(r"(^|\.)time_step_limit\[1\]$")


def _check_numbers(config: Any) -> None:
    """Walks the whole config (iteratively: JSON nests deeper than Python recurses)."""
    # a value's place is kept as (its parent's place, key, whether an index) and spelt out only
    # for a number out of range: a config holds hundreds of values, and almost never one such
    stack: list[tuple[_Place, Any]] = [(None, config)]
    while stack:
        place, value = stack.pop()
        if isinstance(value, dict):
            stack += [((place, k, False), v) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [((place, i, True), v) for i, v in enumerate(value)]
        elif isinstance(value, (int, float)) and (
            abs(value) > _MAX_NUMBER or not math.isfinite(value)
        ):
            where = _spelt(place)
            if not (value > 0 and _UNBOUNDED.search(where)):
                raise ModelConfigError(
                    f"config.json gives '{where}' the value {str(value)[:20]}, beyond any model",
                    hint=_HINT,
                )


_Place = tuple[Any, Any, bool] | None  # (parent's place, key or index, is an index); None: root


def _spelt(place: _Place) -> str:
    """A place as the error names it: ``rope_scaling.factor``, ``layer_types[3]``."""
    parts: list[tuple[Any, bool]] = []
    while place is not None:
        place, key, index = place
        parts.append((key, index))
    where = ""
    for key, index in reversed(parts):
        where = f"{where}[{key}]" if index else f"{where}.{key}" if where else str(key)
    return where


def _parse_config(
    config: dict[str, Any],
    model_id: str,
    source: str,
    source_detail: str,
    safetensors_bytes: int | None,
) -> ModelInfo:
    if not isinstance(config, dict):
        raise ModelConfigError(f"config for {model_id} is not a JSON object")
    cfg, model_type = _text_config(config)
    facts = type_facts(model_type)
    hidden = _require_int(cfg, facts, "hidden_size", "n_embd", "d_model")
    layers = _require_int(cfg, facts, "num_hidden_layers", "n_layer", "num_layers")
    free = bool(facts.get("attention_free"))
    # an attention-free model has no attention heads (a Mamba-2 config's num_heads and
    # head_dim are its mixer's, read by the state recipe)
    heads = 0 if free else _require_int(cfg, facts, "num_attention_heads", "n_head")
    kv_heads_layers = _kv_heads_per_layer(cfg, heads)
    kv_heads = (
        0
        if free
        else (
            _optional_int(cfg, facts, "num_key_value_heads")
            or _optional_int(cfg, facts, "multi_query_group_num")
            or max(kv_heads_layers, default=0)
            or heads
        )
    )
    head_dim = 0 if free else _optional_int(cfg, facts, "head_dim") or hidden // heads
    shape = facts.get("attention_shape")
    if shape:  # Zamba2: both derived by its config class, not read from config.json
        head_dim = _shape_value(cfg, facts, shape["head_dim"])
        kv_heads = _shape_value(cfg, facts, shape["kv_heads"])
    vocab = _require_int(cfg, facts, "vocab_size", "padded_vocab_size")
    kinds, unmodeled = _layer_kinds(cfg, facts, min(layers, _MAX_LAYERS + 1))
    if len(kinds) != min(layers, _MAX_LAYERS + 1):
        layers = len(kinds)  # the per-layer description wins
    if not 0 < layers <= _MAX_LAYERS:
        raise ModelConfigError(f"config.json describes {layers} decoder layers", hint=_HINT)
    head_dims, global_kv = _global_layer_shapes(cfg, kinds, head_dim, kv_heads)
    kv_heads_layers = kv_heads_layers or global_kv
    state = _state_info(cfg, facts, kinds)
    parallel = bool(state and facts["state"].get("parallel"))
    state_flags = tuple(parallel or k is LayerKind.LINEAR for k in kinds)
    if state is None and LayerKind.LINEAR in kinds:
        unmodeled.append(f"state layers of model_type '{model_type[:40]}'")
    # Gemma-3n / Gemma-4 (models/gemma3n.py, gemma4.py): the last num_kv_shared_layers layers
    # read the KV cache of an earlier layer of their kind and allocate none
    shared = _get(cfg, facts, "num_kv_shared_layers")
    shared = shared if isinstance(shared, int) and 0 < shared <= layers else 0
    kv_shared = tuple(i >= layers - shared for i in range(layers)) if shared else ()
    sparse_mla = "index_topk" in cfg and LayerKind.MLA in kinds
    indexer_bytes = _indexer_token_bytes(cfg) if sparse_mla else 0
    # the indexer's shape (models/deepseek_v2.py Indexer: index_topk, index_n_heads,
    # index_head_dim), which the serving estimate reads
    indexer_shape = [
        value if sparse_mla and isinstance(value, int) and 0 < value <= _MAX_SIZE else 0
        for value in (cfg.get(key) for key in ("index_topk", "index_n_heads", "index_head_dim"))
    ]
    compressed = _compressed_attention(cfg, facts, layers)
    quant = read_quant_config(config)
    dtype = config.get("torch_dtype") or config.get("dtype") or cfg.get("torch_dtype")
    params = count_params(
        cfg,
        config,
        model_type,
        facts,
        hidden=hidden,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        vocab=vocab,
        kinds=kinds,
        state=state,
        state_flags=state_flags,
        layer_kv_heads=tuple(kv_heads_layers),
        layer_head_dims=tuple(head_dims),
    )
    max_len, max_len_key = config_max_len(cfg, facts)
    experts = int(
        cfg.get("num_experts") or cfg.get("num_local_experts") or cfg.get("n_routed_experts") or 0
    )
    return ModelInfo(
        model_id=model_id,
        source=source,
        source_detail=source_detail,
        architectures=tuple(config.get("architectures") or ()),
        model_type=model_type,
        torch_dtype=str(dtype) if dtype else None,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        v_head_dim=cfg.get("v_head_dim"),
        intermediate_size=int(cfg.get("intermediate_size") or 0),
        vocab_size=vocab,
        tie_word_embeddings=bool(_get(cfg, facts, "tie_word_embeddings", False)),
        max_position_embeddings=_get(cfg, facts, "max_position_embeddings"),
        config_max_len=max_len,
        max_len_key=max_len_key,
        original_max_position_embeddings=cfg.get("original_max_position_embeddings"),
        rope_scalings=rope_scalings(cfg),
        layer_kinds=tuple(kinds),
        kv_heads_per_layer=tuple(kv_heads_layers),
        head_dim_per_layer=tuple(head_dims),
        layer_params=params.per_layer,
        sliding_window=_get(cfg, facts, "sliding_window") if LayerKind.SLIDING in kinds else None,
        attention_chunk_size=cfg.get("attention_chunk_size"),
        kv_lora_rank=cfg.get("kv_lora_rank"),
        qk_rope_head_dim=cfg.get("qk_rope_head_dim"),
        qk_nope_head_dim=cfg.get("qk_nope_head_dim"),
        q_lora_rank=cfg.get("q_lora_rank"),
        num_experts=experts,
        num_experts_per_tok=int(
            cfg.get("num_experts_per_tok") or cfg.get("experts_per_token") or 0
        ),
        moe_intermediate_size=int(
            cfg.get("moe_intermediate_size")
            or (cfg.get("intermediate_size") if experts else 0)
            or 0
        ),
        moe_layers=params.moe_layers,
        state=state,
        attention_free=free,
        state_layers=state_flags if parallel else (),
        unmodeled_layer_kinds=tuple(unmodeled),
        rope_cache_elements=params.rope_cache_elements,
        mtp_layers=_mtp_layers(cfg),
        draft_vocab_size=_draft_vocab(cfg),
        quant=quant,
        params=params.breakdown,
        safetensors_bytes=safetensors_bytes,
        is_multimodal=any(k in config for k in _MULTIMODAL_KEYS),
        vision=_vision_info(config, params.vision),
        supports_pp=model_type not in ("phi",),
        custom_code=isinstance(config.get("auto_map"), dict),
        sparse_mla=sparse_mla,
        indexer_token_bytes=indexer_bytes,
        index_topk=indexer_shape[0],
        index_heads=indexer_shape[1],
        index_head_dim=indexer_shape[2],
        indexer_layers=_indexer_layers(cfg, layers) if sparse_mla else (),
        compressed_attention=compressed,
        kv_shared_layers=kv_shared,
    )
