"""Configuration rules VW101-VW106 and VW112-VW114: vLLM's own wording, per pinned release;
VW191: a release past the newest read."""

from __future__ import annotations

import pytest

from checker.planning.engine.versions import known_versions, newest_version
from checker.schemas.enums import Severity, Verdict
from tests.planning.plans import catalog_model, fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"  # 32 attention heads, 8 KV heads
GEMMA2 = "google/gemma-2-9b-it"
SHORT = {"max_model_len": 8192}


def test_tp_not_dividing_heads_lists_valid_sizes_and_pipeline_alternative() -> None:
    resp = plan(LLAMA, gpus=3, tp=3, **SHORT)
    found = only(resp, "VW101")
    assert found.message == (
        "Total number of attention heads (32) must be divisible by tensor parallel size (3)."
    )
    assert found.key == "hardware.tp_size"
    assert "[1, 2, 4, 8, 16, 32]" in found.fix
    assert "hardware.tp_size 1 with hardware.pp_size 3" in found.fix
    assert found.fix_values == {"hardware.tp_size": 2}  # the largest valid TP on 3 GPUs
    assert resp.feasibility.verdict is Verdict.FAIL


def test_tp_dividing_heads_passes() -> None:
    assert not fired(plan(LLAMA, gpus=4, tp=4, **SHORT), "VW101")


def test_tp_that_divides_heads_but_not_the_vocabulary_fails_like_vllm() -> None:
    # Qwen3-14B: 40 heads split 5 ways, but the 151,936-token vocabulary does not (v0.19 log:
    # "AssertionError: 151936 is not divisible by 5").
    resp = plan("Qwen/Qwen3-14B", gpus=5, tp=5, **SHORT)
    found = only(resp, "VW119")
    assert found.message == "151936 is not divisible by 5"
    assert not fired(resp, "VW101")
    assert found.fix_values == {"hardware.tp_size": 4}  # largest size every shard allows on 5
    assert "[1, 2, 4, 8]" in found.fix
    assert resp.feasibility.verdict is Verdict.FAIL


def test_kv_heads_must_split_evenly_below_their_count() -> None:
    # 48 heads and a 128,256 vocabulary split 3 ways, 8 KV heads do not.
    wide = catalog_model(LLAMA, num_attention_heads=48)
    assert only(plan(LLAMA, model=wide, gpus=3, tp=3, **SHORT), "VW119").message == (
        "8 is not divisible by 3"
    )
    # Past their count vLLM replicates KV heads instead of splitting them.
    assert not fired(plan(LLAMA, gpus=16, tp=16, **SHORT), "VW119")
    assert not fired(plan(LLAMA, gpus=4, tp=4, **SHORT), "VW119")


def test_pipeline_parallel_refused_for_a_model_without_it_and_by_old_vllm() -> None:
    # The pinned release's registry decides: Gemma-3n's class has no SupportsPP in 0.33.0
    gemma3n = catalog_model(LLAMA, architectures=["Gemma3nForConditionalGeneration"])
    found = only(plan(LLAMA, model=gemma3n, gpus=2, pp=2, **SHORT), "VW102")
    assert found.message.startswith("Pipeline parallelism is not supported for this model.")
    assert found.fix_values == {"hardware.pp_size": 1}
    # phi-2 gained it long ago (phi.py PhiForCausalLM(SupportsPP) in 0.19.0; Transformers
    # backend in 0.33.0); our per-model fact only answers before the registries we hold
    phi = catalog_model("microsoft/phi-2")
    assert not fired(plan("microsoft/phi-2", model=phi, gpus=2, pp=2, max_model_len=2048), "VW102")
    legacy = plan("microsoft/phi-2", model=phi, gpus=2, pp=2, max_model_len=2048, version="0.10")
    assert fired(legacy, "VW102")
    old = only(plan(LLAMA, gpus=2, pp=2, version="0.4", **SHORT), "VW102")
    assert old.message == "Pipeline parallelism is not supported yet."


def test_pipeline_parallel_of_a_model_that_supports_it_passes() -> None:
    assert not fired(plan(LLAMA, gpus=2, pp=2, **SHORT), "VW102")


def test_max_model_len_above_the_derived_maximum_in_each_release_wording() -> None:
    model_id = "meta-llama/Meta-Llama-3-8B-Instruct"  # max_position_embeddings 8192
    new = only(plan(model_id, max_model_len=16384), "VW103")
    # rope_theta gives the config RoPE parameters, so vLLM multiplies by the float factor 1.0
    assert new.message.startswith(
        "User-specified max_model_len (16384) is greater than the derived max_model_len "
        "(max_position_embeddings=8192.0 or model_max_length=None in model's config.json). "
        "To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. "
        "VLLM_ALLOW_LONG_MAX_MODEL_LEN must be used with extreme caution."
    )
    assert new.fix_values == {"model.max_model_len": 8192}
    old = only(plan(model_id, max_model_len=16384, version="0.8"), "VW103")
    assert "This may lead to incorrect model outputs or CUDA errors. To allow" in old.message
    assert not fired(plan(model_id, max_model_len=8192), "VW103")


def test_bf16_on_a_t4_fails_with_vllms_wording() -> None:
    resp = plan(LLAMA, "T4", dtype="bfloat16", max_model_len=4096)
    found = only(resp, "VW104")
    assert found.message == (
        "Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your T4 "
        "GPU has compute capability 7.5. You can use float16 instead by explicitly setting the "
        "`dtype` flag in CLI, for example: --dtype=half."
    )
    assert found.fix_values == {"model.dtype": "float16"}
    assert resp.feasibility.verdict is Verdict.FAIL
    # releases before 0.8 glued the flag name to the word before it
    old = only(plan(LLAMA, "T4", dtype="bfloat16", max_model_len=4096, version="0.7"), "VW104")
    assert "setting the`dtype` flag" in old.message


