"""Roofline estimates move the right way when the hardware, the parallelism or the format does."""

from __future__ import annotations

from typing import Any

from checker.hardware.catalog import all_gpus, find_gpu
from checker.planning.performance.perf import experts_touched, fixed_costs, gpu_family
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
    # the fixed CPU cost of each engine step does not shrink with bandwidth
    assert doubled.decode_toks_per_s_range[0] > base.decode_toks_per_s_range[0] * 1.5


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


def _throughput(p: PerfEstimate) -> tuple[float, float]:
    return p.throughput_toks_per_s_range or (0.0, 0.0)


def test_pipeline_parallel_never_raises_throughput_below_one_request_per_stage() -> None:
    # Little's law: one request in flight makes one token per pass through every stage
    single = _throughput(perf_on("H100-80GB", concurrency=1))
    for pp in (2, 4):
        piped = _throughput(perf_on("H100-80GB", gpus=pp, pp=pp, concurrency=1))
        assert piped[0] <= single[0] and piped[1] <= single[1]
    two = _throughput(perf_on("H100-80GB", gpus=4, pp=4, concurrency=2))
    assert two[1] <= 2 * single[1]


def test_throughput_is_the_batch_over_its_time_per_output_token() -> None:
    p = perf_on("H100-80GB", gpus=2, pp=2, concurrency=8)
    fastest_ms = (p.tpot_ms_range or (0, 0))[0]
    assert abs(_throughput(p)[1] - 8 * 1000 / fastest_ms) <= 0.01 * _throughput(p)[1]


def test_moe_expert_bytes_count_in_their_storage_format() -> None:
    # gpt-oss: MXFP4 experts, bf16 attention and embeddings. One request still reads every
    # bf16 weight outside the experts each step; a parameter share applied to bytes read less.
    model = catalog_model("openai/gpt-oss-20b")
    outside = (model.param_count - model.params.expert_linear - model.params.embedding) * 2
    # the k of E experts one token routes to, at MXFP4's 4.25 bits (padding left out)
    routed = model.params.expert_linear * 4.25 / 8 * model.num_experts_per_tok / model.num_experts
    p = perf_on("H100-80GB", "openai/gpt-oss-20b", concurrency=1)
    fastest_s = (p.tpot_ms_range or (0, 0))[0] / 1000
    step_s = fastest_s - fixed_costs(find_gpu("H100-80GB"), 1).decode_step_s
    assert step_s * 3350e9 * 0.8 >= outside + routed


def test_recurrent_state_is_read_and_written_every_decode_step() -> None:
    model_id = "Qwen/Qwen3-Next-80B-A3B-Thinking"
    model = catalog_model(model_id)
    assert model.state is not None
    stateless = model.model_copy(update={"state": None})
    gpu = find_gpu("H200")
    request = make_request(model_id, "H200", max_model_len=8192, concurrency=64)
    with_state = run_plan(request, model, gpu).performance
    without = run_plan(request, stateless, gpu).performance
    assert (with_state.tpot_ms_range or (0, 0))[0] > (without.tpot_ms_range or (0, 0))[0]


def test_fp8_without_fp8_tensor_cores_prefills_at_the_fp16_rate() -> None:
    long: dict[str, Any] = {"prompt_tokens": 8000}
    ampere_bf16 = perf_on("A100-80GB", **long).ttft_ms_range or (0, 0)
    ampere_fp8 = perf_on("A100-80GB", quantization="fp8", **long).ttft_ms_range or (0, 0)
    # weight-only fp8 (Marlin) on sm_80: the matmuls run at the fp16 rate, not int8 TOPS
    assert ampere_fp8[0] > 0.9 * ampere_bf16[0]
    hopper_bf16 = perf_on("H100-80GB", **long).ttft_ms_range or (0, 0)
    hopper_fp8 = perf_on("H100-80GB", quantization="fp8", **long).ttft_ms_range or (0, 0)
    assert hopper_fp8[0] < 0.7 * hopper_bf16[0]


def test_time_to_first_token_has_a_fixed_floor_per_gpu_family() -> None:
    tiny = perf_on("H100-80GB", prompt_tokens=16, concurrency=1).ttft_ms_range or (0, 0)
    floor = fixed_costs(find_gpu("H100-80GB"), 1)
    assert gpu_family(find_gpu("H100-80GB")) == "hopper"
    assert tiny[0] >= (floor.request_s + floor.decode_step_s) * 1000


def test_every_catalog_gpu_has_fixed_costs() -> None:
    for gpu in all_gpus():
        slow, fast = fixed_costs(gpu, 0), fixed_costs(gpu, 1)
        assert slow.request_s >= fast.request_s > 0
        assert slow.host_layer_s[1] >= fast.host_layer_s[1] >= fast.host_layer_s[0] > 0


def test_a_model_without_its_experts_is_one_copy_per_model() -> None:
    # every plan of a model reads the same expert-free copy (the stage weights shared per model
    # are then shared for it too); another model gets its own
    from checker.planning.performance.perf import _without_experts

    moe, other = catalog_model("openai/gpt-oss-20b"), catalog_model("Qwen/Qwen3-30B-A3B")
    copy = _without_experts(moe)
    assert _without_experts(moe) is copy and copy.params.expert_linear == 0
    assert copy.params.model_copy(update={"expert_linear": moe.params.expert_linear}) == moe.params
    assert _without_experts(other).params.attention_linear == other.params.attention_linear
