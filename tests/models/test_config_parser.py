from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.errors import ModelConfigError
from checker.models.catalog import lookup
from checker.models.config_parser import apply_hf_overrides, parse_config, rope_scalings
from checker.planning.engine.context_length import derived_max_len
from checker.schemas.model_info import LayerKind, ModelInfo

DATA = Path(__file__).resolve().parent.parent / "data"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "configs" / f"{name}.json").read_text())
    return data


def info(name: str) -> ModelInfo:
    return parse_config(load(name), model_id=name.replace("__", "/"), source="local")


# Stated counts from tests/data/param_counts.yaml (numeric, or the text figure it quotes).
# phi-4's "14 billion" is a rounded marketing figure for 14.66e9 and is not used.
STATED = {
    "meta-llama__Llama-3.1-70B": 70553706496,
    "Qwen__Qwen2.5-7B": 7615616000,
    "Qwen__Qwen3-30B-A3B": 30.5e9,
    "openai__gpt-oss-20b": 21e9,
    "Qwen__Qwen2.5-1.5B": 1543714304,
    "meta-llama__Llama-3.1-8B": 8.03e9,
    "mistralai__Mixtral-8x7B-v0.1": 46.7e9,
    "deepseek-ai__DeepSeek-V2-Lite-Chat": 16e9,
}


def test_stated_counts_match_the_public_file() -> None:
    text = (DATA / "param_counts.yaml").read_text()
    counts = yaml.safe_load(text)["models"]
    assert any(m.get("total_params") == STATED["meta-llama__Llama-3.1-70B"] for m in counts)
    assert "30.5B total" in text and "21B total" in text and "46.7B total" in text


@pytest.mark.parametrize(("name", "stated"), sorted(STATED.items()))
def test_param_count_within_one_percent(name: str, stated: float) -> None:
    # Rounded figures ("16B", "21B") only pin the count to their last digit.
    rounding = 0.5e9 if stated % 1e9 == 0 and stated < 100e9 else 0.0
    count = info(name).param_count
    assert abs(count - stated) <= max(0.01 * stated, rounding), count


def test_llama_exact_architecture() -> None:
    m = info("meta-llama__Llama-3.1-8B")
    assert (m.num_hidden_layers, m.num_attention_heads, m.num_key_value_heads) == (32, 32, 8)
    assert m.head_dim == 128
    assert m.param_count == 8_030_261_248
    assert (m.config_max_len, m.max_len_key) == (131072, "max_position_embeddings")
    assert [r.rope_type for r in m.rope_scalings] == ["llama3"]
    assert derived_max_len(m, "0.33.0") == (131072.0, "max_position_embeddings")  # not stretched
    assert set(m.layer_kinds) == {LayerKind.FULL}
    assert not m.tie_word_embeddings


@pytest.mark.parametrize(
    ("key", "value"),
    [("num_key_value_heads", "x"), ("num_key_value_heads", 0), ("head_dim", -128)],
)
def test_an_unusable_optional_count_is_named_not_replaced(key: str, value: Any) -> None:
    """A count the config may omit, given as something no model has, is refused by name: not
    Python's int() wording, not a silent fall back to the attention heads (other KV figures)."""
    config = {**load("meta-llama__Llama-3.1-8B"), key: value}
    with pytest.raises(ModelConfigError) as err:
        parse_config(config, model_id="a/b", source="local")
    assert err.value.message == (
        f"config.json gives '{key}' the value {value!r}: expected a whole number above 0"
    )
    config[key] = None  # null is the field left out: the usual fallback
    assert parse_config(config, model_id="a/b", source="local").num_key_value_heads > 0


def test_head_dim_comes_from_config_not_hidden_over_heads() -> None:
    m = info("google__gemma-3-12b-it")  # 3840 / 16 = 240, config says 256
    assert m.head_dim == 256
    assert m.hidden_size // m.num_attention_heads != m.head_dim


def test_gemma3_sliding_pattern_and_vision() -> None:
    m = info("google__gemma-3-12b-it")
    assert m.layer_kinds.count(LayerKind.FULL) == 8
    assert m.layer_kinds.count(LayerKind.SLIDING) == 40
    assert m.layer_kinds[5] is LayerKind.FULL and m.layer_kinds[0] is LayerKind.SLIDING
    assert m.sliding_window == 1024
    assert m.is_multimodal and m.params.vision > 300e6
    assert m.tie_word_embeddings and m.params.lm_head == 0


def test_gemma3_minimal_text_config_uses_transformers_defaults() -> None:
    m = info("google__gemma-3-4b-it")
    assert (m.num_attention_heads, m.num_key_value_heads, m.head_dim) == (8, 4, 256)


