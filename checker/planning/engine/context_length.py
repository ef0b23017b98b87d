"""The context length vLLM runs with: the derived maximum of the model's config, the default
when none is given, and the length auto-fit (``max_model_len: auto`` / -1) chooses.

Source: config/model.py _get_and_verify_max_len and v1/core/kv_cache_planning.py
_auto_fit_max_model_len (0.33.0; kv_cache_utils.py in 0.19.0 .. 0.24.0).
"""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour, rope_unscaled_types
from checker.schemas.inputs import PlanRequest
from checker.schemas.model_info import LayerKind, ModelInfo, RopeScaling


def derived_max_len(
    model: ModelInfo, version: str, *, disable_sliding_window: bool = False
) -> tuple[float, str]:
    """vLLM's derived maximum and the key it names: the config's smallest length key (capped
    at the sliding window when sliding is disabled), times the RoPE factor of every type that
    stretches it. With RoPE parameters the product is a float, which vLLM prints as such."""
    derived: float = model.config_max_len
    key = model.max_len_key or "max_seq_len"
    window = model.sliding_window
    if disable_sliding_window and window is not None and window < derived:
        derived, key = window, "sliding_window"
    # Gemma-3's maximum is already scaled ("gemma3" in model_type, vLLM's own test)
    ropes = _ropes(model, version)
    if ropes and "gemma3" not in model.model_type:
        unscaled = rope_unscaled_types(version)
        factor: float = 1.0
        for rope in ropes:
            if rope.rope_type in unscaled:
                continue
            factor = rope.factor if rope.factor is not None else factor
            if rope.rope_type == "yarn":
                derived = rope.original_max_position_embeddings or model.config_max_len
        derived *= factor
    return derived, key


def rope_flag_costs(request: PlanRequest, model: ModelInfo, version: str) -> dict[str, str]:
    """What --rope-scaling / --rope-theta (0.6 .. 0.10: --hf-overrides keys) do, for --explain;
    ``model`` has the overrides applied."""
    given = request.engine.vllm_args
    costs: dict[str, str] = {}
    if "rope-scaling" in given:
        derived, key = derived_max_len(
            model, version, disable_sliding_window=request.engine.disable_sliding_window
        )
        costs["--rope-scaling"] = (
            f"hf_overrides' rope_scaling: the derived maximum length is {int(derived):,} tokens "
            f"({key} and the RoPE factor; _get_and_verify_max_len), which max_model_len is "
            "checked against; no memory is sized by it"
        )
    if "rope-theta" in given:
        costs["--rope-theta"] = "hf_overrides' rope_theta: no length or memory depends on it"
    return costs


def _ropes(model: ModelInfo, version: str) -> tuple[RopeScaling, ...]:
    """The RoPE parameters ``version`` reads: releases that copy rope_scaling into
    rope_parameters on transformers v4 ignore an overridden rope_scaling (vllm_messages.yaml
    behaviours rope_parameters_copied, transformers_v5)."""
    if (
        model.rope_scalings_v4 is not None
        and has_behaviour("rope_parameters_copied", version)
        and not has_behaviour("transformers_v5", version)
    ):
        return model.rope_scalings_v4
    return model.rope_scalings


def default_max_len(model: ModelInfo, version: str, *, disable_sliding_window: bool) -> int:
    """The length vLLM runs with when none is given (or auto-fit starts from): the derived
    maximum, except LongRoPE models, which default to original_max_position_embeddings."""
    derived, _ = derived_max_len(model, version, disable_sliding_window=disable_sliding_window)
    longrope = any(r.rope_type == "longrope" for r in _ropes(model, version))
    if longrope and has_behaviour("longrope_default_original", version):
        return int(model.original_max_position_embeddings or derived)
    return int(derived)


def engine_model(model: ModelInfo, request: PlanRequest) -> ModelInfo:
    """The model as the engine builds it. --disable-sliding-window clears the config's window
    after the length is derived, so every sliding layer attends fully and caches every token
    (config/model.py ModelConfig.__post_init__: hf_text_config.sliding_window = None). The
    window stays recorded: the derived maximum is capped at it."""
    if not request.engine.disable_sliding_window or LayerKind.SLIDING not in model.kinds_present:
        return model
    kinds = [LayerKind.FULL if k is LayerKind.SLIDING else k for k in model.layer_kinds]
    return ModelInfo.model_validate({**model.model_dump(), "layer_kinds": kinds})
