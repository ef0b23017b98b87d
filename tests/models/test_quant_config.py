"""ModelOpt checkpoints are sized by the algorithm vLLM resolves from their quant_algo."""

from __future__ import annotations

from typing import Any

import pytest

from checker.models.quant_config import read_quant_config

# nvidia/Qwen3-32B-NVFP4's hf_quant_config.json "quantization" block, as vendored by
# ai-dynamo/aiconfigurator (src/aiconfigurator/model_configs/
# nvidia--Qwen3-32B-NVFP4_hf_quant_config.json @ f577ab8432dfc9970fea27853a24861a6d3076cf)
QWEN3_32B_NVFP4 = {
    "quant_algo": "NVFP4",
    "kv_cache_quant_algo": "FP8",
    "group_size": 16,
    "exclude_modules": ["lm_head"],
}


@pytest.mark.parametrize(
    "quantization",
    [
        {"quant_method": "modelopt", "quantization": QWEN3_32B_NVFP4},  # nested, as hf_quant_config
        {"quant_method": "modelopt", **QWEN3_32B_NVFP4},  # flat, as a config.json carries it
    ],
)
def test_modelopt_nvfp4_is_four_bit_with_its_excluded_modules(quantization: dict[str, Any]) -> None:
    info = read_quant_config({"quantization_config": quantization})
    assert info is not None
    assert (info.method, info.weight_bits, info.group_size) == ("modelopt_fp4", 4, 16)
    assert info.skipped_modules == ("lm_head",)


def test_modelopt_fp8_stays_eight_bit() -> None:
    info = read_quant_config(
        {"quantization_config": {"quant_method": "modelopt", "quant_algo": "FP8"}}
    )
    assert info is not None and (info.method, info.weight_bits) == ("modelopt", 8)


@pytest.mark.parametrize(
    ("algo", "method", "bits"),
    [("NVFP4", "modelopt_fp4", 4), ("FP8", "modelopt", 8), ("fp8_pb_wo", "modelopt", 8)],
)
def test_an_hf_quant_config_gets_its_method_from_the_producer_and_algo(
    algo: str, method: str, bits: int
) -> None:
    # hf_quant_config.json carries no quant_method: vLLM sets it from producer and quant_algo
    q = {
        "producer": {"name": "modelopt", "version": "0.29.0"},
        "quantization": {"quant_algo": algo},
    }
    info = read_quant_config({"quantization_config": q})
    assert info is not None and (info.method, info.weight_bits) == (method, bits)


@pytest.mark.parametrize(
    ("quantization", "kv"),
    [
        (
            {"quant_method": "modelopt", "quant_algo": "FP8", "kv_cache_quant_algo": "FP8"},
            "fp8_e4m3",
        ),
        (
            {
                "quant_method": "modelopt",
                "quant_algo": "NVFP4",
                "kv_cache_scheme": {"dynamic": False, "num_bits": 8, "type": "float"},
            },
            "fp8_e4m3",
        ),
        ({"quant_method": "modelopt", "quant_algo": "NVFP4", "kv_cache_quant_algo": "NVFP4"}, None),
        ({"quant_method": "fp8", "kv_cache_quant_algo": "FP8"}, None),  # ModelOpt's key only
    ],
)
def test_the_checkpoint_kv_cache_dtype_auto_becomes(
    quantization: dict[str, Any], kv: str | None
) -> None:
    info = read_quant_config({"quantization_config": quantization})
    assert info is not None and info.kv_cache_dtype == kv
    nested = read_quant_config({"text_config": {"quantization_config": quantization}})
    assert nested is not None and nested.kv_cache_dtype is None  # vLLM reads the top level only
