"""Reduce a checkpoint's quantization_config to what weight sizing needs."""

from __future__ import annotations

from typing import Any

from checker.errors import ModelConfigError
from checker.schemas.model_info import QuantInfo


def _compressed_tensors(q: dict[str, Any]) -> QuantInfo:
    groups = q.get("config_groups") or {}
    first: dict[str, Any] = next(iter(groups.values()), {}) if isinstance(groups, dict) else {}
    weights = first.get("weights") or {}
    acts = first.get("input_activations") or {}
    bits = int(weights.get("num_bits") or 8)
    strategy = weights.get("strategy")
    group = weights.get("group_size") if strategy == "group" else None
    return QuantInfo(
        method="compressed-tensors",
        weight_bits=bits,
        group_size=group,
        has_zero_points=not weights.get("symmetric", True),
        activation_bits=acts.get("num_bits"),
        skipped_modules=tuple(q.get("ignore") or ()),
        detail=f"{weights.get('type', 'int')}{bits} {strategy or ''} {q.get('format', '')}".strip(),
    )


def _modelopt_fields(q: dict[str, Any]) -> dict[str, Any]:
    """Where a ModelOpt config keeps quant_algo and its companions: under "quantization" in
    hf_quant_config.json's layout, else at the top (_extract_modelopt_quant_algo)."""
    nested = q.get("quantization")
    return nested if isinstance(nested, dict) else q


