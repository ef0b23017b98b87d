"""Recommendations: every setting with a reason, alternatives only where allowed, safe fixes."""

from __future__ import annotations

from typing import Any

from checker.schemas.enums import BatchingMode, Verdict
from checker.schemas.outputs import PlanResponse, Recommendation
from tests.planning.plans import AWQ, catalog_model, fired, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.3-70B-Instruct"
SHORT = {"max_model_len": 8192}


def rec(resp: PlanResponse, key: str) -> Recommendation:
    """The tuning recommendation for ``key`` (not an applied fix)."""
    found = [r for r in resp.recommendations if r.key == key and "applied" not in r.reason]
    assert len(found) == 1, [r.key for r in resp.recommendations]
    return found[0]


def keys(resp: PlanResponse) -> set[str]:
    return {r.key for r in resp.recommendations}


def test_70b_bf16_on_one_24gb_gpu_fails_with_the_smallest_tp_and_fp8() -> None:
    at_033 = {"max_model_len": 8192, "version": "0.33"}  # at 0.33's default utilization
    resp = plan(LLAMA_70B, "L4", **at_033)
    assert resp.feasibility.verdict is Verdict.FAIL
    assert fired(resp, "VW201")  # the weights alone exceed the GPU
    tp = rec(resp, "tensor_parallel_size")
    assert tp.value == 8
    assert "hardware.gpus 8" in tp.reason
    # the smallest: 4 L4s cannot hold the weights; 8 hold one request, for L4s have no NVLink
    # and vLLM turns custom all-reduce off over more than two PCIe-only GPUs (less non-torch
    # memory); were they linked, 8 would leave no KV cache
    assert not plan(LLAMA_70B, "L4", gpus=4, tp=4, **at_033).feasibility.fits
    assert plan(LLAMA_70B, "L4", gpus=8, tp=8, **at_033).feasibility.fits
    linked = plan(LLAMA_70B, "L4", gpus=8, tp=8, interconnect="nvlink", **at_033)
    assert not linked.feasibility.fits
    fp8 = rec(resp, "quantization")
    assert fp8.value == "fp8"
    assert "tensor_parallel_size 8" in fp8.reason
    assert plan(LLAMA_70B, "L4", gpus=8, tp=8, quantization="fp8", **at_033).feasibility.fits
    # a 4-bit checkpoint is another model: said in words, the config keeps its quantization
    assert "different model id" in rec(resp, "checkpoint").reason
    assert resp.config.quantization is None
    assert resp.config.tensor_parallel_size == 1  # more GPUs are the user's call


def test_never_recommends_a_method_the_checkpoint_does_not_carry() -> None:
    for resp in (plan(LLAMA_70B, "L4", **SHORT), plan(LLAMA, "T4", max_model_len=131072)):
        methods = {r.value for r in resp.recommendations if r.key == "quantization"}
        assert methods <= {"fp8"}


def test_fp8_only_where_the_release_and_gpu_allow_it() -> None:
    # fp8 needs sm_80 in vLLM 0.10, sm_75 from 0.14 (weight-only Marlin below sm_89)
    old = plan(LLAMA, "T4", version="0.10", dtype="float16", max_model_len=32768)
    assert "quantization" not in keys(old)
    new = plan(LLAMA, "T4", version="0.19", dtype="float16", max_model_len=32768)
    assert "weight-only (Marlin)" in rec(new, "quantization").reason


def test_no_quantization_advice_for_a_quantized_checkpoint_or_a_plan_that_fits() -> None:
    awq = catalog_model(LLAMA, **AWQ)
    assert "quantization" not in keys(plan(LLAMA, "T4", model=awq, max_model_len=131072))
    assert not {"quantization", "checkpoint"} & keys(plan(LLAMA, **SHORT))


def test_fp8_kv_cache_when_the_kv_cache_is_short_and_the_gpu_has_fp8() -> None:
    short = plan(LLAMA, util=0.3, concurrency=64, max_model_len=32768)
    kv = rec(short, "kv_cache_dtype")
    assert kv.value == "fp8"
    assert "short of the workload's 64" in kv.reason
    # an fp8 cache halves Llama's bytes a token: about twice the tokens (it said the same before)
    base = short.feasibility.kv
    assert base is not None and f"instead of {base.tokens:,}" in kv.reason
    fp8_tokens = int(kv.reason.split("(")[-1].split(" tokens")[0].replace(",", ""))
    assert fp8_tokens > 1.9 * base.tokens
    ampere = plan(LLAMA, "A100-80GB", util=0.3, concurrency=64, max_model_len=32768)
    assert "kv_cache_dtype" not in keys(ampere)  # no fp8 hardware: VW114's trade-off
    assert "kv_cache_dtype" not in keys(plan(LLAMA, **SHORT))