def test_bf16_passes_on_ampere_and_auto_falls_back_to_fp16_on_a_t4() -> None:
    assert not fired(plan(LLAMA, "A100-80GB", dtype="bfloat16", **SHORT), "VW104")
    auto = plan(LLAMA, "T4", max_model_len=4096)
    assert auto.model.dtype == "float16"
    assert not fired(auto, "VW104")


def test_gemma2_float16_fails_with_vllms_wording() -> None:
    resp = plan(GEMMA2, dtype="float16", **SHORT)
    found = only(resp, "VW105")
    assert found.message == (
        "The model type 'gemma2' does not support float16. Reason: Numerical instability. "
        "Please use bfloat16 or float32 instead."
    )
    assert found.key == "model.dtype"
    assert found.fix_values == {"model.dtype": "bfloat16"}
    assert resp.feasibility.verdict is Verdict.FAIL


def test_float16_refusal_follows_the_release_and_the_top_level_model_type() -> None:
    assert not fired(plan(GEMMA2, dtype="float16", version="0.8", **SHORT), "VW105")
    assert not fired(plan(LLAMA, dtype="float16", **SHORT), "VW105")
    gemma3 = only(plan("google/gemma-3-12b-it", dtype="float16", **SHORT), "VW105")
    assert "'gemma3'" in gemma3.message  # vLLM checks the top-level type, not gemma3_text


def test_gemma2_auto_on_a_t4_runs_in_float32_with_a_warning() -> None:
    resp = plan("google/gemma-2-2b-it", "T4", max_model_len=4096)
    assert resp.model.dtype == "float32"  # vector default-dtype-auto-gemma2-bf16-config-cc75
    found = only(resp, "VW106")
    assert found.severity is Severity.WARNING
    assert found.message == (
        "Your device 'T4' (with compute capability 7.5) doesn't support torch.bfloat16. "
        "Falling back to torch.float32 for compatibility."
    )
    assert not fired(plan("google/gemma-2-2b-it", "L4", max_model_len=4096), "VW106")


def test_kv_cache_dtype_and_block_size_checked_against_the_pinned_release() -> None:
    resp = plan(LLAMA, kv_cache_dtype="float16", block_size=48, version="0.19", **SHORT)
    kv, block = only(resp, "VW112"), only(resp, "VW113")
    assert kv.message.startswith("argument --kv-cache-dtype: invalid choice: 'float16' (choose")
    assert kv.fix_values == {"model.kv_cache_dtype": "auto"}
    assert block.message == (
        "argument --block-size: invalid choice: 48 (choose from 1, 8, 16, 32, 64, 128, 256)"
    )
    assert block.fix_values == {"vllm.block_size": 16}


def test_kv_cache_dtype_and_block_size_valid_in_a_newer_release() -> None:
    resp = plan(LLAMA, kv_cache_dtype="float16", block_size=48, version="0.24", **SHORT)
    assert not fired(resp, "VW112")
    assert not fired(resp, "VW113")


def test_fp8_kv_cache_without_fp8_hardware_warns() -> None:
    found = only(plan(LLAMA, "A100-80GB", kv_cache_dtype="fp8", **SHORT), "VW114")
    assert found.severity is Severity.WARNING
    assert found.key == "model.kv_cache_dtype"
    assert not fired(plan(LLAMA, "L4", kv_cache_dtype="fp8", **SHORT), "VW114")


def test_a_release_past_the_newest_read_is_said_not_planned_silently() -> None:
    newest = newest_version()
    major, minor = newest.split(".")
    later = f"{major}.{int(minor) + 1}.0"
    found = only(plan(LLAMA, version=later, **SHORT), "VW191")
    assert found.severity is Severity.WARNING
    assert found.key == "vllm.version"
    assert f"vLLM {later} is newer" in found.message
    assert f"follow {newest}'s" in found.message
    # Patch releases of the newest line, and older lines, are what the table was read from.
    assert not fired(plan(LLAMA, version=f"{newest}.9", **SHORT), "VW191")
    assert not fired(plan(LLAMA, version=known_versions()[0], **SHORT), "VW191")
    assert not fired(plan(LLAMA, **SHORT), "VW191")


@pytest.mark.parametrize("version", ["0.24", "0.33"])
def test_a_block_size_no_cuda_kernel_takes_finds_no_attention_backend(version: str) -> None:
    """From 0.24 the config takes any block size, but every CUDA attention backend's kernel
    block is a multiple of 16: 40 leaves vLLM with no backend; 48 runs on FlashAttention."""
    resp = plan(LLAMA, block_size=40, version=version, **SHORT)
    block = only(resp, "VW113")
    assert block.severity is Severity.ERROR and resp.feasibility.verdict is Verdict.FAIL
    assert block.message.startswith("No valid attention backend found for cuda with block_size=40")
    assert block.fix_values == {"vllm.block_size": 48}  # the next multiple of 16
    assert not fired(plan(LLAMA, block_size=48, version=version, **SHORT), "VW113")
    # ROCm's backends are not modelled: no finding there
    assert not fired(plan(LLAMA, "MI300X", block_size=40, version=version, **SHORT), "VW113")