def test_gemma2_alternates_and_gpt_oss_uses_layer_types() -> None:
    gemma = info("google__gemma-2-9b-it")
    assert gemma.layer_kinds[:4] == (LayerKind.SLIDING, LayerKind.FULL) * 2
    oss = info("openai__gpt-oss-20b")
    assert oss.layer_kinds.count(LayerKind.SLIDING) == 12
    # yarn: 4096 x 32 through 0.24; from 0.33 max_position_embeddings is taken as scaled
    assert derived_max_len(oss, "0.19.0")[0] == derived_max_len(oss, "0.33.0")[0] == 131072
    assert oss.num_experts == 32 and oss.num_experts_per_tok == 4


def test_mla_and_moe_layers() -> None:
    m = info("deepseek-ai__DeepSeek-V3")
    assert m.uses_mla and (m.kv_lora_rank, m.qk_rope_head_dim) == (512, 64)
    assert m.moe_layers[:4] == (False, False, False, True)  # first_k_dense_replace = 3
    assert m.quant is not None and m.quant.method == "fp8" and m.quant.group_size == 128 * 128
    assert derived_max_len(m, "0.19.0")[0] == derived_max_len(m, "0.33.0")[0] == 163840


def test_hybrid_models() -> None:
    nano = info("nvidia__NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    assert nano.layer_kinds.count(LayerKind.FULL) == 6
    assert nano.state is not None and sum(nano.state_layer_flags) == 23
    # nemotron_h.py get_mamba_state_shape_from_config: intermediate = heads x head dim
    assert (nano.state.intermediate_size, nano.state.n_groups) == (64 * 64, 8)
    assert nano.state.ssm_dtype == "float32"
    nxt = info("Qwen__Qwen3-Next-80B-A3B-Thinking")
    assert nxt.layer_kinds.count(LayerKind.FULL) == 12
    nas = info("nvidia__Llama-3_3-Nemotron-Super-49B-v1")
    assert LayerKind.NONE in nas.layer_kinds
    assert nas.kv_heads_of(0) == 8 and 0 in nas.kv_heads_per_layer


def test_gated_attention_output_doubles_the_query_projection() -> None:
    # vLLM qwen3_next.py Qwen3NextAttention: qkv_proj projects total_num_heads x
    # (1 + attn_output_gate) query heads, the gate defaulting to on (Qwen3.5 reuses the class)
    nxt = info("Qwen__Qwen3-Next-80B-A3B-Thinking")  # its config leaves the key out
    q, kv = 16 * 256, 2 * 256
    assert nxt.params.attention_linear == 12 * 2048 * (2 * q + 2 * kv + q)
    config = load("Qwen__Qwen3-Next-80B-A3B-Thinking")
    ungated = parse_config(
        {**config, "attn_output_gate": False}, model_id="Qwen/ungated", source="local"
    )
    assert ungated.params.attention_linear == 12 * 2048 * (q + 2 * kv + q)


def test_llama4_chunked_layers() -> None:
    m = info("meta-llama__Llama-4-Scout-17B-16E-Instruct")
    assert m.layer_kinds[3] is LayerKind.FULL and m.layer_kinds[0] is LayerKind.CHUNKED
    assert m.attention_chunk_size == 8192


def test_quantized_checkpoint_and_non_gated_mlp() -> None:
    fp8 = info("Qwen__Qwen3-8B-FP8")
    assert fp8.quant is not None and fp8.quant.method == "fp8"
    phi = info("microsoft__phi-2")
    assert phi.params.mlp_linear == 2 * phi.hidden_size * phi.intermediate_size * 32


def test_partial_config_without_required_field_is_a_clear_error() -> None:
    with pytest.raises(ModelConfigError, match="vocab_size"):
        parse_config(
            {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 1},
            model_id="x/y",
            source="local",
        )
    with pytest.raises(ModelConfigError):
        parse_config([], model_id="x/y", source="local")  # type: ignore[arg-type]


def test_hf_overrides_follow_vllms_flat_and_dict_rules() -> None:
    base = {
        **load("meta-llama__Llama-3.1-8B"),
        "text_config": {"max_position_embeddings": 4096, "rope_scaling": {"rope_type": "linear"}},
    }
    merged = apply_hf_overrides(
        base,
        {
            "max_position_embeddings": 65536,  # flat: set on the config
            "rope_scaling": {"rope_type": "dynamic", "factor": 2.0},  # dict: replaces the whole
            "text_config": {"rope_scaling": {"factor": 3.0}},  # nested config: merged key by key
        },
    )
    assert merged["max_position_embeddings"] == 65536
    assert merged["rope_parameters"] == {"rope_type": "dynamic", "factor": 2.0}
    assert "rope_scaling" not in merged  # transformers v5: one attribute, two names
    assert merged["text_config"]["rope_parameters"] == {"rope_type": "linear", "factor": 3.0}
    assert base["text_config"]["rope_scaling"] == {"rope_type": "linear"}  # input untouched


def test_rope_parameters_read_per_layer_type_and_legacy_names() -> None:
    nested = rope_scalings(
        {
            "rope_parameters": {
                "full_attention": {"rope_type": "yarn", "factor": 8.0},
                "sliding_attention": {"rope_type": "default"},
            },
            "original_max_position_embeddings": 4096,
        }
    )
    assert [(r.rope_type, r.factor) for r in nested] == [("yarn", 8.0), ("default", None)]
    assert nested[0].original_max_position_embeddings == 4096
    legacy = rope_scalings({"rope_scaling": {"type": "su", "factor": 2}})
    assert [r.rope_type for r in legacy] == ["longrope"]
    assert rope_scalings({"rope_theta": 10000.0})[0].rope_type == "default"
    assert rope_scalings({"n_positions": 1024}) == ()  # GPT-2: absolute positions, no RoPE


def test_jamba_layout_experts_and_mamba_weights() -> None:
    found = lookup("ai21labs/AI21-Jamba-1.5-Mini")  # the catalog copy, with its provenance
    assert found is not None
    jamba = parse_config(found[0], model_id="ai21labs/AI21-Jamba-1.5-Mini", source="catalog")
    # transformers JambaConfig: attention where i % attn_layer_period == attn_layer_offset,
    # experts where i % expert_layer_period == expert_layer_offset
    attends = [i for i, k in enumerate(jamba.layer_kinds) if k is LayerKind.FULL]
    assert attends == [4, 12, 20, 28] and sum(jamba.state_layer_flags) == 28
    assert [i for i, moe in enumerate(jamba.moe_layers) if moe] == list(range(1, 32, 2))
    assert jamba.state is not None and jamba.state.intermediate_size == 2 * 4096
    # the model card's 52B total parameters (12B active)
    assert 51e9 < jamba.param_count < 53e9


def test_a_partial_hybrid_config_takes_transformers_defaults() -> None:
    found = lookup("ai21labs/AI21-Jamba-1.5-Mini")
    assert found is not None
    # JambaConfig's defaults (d_state 16, d_conv 4, expand 2, attention every 8th from 4) are
    # Jamba-1.5-Mini's own values, so dropping the keys changes nothing
    keys = ("mamba_d_state", "mamba_d_conv", "mamba_expand", "attn_layer_period")
    partial = {k: v for k, v in found[0].items() if k not in keys}
    full = parse_config(found[0], model_id="jamba", source="catalog")
    cut = parse_config(partial, model_id="jamba", source="catalog")
    assert cut.state == full.state and cut.layer_kinds == full.layer_kinds
    # an explicit null is not a missing key: there is nothing to size the state with
    with pytest.raises(ModelConfigError, match="mamba_expand"):
        parse_config({**found[0], "mamba_expand": None}, model_id="jamba", source="catalog")


def test_mambas_unbounded_time_step_limit_is_read_but_other_infinities_are_refused() -> None:
    # published Nemotron-H configs write transformers' default dt clamp as [0.0, Infinity]
    found = lookup("nvidia/Nemotron-H-56B-Base-8K")
    assert found is not None and found[0]["time_step_limit"] == [0.0, math.inf]
    info = parse_config(found[0], model_id="nvidia/Nemotron-H-56B-Base-8K", source="t")
    assert info.state is not None and info.cache_layer_count == 10
    # Nemotron-3 Ultra's config writes the same bound as 1e308
    parse_config({**found[0], "time_step_limit": [0.0, 1e308]}, model_id="x", source="t")
    for bad in ({"time_step_limit": [math.inf, 0.0]}, {"rope_theta": math.inf}):
        with pytest.raises(ModelConfigError, match="beyond any model"):
            parse_config({**found[0], **bad}, model_id="x", source="t")


def test_latent_moe_experts_are_counted_at_their_narrower_width() -> None:
    # NemotronHMoE (nemotron_h.py): with moe_latent_size the routed experts work at 1024 wide
    # between fc1/fc2_latent_proj; the model id states 120B parameters in all
    path = (
        Path(__file__).parents[1]
        / "data/configs/nvidia__NVIDIA-Nemotron-3-Super-120B-A12B-FP8.json"
    )
    config = json.loads(path.read_text())
    info = parse_config(config, model_id="nvidia/NVIDIA-Nemotron-3-Super-120B-A12B", source="t")
    assert 119e9 < info.param_count < 122e9
    full_width = parse_config({**config, "moe_latent_size": None}, model_id="x", source="t")
    assert full_width.param_count > 3 * info.param_count