def _modelopt(
    q: dict[str, Any], method: str, skipped: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """A ModelOpt checkpoint's method as vLLM resolves it: quant_algo (top level, or under
    "quantization" as in hf_quant_config.json) containing FP4 selects modelopt_fp4
    (quantization/modelopt.py ModelOptNvFp4Config.override_quantization_method and
    _extract_modelopt_quant_algo, 0.19.0 and 0.33.0); exclude_modules are the skipped layers."""
    source = _modelopt_fields(q)
    algo = str(source.get("quant_algo") or "").upper()
    excluded = source.get("exclude_modules") or q.get("exclude_modules")
    if isinstance(excluded, list) and not skipped:
        skipped = tuple(str(m) for m in excluded)
    return ("modelopt_fp4" if "FP4" in algo else method), skipped


HF_QUANT_CONFIG = "hf_quant_config.json"

# transformers_utils/model_arch_config_convertor.py _normalize_quantization_config (0.19.0,
# 0.33.0): a ModelOpt config (producer "modelopt") gets its quant_method from quant_algo;
# MIXED_PRECISION is known from 0.33.0, any other algorithm is a ValueError at start-up.
_MODELOPT_ALGOS = {
    "FP8": "modelopt",
    "FP8_PER_CHANNEL_PER_TOKEN": "modelopt",
    "FP8_PB_WO": "modelopt",
    "NVFP4": "modelopt_fp4",
    "MIXED_PRECISION": "modelopt_mixed",
}


def with_hf_quant_config(config: dict[str, Any], hf_quant: object, location: str) -> dict[str, Any]:
    """``config`` with ``hf_quant`` (the checkpoint's hf_quant_config.json) as its
    quantization_config, as vLLM merges it when config.json has none at the top level
    (transformers_utils/config.py get_config, 0.19.0 and 0.33.0: ModelOpt 0.29 and older
    write it there). ModelConfigError naming the file and ``location`` when it is unusable."""
    if hf_quant is None or config.get("quantization_config") is not None:
        return config
    merged = {**config, "quantization_config": hf_quant}
    try:
        read_quant_config(merged)
    except ModelConfigError as exc:
        why = exc.message.removeprefix("quantization_config ")
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        why = f"has a value of the wrong type or range ({str(exc)[:200]})"
    else:
        return merged
    raise ModelConfigError(
        f"{HF_QUANT_CONFIG} {why}",
        location=location,
        hint="fix or remove the file: vLLM reads it as the checkpoint's quantization_config",
    )


def _producer_method(q: dict[str, Any]) -> str | None:
    """quant_method as vLLM sets it for a ModelOpt config, or None when it is not one."""
    producer = q.get("producer")
    nested = q.get("quantization")
    legacy = isinstance(nested, dict) and "modelopt_quant_config" in nested  # 0.33.0 only
    if not (isinstance(producer, dict) and producer.get("name") == "modelopt") and not legacy:
        return None
    if not isinstance(nested, dict) or nested.get("quant_algo") is None:
        return None
    algo = str(nested["quant_algo"]).upper()
    if algo not in _MODELOPT_ALGOS:
        raise ModelConfigError(
            f"quantization_config has an unknown ModelOpt quant_algo {algo[:40]!r}",
            hint="vLLM accepts " + ", ".join(_MODELOPT_ALGOS),
        )
    return _MODELOPT_ALGOS[algo]


def _modelopt_kv_cache_dtype(q: dict[str, Any]) -> str | None:
    """The --kv-cache-dtype that auto becomes for a ModelOpt checkpoint (utils/torch_utils.py
    get_kv_cache_quant_algo_string, 0.19.0 and 0.33.0): kv_cache_quant_algo FP8, or an 8-bit
    static float kv_cache_scheme, is fp8_e4m3. NVFP4 (0.33.0 only) and unknown ones stay auto."""
    inner = _modelopt_fields(q)
    algo = (
        inner.get("kv_cache_scheme")
        or q.get("kv_cache_scheme")
        or inner.get("kv_cache_quant_algo")
        or q.get("kv_cache_quant_algo")
    )
    if isinstance(algo, dict):
        static_fp8 = (algo.get("dynamic"), algo.get("num_bits"), algo.get("type"))
        algo = "fp8" if static_fp8 == (False, 8, "float") else None
    return "fp8_e4m3" if isinstance(algo, str) and algo.lower() == "fp8" else None


def read_quant_config(config: dict[str, Any]) -> QuantInfo | None:
    """The checkpoint's quantization (top level, or nested in text_config), or None."""
    q = config.get("quantization_config")
    top_level = q is not None
    if q is None and isinstance(config.get("text_config"), dict):
        q = config["text_config"].get("quantization_config")
    if q is None:
        return None
    if not isinstance(q, dict):
        raise ModelConfigError("quantization_config is not an object")
    info = _read(q)
    # vLLM reads the KV cache algorithm from hf_config.quantization_config only
    kv = _modelopt_kv_cache_dtype(q) if top_level and info.method.startswith("modelopt") else None
    return info.model_copy(update={"kv_cache_dtype": kv}) if kv else info


def _read(q: dict[str, Any]) -> QuantInfo:
    method = _producer_method(q) or str(q.get("quant_method") or "").lower()
    # fp8.py Fp8Config.from_config reads ignored_layers before modules_to_not_convert;
    # modelopt.py reads ignore or exclude_modules
    skipped = tuple(
        q.get("ignored_layers")
        or q.get("modules_to_not_convert")
        or q.get("ignore")
        or q.get("exclude_modules")
        or ()
    )
    if method.startswith("modelopt"):
        method, skipped = _modelopt(q, method, skipped)
    if method == "compressed-tensors":
        return _compressed_tensors(q)
    if method in ("fp8", "fbgemm_fp8", "modelopt", "ptpc_fp8"):
        block = q.get("weight_block_size")
        return QuantInfo(
            method=method,
            weight_bits=8,
            group_size=int(block[0]) * int(block[1]) if block else None,
            activation_bits=8,
            skipped_modules=skipped,
            detail="block-wise fp8" if block else "per-tensor/channel fp8",
        )
    if method in ("awq", "gptq", "awq_marlin", "gptq_marlin"):
        return QuantInfo(
            method=method.replace("_marlin", ""),
            weight_bits=int(q.get("bits") or 4),
            group_size=int(q.get("group_size") or 128)
            if q.get("group_size", 128) not in (-1, None)
            else None,
            has_zero_points=True,
            skipped_modules=skipped,
        )
    if method == "bitsandbytes":
        four = bool(q.get("load_in_4bit"))
        return QuantInfo(
            method=method,
            weight_bits=4 if four else 8,
            group_size=64 if four else None,
            skipped_modules=tuple(q.get("llm_int8_skip_modules") or ()),
            detail="nf4/fp4" if four else "int8",
        )
    if method == "mxfp4":
        return QuantInfo(
            method=method,
            weight_bits=4,
            group_size=32,
            skipped_modules=skipped,
            detail="MXFP4 with one e8m0 scale per 32 weights",
        )
    if method in ("modelopt_fp4", "nvfp4"):
        return QuantInfo(
            method="modelopt_fp4",
            weight_bits=4,
            group_size=16,
            skipped_modules=skipped,
            detail="NVFP4 with fp8 scales per 16",
        )
    return QuantInfo(
        method=method or "unknown",
        weight_bits=16,
        skipped_modules=skipped,
        detail="unrecognised method: weights sized as unquantized",
    )