def test_utilization_lowered_from_097_raised_when_kv_is_short_else_explained() -> None:
    high = rec(plan(LLAMA, util=0.98, version="0.33", **SHORT), "gpu_memory_utilization")
    assert high.value < 0.97
    short = plan(LLAMA, util=0.25, max_model_len=131072)
    raised = rec(short, "gpu_memory_utilization")
    assert 0.25 < raised.value <= 0.95
    assert plan(LLAMA, util=raised.value, max_model_len=131072).feasibility.fits
    kept = rec(plan(LLAMA, version="0.33", **SHORT), "gpu_memory_utilization")
    assert kept.value == 0.92 and "default" in kept.reason
    # 0.34's extensible KV cache: 0.98 is kept, and unset is 1.0, sized from measured memory
    assert rec(plan(LLAMA, util=0.98, **SHORT), "gpu_memory_utilization").value == 0.98
    kept = rec(plan(LLAMA, **SHORT), "gpu_memory_utilization")
    assert kept.value == 1.0 and "measured after warm-up" in kept.reason


def test_max_num_seqs_follows_the_mode_and_the_kv_cache() -> None:
    def seqs(**kw: Any) -> int:
        small = "Qwen/Qwen2.5-1.5B"  # small KV per token: vLLM's defaults fit the cache
        return int(rec(plan(small, concurrency=40, **SHORT, **kw), "max_num_seqs").value)

    assert seqs(mode=BatchingMode.LATENCY) == 40
    assert seqs(mode=BatchingMode.BALANCED) == 1024  # vLLM's H100 default covers 40
    assert seqs(mode=BatchingMode.THROUGHPUT) == 2048
    # a T4 holds fewer 768-token requests of a 3B model than the 375 the workload wants
    t4 = plan("Qwen/Qwen2.5-3B", "T4", dtype="float16", concurrency=300, max_model_len=4096)
    capped = rec(t4, "max_num_seqs")
    assert capped.value < 256 and "KV cache holds" in capped.reason


def test_max_num_batched_tokens_follows_the_mode_and_stays_valid() -> None:
    def tokens(**kw: Any) -> int:
        return int(rec(plan(LLAMA, **kw), "max_num_batched_tokens").value)

    assert tokens(mode=BatchingMode.BALANCED, **SHORT) == 8192
    assert tokens(mode=BatchingMode.THROUGHPUT, **SHORT) == 16384
    assert tokens(mode=BatchingMode.LATENCY, prompt_tokens=12000, **SHORT) == 12032
    assert tokens(enable_chunked_prefill=False, max_model_len=32768) == 32768
    throughput = plan(LLAMA, mode=BatchingMode.THROUGHPUT, **SHORT)
    assert rec(throughput, "max_num_batched_tokens").value >= rec(throughput, "max_num_seqs").value


def test_safe_error_fixes_are_applied_and_said() -> None:
    resp = plan(LLAMA, "T4", dtype="bfloat16", max_model_len=4096)
    assert resp.config.dtype == "float16"
    assert any("applied the fix for VW104" in r.reason for r in resp.recommendations)
    too_long = plan("meta-llama/Meta-Llama-3-8B-Instruct", max_model_len=16384)
    assert too_long.config.max_model_len == 8192
    batched = plan(LLAMA, max_num_seqs=512, max_num_batched_tokens=256, **SHORT)
    assert batched.config.max_num_batched_tokens == 512


def test_unsafe_or_conflicting_fixes_are_left_to_the_user() -> None:
    # dropping awq would load the bf16 checkpoint: bigger than the plan
    assert plan(LLAMA, quantization="awq", **SHORT).config.quantization == "awq"
    # Gemma-2 on a T4 in fp16: the only fix is float32, twice the weight memory
    gemma = plan("google/gemma-2-2b-it", "T4", dtype="float16", max_model_len=4096)
    assert fired(gemma, "VW105")
    assert gemma.config.dtype == "float16"


def test_explanations_only_with_explain() -> None:
    plain = plan(LLAMA, **SHORT)
    assert plain.config.explanations == {}
    explained = plan(LLAMA, explain=True, **SHORT)
    # every recommendation, plus the runner, its sampler runs' costs and how 0.34 sized the KV
    # cache (its extensible KV cache): feature-cost rows
    costs = {
        "model runner",
        "sampler profile run",
        "sampler warm-up",
        "--enable-extensible-kv-cache",
    }
    assert set(explained.config.explanations) == keys(explained) | costs
    assert all(explained.config.explanations.values())
