"""Roofline estimates move the right way when the hardware, the parallelism or the format does."""

from __future__ import annotations

from typing import Any

from checker.hardware.catalog import find_gpu
from checker.planning.perf import experts_touched
from checker.planning.planner import run_plan
from checker.schemas.outputs import PerfEstimate
from tests.planning.plans import catalog_model, make_request, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Llama-3.3-70B-Instruct"
SHORT = {"max_model_len": 8192}


def perf_on(
    gpu_name: str, model_id: str = LLAMA, *, gpu_update: dict[str, Any] | None = None, **kw: Any
) -> PerfEstimate:
    gpu = find_gpu(gpu_name).model_copy(update=gpu_update or {})
    request = make_request(model_id, gpu_name, **SHORT, **kw)
    return run_plan(request, catalog_model(model_id), gpu).performance


def test_ranges_are_ordered_and_labelled_as_estimates() -> None:
    p = plan(LLAMA, concurrency=8, **SHORT).performance
    for low, high in (
        p.decode_toks_per_s_range,
        p.prefill_toks_per_s_range or (0, 0),
        p.ttft_ms_range or (0, 0),
        p.tpot_ms_range or (0, 0),
        p.throughput_toks_per_s_range or (0, 0),
    ):
        assert 0 <= low <= high
    assert "estimates, not measurements" in p.assumptions[0]


def test_llama_8b_decodes_near_the_h100_bandwidth_roofline() -> None:
    # 15 GiB of weights per token at 3.35 TB/s: 5-10 ms, the range real servers report
    low, high = plan(LLAMA, **SHORT).performance.tpot_ms_range or (0, 0)
    assert 4 < low < high < 12


def test_more_memory_bandwidth_decodes_faster() -> None:
    base = perf_on("H100-80GB")
    doubled = perf_on("H100-80GB", gpu_update={"memory_bandwidth_gbs": 6700})
    assert doubled.decode_toks_per_s_range[0] > base.decode_toks_per_s_range[0] * 1.8


def test_tensor_parallel_over_nvlink_is_at_least_as_fast_as_over_pcie() -> None:
    kw: dict[str, Any] = {"gpus": 4, "tp": 4}
    nvlink = perf_on("H100-80GB", LLAMA_70B, interconnect="nvlink", **kw)
    pcie = perf_on("H100-80GB", LLAMA_70B, interconnect="pcie", **kw)
    assert nvlink.decode_toks_per_s_range[0] >= pcie.decode_toks_per_s_range[0]
    assert (nvlink.ttft_ms_range or (0, 0))[1] <= (pcie.ttft_ms_range or (0, 0))[1]
    one = perf_on("H100-80GB", LLAMA)
    four = perf_on("H100-80GB", LLAMA, interconnect="nvlink", **kw)
    assert four.decode_toks_per_s_range[0] > one.decode_toks_per_s_range[0]


def test_quantized_weights_and_an_fp8_kv_cache_decode_faster() -> None:
    bf16 = perf_on("H100-80GB")
    fp8 = perf_on("H100-80GB", quantization="fp8")
    assert fp8.decode_toks_per_s_range[0] > bf16.decode_toks_per_s_range[0] * 1.5
    long_ctx: dict[str, Any] = {"concurrency": 32, "prompt_tokens": 6000}
    kv_auto = perf_on("H100-80GB", **long_ctx)
    kv_fp8 = perf_on("H100-80GB", kv_cache_dtype="fp8", **long_ctx)
    assert kv_fp8.decode_toks_per_s_range[0] > kv_auto.decode_toks_per_s_range[0]


def test_a_larger_batch_raises_throughput_but_slows_each_request() -> None:
    one = perf_on("H100-80GB", concurrency=1)
    many = perf_on("H100-80GB", concurrency=64)
    assert (many.throughput_toks_per_s_range or (0, 0))[0] > 10 * (
        one.throughput_toks_per_s_range or (0, 0)
    )[0]
    assert many.decode_toks_per_s_range[1] < one.decode_toks_per_s_range[1]


def test_moe_reads_only_the_experts_a_batch_routes_to() -> None:
    moe = catalog_model("Qwen/Qwen3-30B-A3B")  # 128 experts, 8 per token
    assert experts_touched(moe, 1) == 8 / 128
    assert experts_touched(moe, 1) < experts_touched(moe, 16) < experts_touched(moe, 256) < 1
    dense = catalog_model(LLAMA)
    assert experts_touched(dense, 1) == 1.0
    moe_perf = perf_on("H100-80GB", "Qwen/Qwen3-30B-A3B")
    dense_32b = perf_on("H100-80GB", "Qwen/Qwen3-32B")
    assert moe_perf.decode_toks_per_s_range[0] > 3 * dense_32b.decode_toks_per_s_range[0]


def test_longer_prompts_take_longer_to_first_token() -> None:
    short = perf_on("H100-80GB", prompt_tokens=256)
    long = perf_on("H100-80GB", prompt_tokens=8000)
    assert (long.ttft_ms_range or (0, 0))[0] > 10 * (short.ttft_ms_range or (0, 0))[0]


def test_pipeline_stages_add_latency_and_overlap_requests() -> None:
    tp = perf_on("H100-80GB", gpus=2, tp=2, interconnect="nvlink", concurrency=8)
    pp = perf_on("H100-80GB", gpus=2, pp=2, concurrency=8)
    # a request still passes every stage in turn: no faster per token than tensor parallel
    assert pp.decode_toks_per_s_range[1] <= tp.decode_toks_per_s_range[1]
    single = perf_on("H100-80GB", concurrency=8)
    assert (pp.throughput_toks_per_s_range or (0, 0))[0] > (
        single.throughput_toks_per_s_range or (0, 0)
    )[0]
