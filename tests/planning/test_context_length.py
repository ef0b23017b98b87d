"""The context length a plan runs with, as vLLM derives it (config/model.py
_get_and_verify_max_len): RoPE parameters in either spelling, --hf-overrides, LongRoPE's default,
--disable-sliding-window and VLLM_ALLOW_LONG_MAX_MODEL_LEN."""

from __future__ import annotations

from typing import Any

from checker.models.catalog import lookup
from checker.models.config_parser import parse_config
from checker.planning.engine.context_length import derived_max_len
from checker.schemas.enums import Severity, Verdict
from checker.schemas.model_info import ModelInfo
from tests.planning.plans import fired, only, plan

QWEN3 = "Qwen/Qwen3-8B"  # max_position_embeddings 40960
LLAMA3 = "meta-llama/Meta-Llama-3-8B-Instruct"  # max_position_embeddings 8192
# Qwen3's published long-context recipe
YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


def overridden(model_id: str, hf_overrides: dict[str, Any]) -> ModelInfo:
    found = lookup(model_id)
    assert found is not None
    return parse_config(found[0], model_id=model_id, source="catalog", hf_overrides=hf_overrides)


def test_a_dynamic_rope_override_stretches_llama3_in_either_spelling_from_021() -> None:
    for key in ("rope_scaling", "rope_parameters"):
        model = overridden(LLAMA3, {key: {"rope_type": "dynamic", "factor": 2.0}})
        for version in ("0.21.0", "0.33.0"):
            assert derived_max_len(model, version) == (16384.0, "max_position_embeddings")
        assert not fired(plan(LLAMA3, model=model, max_model_len=16384), "VW103")
    assert fired(plan(LLAMA3, max_model_len=16384), "VW103")


def test_on_transformers_v4_an_overridden_rope_scaling_is_not_read_back() -> None:
    # 0.19 runs transformers 4.x: rope_parameters was copied from the config before the
    # override set rope_scaling, so only the rope_parameters spelling takes effect
    scaling = overridden(LLAMA3, {"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}})
    params = overridden(LLAMA3, {"rope_parameters": {"rope_type": "dynamic", "factor": 2.0}})
    assert derived_max_len(scaling, "0.19.0")[0] == 8192
    assert derived_max_len(params, "0.19.0")[0] == 16384
    assert fired(plan(LLAMA3, model=scaling, max_model_len=16384, version="0.19"), "VW103")


def test_a_config_in_transformers_v5_spelling_is_read_like_rope_scaling() -> None:
    found = lookup(LLAMA3)
    assert found is not None
    config = {**found[0], "rope_parameters": {"rope_type": "linear", "factor": 4.0}}
    model = parse_config(config, model_id=LLAMA3, source="catalog")
    assert derived_max_len(model, "0.33.0")[0] == 32768


def test_qwen3_yarn_at_131072_starts_through_024_and_needs_the_length_key_in_033() -> None:
    model = overridden(QWEN3, {"rope_scaling": YARN})
    # through 0.24 yarn stretches original_max_position_embeddings: 32768 x 4
    assert not fired(plan(QWEN3, model=model, max_model_len=131072, version="0.24"), "VW103")
    spelled = overridden(QWEN3, {"rope_parameters": YARN})
    assert not fired(plan(QWEN3, model=spelled, max_model_len=131072, version="0.19"), "VW103")
    refused = only(plan(QWEN3, model=model, max_model_len=131072, version="0.33"), "VW103")
    assert "(max_position_embeddings=40960.0 or model_max_length=None" in refused.message
    assert refused.fix_values == {"model.max_model_len": 40960}
    # 0.33 takes max_position_embeddings as already scaled: override it too
    both = overridden(QWEN3, {"rope_scaling": YARN, "max_position_embeddings": 131072})
    assert not fired(plan(QWEN3, model=both, max_model_len=131072, version="0.33"), "VW103")


def test_allow_long_max_model_len_turns_the_refusal_into_vllms_warning() -> None:
    resp = plan(LLAMA3, max_model_len=16384, allow_long_max_model_len=True)
    found = only(resp, "VW103")
    assert found.severity is Severity.WARNING
    assert found.message.startswith(
        "User-specified max_model_len (16384) is greater than the derived max_model_len "
        "(max_position_embeddings=8192.0 or model_max_length=None in model's config.json). "
        "VLLM_ALLOW_LONG_MAX_MODEL_LEN must be used with extreme caution."
    )
    assert resp.feasibility.verdict is not Verdict.FAIL
    assert resp.feasibility.max_model_len == 16384
    old = only(
        plan(LLAMA3, max_model_len=16384, allow_long_max_model_len=True, version="0.8"), "VW103"
    )
    assert old.message.endswith("Make sure the value is correct and within the model context size.")
    # 0.4 had no such variable: still refused
    ancient = only(
        plan(LLAMA3, max_model_len=16384, allow_long_max_model_len=True, version="0.4"), "VW103"
    )
    assert ancient.severity is Severity.ERROR


def test_longrope_models_default_to_their_original_length_from_019() -> None:
    phi = "microsoft/Phi-3.5-mini-instruct"  # longrope, 131072 positions, original 4096
    assert plan(phi, "L4", version="0.19").feasibility.max_model_len == 4096
    assert plan(phi, "L4", version="0.33").feasibility.max_model_len == 4096
    assert plan(phi, "L4", version="0.8").feasibility.max_model_len == 131072
    # longrope's factor never stretches the maximum: 131072 may be asked for
    assert not fired(plan(phi, "H100-80GB", max_model_len=131072), "VW103")


def test_disable_sliding_window_caps_the_length_and_caches_every_layer_fully() -> None:
    # Capped at the window, full attention stores what the window would: one group, same tokens
    gemma = "google/gemma-2-9b-it"  # sliding window 4096 on every other layer, 8192 positions
    hybrid = plan(gemma, max_model_len=4096)
    full = plan(gemma, max_model_len=4096, disable_sliding_window=True)
    assert full.feasibility.kv is not None and hybrid.feasibility.kv is not None
    assert full.feasibility.kv.num_groups == 1 < hybrid.feasibility.kv.num_groups
    assert plan(gemma, disable_sliding_window=True).feasibility.max_model_len == 4096
    refused = only(plan(gemma, max_model_len=8192, disable_sliding_window=True), "VW103")
    assert "(sliding_window=4096.0 or model_max_length=None" in refused.message
