"""Quantization rules VW107-VW111 against checker/data/quantization_methods.yaml."""

from __future__ import annotations

from checker.planning.engine.releases import method_facts
from checker.schemas.model_info import ModelInfo
from tests.planning.plans import AWQ, catalog_model, fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SHORT = {"max_model_len": 8192}


def awq_llama() -> ModelInfo:
    return catalog_model(LLAMA, **AWQ)


def test_method_the_pinned_release_does_not_have() -> None:
    gpt_oss = "openai/gpt-oss-20b"  # an mxfp4 checkpoint; vLLM 0.8 had no mxfp4
    found = only(plan(gpt_oss, version="0.8", **SHORT), "VW107")
    assert found.message.startswith("Unknown quantization method: mxfp4. Must be one of ['awq',")
    assert found.key == "model.id"
    assert not fired(plan(gpt_oss, version="0.19", **SHORT), "VW107")


def test_flag_disagreeing_with_the_checkpoint() -> None:
    resp = plan(LLAMA, model=awq_llama(), quantization="gptq", **SHORT)
    found = only(resp, "VW108")
    assert found.message == (
        "Quantization method specified in the model config (awq) does not match the "
        "quantization method specified in the `quantization` argument (gptq)."
    )
    assert found.fix_values == {"model.quantization": "none"}


def test_flags_vllm_accepts_for_an_awq_checkpoint() -> None:
    for method in ("awq", "awq_marlin", "moe_wna16"):
        resp = plan(LLAMA, model=awq_llama(), quantization=method, dtype="float16", **SHORT)
        assert not fired(resp, "VW108"), method


def test_awq_on_an_unquantized_checkpoint_cannot_load() -> None:
    found = only(plan(LLAMA, quantization="awq", **SHORT), "VW109")
    assert found.message == "Cannot find the config file for awq"
    assert found.fix_values == {"model.quantization": "none"}


def test_online_fp8_and_bitsandbytes_of_an_unquantized_checkpoint_are_fine() -> None:
    for method in ("fp8", "bitsandbytes"):
        resp = plan(LLAMA, quantization=method, **SHORT)
        assert not fired(resp, "VW109"), method
        assert not fired(resp, "VW110"), method


def test_method_below_its_minimum_capability_in_that_release() -> None:
    found = only(plan(LLAMA, "T4", quantization="fp8", version="0.10", max_model_len=4096), "VW110")
    assert found.message == (
        "The quantization method fp8 is not supported for the current GPU. Minimum capability: "
        "80. Current capability: 75."
    )
    # from 0.14 fp8 runs on sm_75 through Marlin
    assert method_facts("fp8", "0.14.0").min_capability == 75  # type: ignore[union-attr]
    resp = plan(LLAMA, "T4", quantization="fp8", version="0.19", max_model_len=4096)
    assert not fired(resp, "VW110")


def test_awq_checkpoint_on_a_volta_gpu_runs_plain_awq_and_fails() -> None:
    # no Marlin below sm_75 and AWQ itself needs 7.5
    found = only(plan(LLAMA, "V100-SXM2-32GB", model=awq_llama(), **SHORT), "VW110")
    assert "The quantization method awq is not supported" in found.message
    assert found.key == "model.id"


def test_explicit_awq_with_bf16_fails_where_awq_is_fp16_only() -> None:
    resp = plan(LLAMA, model=awq_llama(), quantization="awq", dtype="bfloat16", version="0.19")
    found = only(resp, "VW111")
    assert found.message == (
        "torch.bfloat16 is not supported for quantization method awq. "
        "Supported dtypes: [torch.float16]"
    )
    assert found.fix_values == {"model.dtype": "float16"}
    assert "awq_marlin" in found.fix


def test_awq_with_bf16_passes_through_marlin_or_in_newer_releases() -> None:
    # unset quantization: vLLM upgrades an AWQ checkpoint to awq_marlin, which runs bf16
    assert not fired(plan(LLAMA, model=awq_llama(), dtype="bfloat16", version="0.19"), "VW111")
    # from 0.24 AWQ runs bf16 itself
    resp = plan(LLAMA, model=awq_llama(), quantization="awq", dtype="bfloat16", version="0.24")
    assert not fired(resp, "VW111")


def test_modelopt_fp8_runs_on_ampere_in_the_releases_read_from_033() -> None:
    # modelopt.py ModelOptFp8Config.get_min_capability: 89 up to 0.24.0, 80 in 0.33.0 and 0.34.0
    modelopt = catalog_model(
        LLAMA, quantization_config={"quant_method": "modelopt", "quant_algo": "FP8"}
    )
    found = only(plan(LLAMA, "A100-80GB", model=modelopt, version="0.24", **SHORT), "VW110")
    assert "Minimum capability: 89. Current capability: 80." in found.message
    for version in ("0.33", "0.34"):
        resp = plan(LLAMA, "A100-80GB", model=modelopt, version=version, **SHORT)
        assert not fired(resp, "VW110")
