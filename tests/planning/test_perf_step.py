"""The step-level model's physics: pipeline stages, MoE routing, recurrent state and fp8 on
GPUs without fp8 tensor cores move its figures the way the hardware does."""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.kvcache.kv import (
    bytes_for_length,
    resident_bytes_for_length,
    windowed_chunk_bytes,
)
from checker.planning.memo import ByIdentity
from checker.planning.performance import perf
from checker.planning.performance.batching import StepLoad, Workload, percentile
from checker.planning.performance.perf import (
    EFFICIENCY,
    chat_template_parse_s,
    compute_efficiency,
    decode_token_s,
    fixed_costs,
    kv_pool_tokens,
    nvlink_allreduce_s,
    stage_moe_layers,
    step_cost,
)
from checker.planning.performance.serving import simulate_workload
from checker.planning.planner import choose_tp, engine_model, plan_settings
from checker.planning.rules.base import RuleContext
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import PerfEstimate
from tests.planning.plans import catalog_model, make_request, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SHORT: dict[str, Any] = {"max_model_len": 8192, "prompt_tokens": 500, "gen_tokens": 100}


def _stepped(gpu: str = "H100-80GB", model_id: str = LLAMA, **kw: Any) -> PerfEstimate:
    return plan(model_id, gpu, step_model=True, **{**SHORT, **kw}).performance


def _context(
    model_id: str, gpu_name: str, model: ModelInfo | None = None, **kw: Any
) -> RuleContext:
    request = make_request(model_id, gpu_name, **{**SHORT, **kw})
    gpu = find_gpu(gpu_name)
    info = engine_model(model or catalog_model(model_id), request)
    settings, memory = plan_settings(request, info, gpu, tp=choose_tp(request, info, gpu))
    return RuleContext(request, info, gpu, settings, memory)


def _decode(batch: int, context: int = 600) -> StepLoad:
    return StepLoad(batch, batch * context, 0, 0, 0, 0.0)


def _output(p: PerfEstimate) -> tuple[float, float]:
    assert p.output_throughput is not None
    return p.output_throughput.deployment


def test_pipeline_parallel_never_raises_throughput_below_one_batch_per_stage() -> None:
    # one request in flight passes every stage for each token: more stages, no more tokens
    single = _output(_stepped(concurrency=1))
    for pp in (2, 4):
        piped = _output(_stepped(gpus=pp, pp=pp, concurrency=1))
        assert piped[0] <= single[0] and piped[1] <= single[1]
    # two requests over four stages keep at most two stages busy
    two = _output(_stepped(gpus=4, pp=4, concurrency=2))
    assert two[1] <= 2 * single[1]


def test_pipeline_stages_overlap_micro_batches_once_there_are_enough_requests() -> None:
    ctx_1, ctx_2 = _context(LLAMA, "H100-80GB"), _context(LLAMA, "H100-80GB", gpus=2, pp=2)
    one, two = step_cost(ctx_1, 1), step_cost(ctx_2, 1)
    # a single request: the passage through both stages (plus the hand-off)
    assert two(_decode(1)) >= one(_decode(1))
    # many prompts: two micro-batches in flight, each stage computes half the layers, so a
    # compute-bound step takes about half as long as on one GPU
    prefill = StepLoad(0, 0, 8000, 8, 0, 8 * 1000 * 1001 / 2)
    assert two(prefill) < 0.6 * one(prefill)


def test_moe_steps_read_only_the_experts_the_batch_routes_to() -> None:
    ctx = _context("openai/gpt-oss-20b", "H100-80GB")
    cost = step_cost(ctx, 1)
    fixed = fixed_costs(ctx.gpu, 1).decode_step_s
    every_weight = ctx.memory.stages[0].weights / (
        ctx.gpu.memory_bandwidth_gbs * 1e9 * EFFICIENCY[1]
    )
    one = cost(_decode(1)) - fixed
    assert one < 0.6 * every_weight  # 4 of 32 experts per token
    # a larger batch routes to more experts: the step reads more weight bytes
    assert cost(_decode(32)) - fixed > 2 * one


def test_recurrent_state_makes_hybrid_decode_steps_slower() -> None:
    model_id = "Qwen/Qwen3-Next-80B-A3B-Thinking"
    model = catalog_model(model_id)
    assert model.state is not None
    stateless = model.model_copy(update={"state": None})
    with_state = _context(model_id, "H200", model)
    without = _context(model_id, "H200", stateless)
    load = _decode(64)
    assert step_cost(with_state, 1)(load) > step_cost(without, 1)(load)


def test_fp8_prefill_runs_at_the_fp16_rate_without_fp8_tensor_cores() -> None:
    prefill = StepLoad(0, 0, 8000, 1, 0, 8000 * 8001 / 2)

    def seconds(gpu: str, **kw: Any) -> float:
        return step_cost(_context(LLAMA, gpu, **kw), 1)(prefill)

    # weight-only fp8 (Marlin) on sm_80 computes at the bf16 rate
    assert seconds("A100-80GB", quantization="fp8") > 0.9 * seconds("A100-80GB")
    # fp8 tensor cores on Hopper double the rate of a compute-bound prefill
    assert seconds("H100-80GB", quantization="fp8") < 0.7 * seconds("H100-80GB")


def test_a_burst_queues_behind_the_running_batch_and_a_light_rate_does_not() -> None:
    burst = _stepped(concurrency=512, num_prompts=512)
    light = _stepped(request_rate=0.5)
    assert burst.ttft is not None and light.ttft is not None
    assert burst.ttft.p90_ms[0] > 5 * burst.ttft.p50_ms[0] or burst.ttft.p90_ms[0] > 1000
    assert light.ttft.p90_ms[1] < 200  # one request every 2 s meets an idle engine


def test_data_parallel_engines_add_their_throughput_and_per_gpu_divides_it() -> None:
    one = _stepped(concurrency=32)
    two = _stepped(gpus=2, concurrency=64, data_parallel_size=2)
    assert one.output_throughput is not None and two.output_throughput is not None
    assert (
        abs(two.output_throughput.deployment[1] - 2 * one.output_throughput.deployment[1])
        < 0.02 * two.output_throughput.deployment[1]
    )
    assert two.output_throughput.per_gpu[1] == round(two.output_throughput.deployment[1] / 2)


def test_a_shared_system_prompt_shortens_the_first_token_only_with_prefix_caching() -> None:
    kw: dict[str, Any] = {"concurrency": 1, "prompt_tokens": 4000}
    cold = _stepped(**kw)
    warm = _stepped(shared_prefix_tokens=3000, **kw)
    off = _stepped(shared_prefix_tokens=3000, enable_prefix_caching=False, **kw)
    assert cold.ttft is not None and warm.ttft is not None and off.ttft is not None
    assert warm.ttft.p50_ms[1] < 0.6 * cold.ttft.p50_ms[1]
    busy = _stepped(concurrency=32, prompt_tokens=4000, shared_prefix_tokens=3000)
    assert _output(busy)[0] > _output(_stepped(concurrency=32, prompt_tokens=4000))[0]
    assert off.ttft.p50_ms == cold.ttft.p50_ms
    assert "prefix cache" in (warm.workload or "")


def test_attention_reading_the_kv_cache_adds_to_compute_bound_linear_layers() -> None:
    # 512 requests at 2000 tokens of context: the linear layers are compute bound and the
    # attention kernels then read every request's KV: one cannot hide behind the other
    ctx = _context(LLAMA, "H100-80GB")
    bandwidth = ctx.gpu.memory_bandwidth_gbs * 1e9 * EFFICIENCY[1]
    flops = ctx.gpu.fp16_tflops * 1e12 * compute_efficiency(perf.gpu_family(ctx.gpu), 1)
    batch, context = 512, 2000
    linear = batch * 2 * ctx.model.param_count / flops
    kv = ctx.memory.stages[0].kv.layout.bytes_per_token * batch * context / bandwidth
    fixed = fixed_costs(ctx.gpu, 1).decode_step_s
    assert linear > ctx.memory.stages[0].weights / bandwidth  # compute bound
    assert step_cost(ctx, 1)(_decode(batch, context)) - fixed >= 0.95 * (linear + kv)


def test_hopper_prefill_spans_ampere_style_to_hopper_native_kernels() -> None:
    # eight 1024-token prompts in one step are compute bound: its two ends differ by the
    # family's kernel efficiency, 35-75 % of peak on Hopper (FlashAttention-3 paper), 50-80 %
    # on Ampere
    load = StepLoad(0, 0, 8192, 8, 0, 8 * 1024 * 1025 / 2)

    def spread(gpu: str) -> float:
        ctx = _context(LLAMA, gpu)
        slow, fast = (
            step_cost(ctx, end)(load) - fixed_costs(ctx.gpu, end).decode_step_s for end in (0, 1)
        )
        return slow / fast

    assert abs(spread("H100-80GB") - 0.75 / 0.35) < 0.15
    assert abs(spread("A100-SXM4-80GB") - 0.8 / 0.5) < 0.15


def test_sliding_window_requests_fill_the_pool_by_their_blocks_not_the_logged_tokens() -> None:
    # Gemma-4-26B on an A100 at 0.20: the logged figure is blocks / 6 groups x 16, but a
    # 32k request holds blocks in its 5 sliding groups for its window only
    kw: dict[str, Any] = {"max_model_len": 32768, "prompt_tokens": 31000, "gen_tokens": 1000}
    ctx = _context("google/gemma-4-26B-A4B", "A100-80GB", version="0.20.0", **kw)
    length = 32000
    held = kv_pool_tokens(ctx, length) // length
    assert held > ctx.memory.binding.kv.tokens // length
    layout = ctx.memory.binding.kv.layout
    resident = resident_bytes_for_length(ctx.model, ctx.settings, layout, length)
    # check_enough_kv counts a token budget in flight in every sliding group; between steps a
    # running request keeps its windows only, and the step's chunk holds one budget beside them
    assert resident < bytes_for_length(ctx.model, ctx.settings, layout, length)
    chunk = windowed_chunk_bytes(ctx.model, ctx.settings, layout)
    assert held == int((ctx.memory.binding.kv_budget - chunk) / resident)
    # a full-attention model's pool is the logged figure
    llama = _context(LLAMA, "H100-80GB")
    assert kv_pool_tokens(llama, 600) == llama.memory.binding.kv.tokens


def test_spread_lengths_reach_the_step_model_and_its_description() -> None:
    fixed = _stepped(concurrency=8, prompt_tokens=2000)
    spread = _stepped(concurrency=8, prompt_tokens=2000, random_range_ratio=0.9)
    assert fixed.ttft is not None and spread.ttft is not None
    assert fixed.e2e is not None and spread.e2e is not None
    # the longest requests take longer to the end; the mean lengths are the same
    assert spread.e2e.p90_ms[1] > fixed.e2e.p90_ms[1]
    assert "uniform within ±90%" in (spread.workload or "")
    assert "uniform" not in (fixed.workload or "")


def test_fused_moe_layers_take_a_measured_floor_beyond_their_expert_bytes_on_hopper() -> None:
    ctx = _context("Qwen/Qwen3-30B-A3B", "H100-80GB")
    assert stage_moe_layers(ctx) == (48,)
    fast = fixed_costs(ctx.gpu, 1)
    assert 20e-6 <= fast.moe_layer_s <= fixed_costs(ctx.gpu, 0).moe_layer_s <= 40e-6
    # one request reads 8 small experts a layer: the floor is a quarter of its step
    one = step_cost(ctx, 1)(_decode(1))
    assert one >= 48 * fast.moe_layer_s + fast.decode_step_s
    assert 48 * fast.moe_layer_s > 0.25 * one
    # the floor is per layer call, not per request: a big batch barely notices it
    big = step_cost(ctx, 1)(_decode(256))
    assert 48 * fast.moe_layer_s < 0.1 * big
    # pipeline stages split the MoE layers; dense models and unmeasured families have none
    deep = _context("deepseek-ai/DeepSeek-R1", "H200-SXM-141GB", gpus=16, tp=8, pp=2)
    assert sum(stage_moe_layers(deep)) == 58 and len(stage_moe_layers(deep)) == 2
    assert stage_moe_layers(_context(LLAMA, "H100-80GB")) == (0,)
    assert fixed_costs(find_gpu("L40S"), 0).moe_layer_s == 0.0
    # Ampere's one measurement ran vLLM's default (untuned) config: a higher floor
    assert fixed_costs(find_gpu("A100-SXM4-80GB"), 1).moe_layer_s > fast.moe_layer_s


def test_the_estimate_says_what_the_moe_floor_costs() -> None:
    moe = _stepped(model_id="Qwen/Qwen3-30B-A3B", concurrency=4)
    assert moe.tpot is not None and "25-32 us per fused MoE layer" in moe.tpot.width
    dense = _stepped(concurrency=4)
    assert dense.tpot is not None and "MoE" not in dense.tpot.width


def test_the_estimate_says_what_rate_the_fused_moe_kernel_prefills_at() -> None:
    moe = _stepped(model_id="Qwen/Qwen3-30B-A3B", concurrency=4)
    assert moe.tpot is not None and "experts' matmuls at 187.7 TFLOPS" in moe.tpot.width
    for other in (_stepped(concurrency=4), _stepped("A100-SXM4-80GB", "Qwen/Qwen3-30B-A3B")):
        assert other.tpot is not None and "TFLOPS" not in other.tpot.width


def test_the_full_prompt_admission_gate_follows_the_release() -> None:
    # 0.19 reserves a waiting prompt's whole length before admitting it; 0.11 its first chunk
    work = Workload(prompts=20, prompt_tokens=7000, output_tokens=50)
    runs = {
        version: simulate_workload(
            _context(
                LLAMA, "H100-80GB", version=version, util=0.3, prompt_tokens=7000, gen_tokens=50
            ),
            work,
            0,
        )
        for version in ("0.11.0", "0.19.0")
    }
    assert runs["0.11.0"].preemptions > 0
    assert runs["0.19.0"].preemptions == 0


def test_a_second_long_prompt_prefills_while_the_first_decodes_and_slows_its_tokens() -> None:
    # gpt-oss-120b on an H100 at 0.10.2: the pool holds less than two 32k requests, more than
    # one. The scheduler allocates a prompt chunk by chunk (no full-prompt gate before 0.19),
    # so the next prompt's chunks run in the steps the first request decodes in - its TPOT is
    # well above a decode-only step's - and, when the pool runs out, the prompt is preempted
    kw: dict[str, Any] = {"max_model_len": 32768, "prompt_tokens": 32000, "gen_tokens": 99}
    ctx = _context("openai/gpt-oss-120b", "H100-80GB", version="0.10.2", **kw)
    pool = kv_pool_tokens(ctx, 32099)
    assert 32099 < pool < 2 * 32099
    result = simulate_workload(ctx, Workload(prompts=6, prompt_tokens=32000, output_tokens=99), 1)
    alone = decode_token_s(ctx, 1, 32050)[1]
    assert result.median_tpot_s() > 1.5 * alone
    assert result.preemptions > 0


def test_vllm_0_11_0_parses_the_chat_template_per_request_except_for_harmony_models() -> None:
    # 0.11.0's apply_hf_chat_template parses the whole Jinja template for every chat request
    # (resolve_chat_template_kwargs), 0.11.1 caches it, and gpt-oss renders through Harmony:
    # a chat burst of a Llama reaches the engine later on 0.11.0 only, gpt-oss's never does
    burst = Workload(prompts=200, prompt_tokens=128, output_tokens=4, chat=True)

    def first_token_s(model_id: str, version: str) -> float:
        ctx = _context(model_id, "H100-80GB", version=version, prompt_tokens=128, gen_tokens=4)
        return simulate_workload(ctx, burst, 1).median_ttft_s()

    per_request = chat_template_parse_s(catalog_model(LLAMA), "0.11.0", 1)
    assert per_request > 0
    parsed, cached = first_token_s(LLAMA, "0.11.0"), first_token_s(LLAMA, "0.11.1")
    # every request of the burst waits for the whole burst's parsing (one shared event loop)
    assert parsed - cached > 0.9 * burst.prompts * per_request
    gpt_oss = "openai/gpt-oss-20b"
    assert first_token_s(gpt_oss, "0.11.0") == first_token_s(gpt_oss, "0.11.1")
    # the completions endpoint renders no chat template at all
    ctx = _context(LLAMA, "H100-80GB", version="0.11.0", prompt_tokens=128, gen_tokens=4)
    plain = simulate_workload(ctx, replace(burst, chat=False), 1)
    assert plain.median_ttft_s() < parsed


def test_each_scheduled_request_adds_engine_cpu_to_the_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Scheduler.update_from_output walks every request of the step before the next one starts
    # (no async scheduling by default before 0.14.1): a step's CPU grows with its requests,
    # whatever the GPU does
    ctx = _context("Qwen/Qwen3-0.6B", "H100-80GB", version="0.11.0")
    per_request = fixed_costs(ctx.gpu, 0).step_request_s
    assert per_request > 0
    step, token = step_cost(ctx, 0)(_decode(512)), decode_token_s(ctx, 512, 600)[0]
    _patch_constants(monkeypatch, scheduler_request_us=[0, 0])
    ctx = replace(ctx)  # a fresh context: a plan keeps the rates it read
    assert math.isclose(step - step_cost(ctx, 0)(_decode(512)), 512 * per_request)
    assert math.isclose(token - decode_token_s(ctx, 512, 600)[0], 512 * per_request)


def test_the_fast_request_path_is_at_most_half_a_chat_template_parse() -> None:
    # vLLM PR #19735: skipping one per-request parse of the chat template tripled the requests
    # per second of an API-server-bound run, so the rest of the path took at most half a parse
    gpu = find_gpu("H100-80GB")
    parse = chat_template_parse_s(catalog_model(LLAMA), "0.11.0", 1)
    assert 0 < fixed_costs(gpu, 1).request_s <= parse / 2
    assert fixed_costs(gpu, 1).request_s < fixed_costs(gpu, 0).request_s


def _patch_constants(monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """perf_constants.yaml with ``changes``; fresh caches of the fixed costs and the rates,
    which read it."""
    data = {**perf._constants(), **changes}
    monkeypatch.setattr(perf, "_constants", lambda: data)
    monkeypatch.setattr(perf, "_family_costs", functools.cache(perf._family_costs.__wrapped__))
    _fresh_rates(monkeypatch)


def _fresh_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty cache of the rates a model's plans share, for a test that changes how they
    are computed."""
    monkeypatch.setattr(perf, "_MODEL_RATES", ByIdentity(maxsize=8))


def _without_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    families = perf._constants()["families"]
    gapless = {k: {**v, "graph_kernel_gap_us": None} for k, v in families.items()}
    _patch_constants(monkeypatch, families=gapless)


def test_each_kernel_boundary_inside_a_cuda_graph_costs_hopper_gpu_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hazy Research measured ~1.3 us lost per kernel boundary inside a CUDA graph on an H100:
    # a decode step of a small model pays it for each of its layers' kernels
    ctx = _context("Qwen/Qwen3-0.6B", "H100-80GB", version="0.11.0")
    fast = fixed_costs(ctx.gpu, 1)
    assert 1e-6 <= fast.graph_kernel_s <= 2e-6
    # the pessimistic end: all vLLM's measured 50 % of peak lost beside the megakernel's 78 %
    # on Llama-1B, spread over its kernels; the weights stream at the boundary-free rate
    slow = fixed_costs(ctx.gpu, 0)
    assert fast.graph_kernel_s < slow.graph_kernel_s <= 3e-6
    assert 0.75 <= slow.weight_stream <= fast.weight_stream <= 0.86
    assert fixed_costs(find_gpu("A100-SXM4-80GB"), 0).weight_stream == 0.0
    moe = _context("Qwen/Qwen3-30B-A3B", "H100-80GB", version="0.11.0")
    a100 = _context("Qwen/Qwen3-0.6B", "A100-SXM4-80GB", version="0.11.0")
    eager = StepLoad(0, 0, 2048, 4, 0, 4 * 512 * 513 / 2)  # above the largest captured graph
    steps = {
        name: step_cost(c, 1)(load)
        for name, c, load in (
            ("dense", ctx, _decode(8)),
            ("moe", moe, _decode(8)),
            ("a100", a100, _decode(8)),
            ("eager", ctx, eager),
        )
    }
    token = decode_token_s(ctx, 8, 600)[1]
    _without_gaps(monkeypatch)
    ctx, moe, a100 = replace(ctx), replace(moe), replace(a100)  # plans keep the rates they read
    layers = ctx.model.num_hidden_layers
    assert math.isclose(
        steps["dense"] - step_cost(ctx, 1)(_decode(8)),
        layers * fast.kernels_per_layer * fast.graph_kernel_s,
    )
    assert math.isclose(
        token - decode_token_s(ctx, 8, 600)[1],
        layers * fast.kernels_per_layer * fast.graph_kernel_s,
    )
    # the small model's boundaries are a sizeable share of its step
    assert layers * fast.kernels_per_layer * fast.graph_kernel_s > 0.2 * steps["dense"]
    # a fused MoE layer's MLP kernels are inside its measured floor: not counted twice, its
    # router's GEMM is outside it
    moe_layers = moe.model.num_hidden_layers
    per_layer = fast.kernels_per_layer - fast.mlp_kernels + fast.router_kernels
    assert math.isclose(
        steps["moe"] - step_cost(moe, 1)(_decode(8)),
        moe_layers * per_layer * fast.graph_kernel_s,
    )
    # no public measurement for Ampere; a step above the largest graph launches its kernels
    assert steps["a100"] == step_cost(a100, 1)(_decode(8))
    assert steps["eager"] == step_cost(ctx, 1)(eager)


def test_the_estimate_says_what_the_kernel_boundaries_cost() -> None:
    hopper = _stepped(model_id="Qwen/Qwen3-0.6B", concurrency=4)
    assert hopper.tpot is not None
    assert "1.3-2.4 us lost at each kernel boundary" in hopper.tpot.width
    assert "a step's ~280-392 kernel boundaries" in hopper.tpot.width
    ampere = _stepped("A100-SXM4-80GB", model_id="Qwen/Qwen3-0.6B", concurrency=4)
    assert ampere.tpot is not None and "kernel boundaries" not in ampere.tpot.width


def test_async_scheduling_overlaps_the_engine_cpu_with_the_gpu_step_where_vllm_defaults_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # from 0.14.1 vLLM schedules step N+1 while step N runs: a step takes the longer of its GPU
    # and CPU parts, not their sum; the Ray executor and an explicit --no-async-scheduling
    # keep them in sequence, and 0.14.1 still turned it off with pipeline parallel
    def context(version: str, **kw: Any) -> RuleContext:
        return _context("Qwen/Qwen3-0.6B", "H100-80GB", version=version, **kw)

    on, off = context("0.19.0"), context("0.13.0")
    assert perf.overlaps_cpu(on) and not perf.overlaps_cpu(off)
    assert not perf.overlaps_cpu(context("0.19.0", distributed_executor_backend="ray"))
    assert not perf.overlaps_cpu(context("0.19.0", async_scheduling=False))
    assert perf.overlaps_cpu(context("0.11.0", async_scheduling=True))
    deep = {"gpus": 2, "pp": 2}
    assert not perf.overlaps_cpu(context("0.14.1", **deep))
    assert perf.overlaps_cpu(context("0.19.0", **deep))
    fixed = fixed_costs(on.gpu, 1)
    # the same release without it: the same sampler work on the GPU
    off = context("0.19.0", async_scheduling=False)
    for end in (0, 1):
        together, apart = step_cost(on, end)(_decode(7)), step_cost(off, end)(_decode(7))
        cpu = fixed_costs(on.gpu, end).decode_step_s + 7 * fixed_costs(on.gpu, end).step_request_s
        assert math.isclose(together, max(apart - cpu, cpu))
        token = decode_token_s(on, 7, 600)[end]
        assert math.isclose(token, max(decode_token_s(off, 7, 600)[end] - cpu, cpu))
    # a GPU-bound step hides the CPU entirely
    big = step_cost(on, 1)(_decode(512, context=2000))
    assert big > fixed.decode_step_s + 512 * fixed.step_request_s
    _patch_constants(monkeypatch, scheduler_request_us=[0, 0])
    on = replace(on)  # a fresh context: a plan keeps the rates it read
    assert step_cost(on, 1)(_decode(512, context=2000)) == big


def test_the_estimate_says_whether_the_engine_cpu_overlaps_the_gpu_and_what_the_host_costs() -> (
    None
):
    for version, words in (("0.19.0", "beside the GPU's step"), ("0.13.0", "after the GPU's")):
        p = _stepped(model_id="Qwen/Qwen3-0.6B", concurrency=4, version=version)
        assert p.tpot is not None and words in p.tpot.width
        assert "200-460 us of host time per layer" in p.tpot.width
        assert "(steps with prefill)" in p.tpot.width
        assert ("waits a step more" in p.tpot.width) == (version == "0.19.0")
    old = _stepped(model_id="Qwen/Qwen3-0.6B", concurrency=4, version="0.10.2")
    assert old.tpot is not None and "(every step: no full decode graph)" in old.tpot.width


def test_steps_outside_one_whole_cuda_graph_wait_for_the_host_layer_by_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # from 0.11.0 a decode-only step is one full CUDA graph; a step with prefill tokens runs
    # piecewise (up to 512 tokens) or eagerly, and a small model's layers then wait on the
    # host (the vLLM 0.19.0 Nsight trace: ~200 us a piecewise layer, ~450 us an eager one)
    def context(version: str, model_id: str = "Qwen/Qwen3-0.6B") -> RuleContext:
        return _context(model_id, "H100-80GB", version=version)

    new, old = context("0.19.0"), context("0.10.2")
    layers = new.model.num_hidden_layers
    fixed = fixed_costs(new.gpu, 1)
    piecewise_s, eager_s = (layers * host for host in fixed.host_layer_s)
    assert 0 < piecewise_s < eager_s
    mixed = StepLoad(8, 8 * 600, 100, 1, 0, 100 * 101 / 2)
    big = StepLoad(0, 0, 2048, 4, 0, 4 * 512 * 513 / 2)
    # async scheduling: the engine's CPU work and the launching share the host's one thread
    assert step_cost(new, 1)(mixed) >= piecewise_s + fixed.decode_step_s
    assert step_cost(new, 1)(big) >= eager_s
    assert step_cost(new, 1)(_decode(8)) < piecewise_s  # one whole graph
    assert decode_token_s(new, 8, 600)[1] < piecewise_s
    # 0.10.2 runs decode steps piecewise too (cudagraph_mode PIECEWISE by default)
    assert step_cost(old, 1)(_decode(8)) >= piecewise_s
    assert decode_token_s(old, 8, 600)[1] >= piecewise_s
    # a prompt's chunks never run as one whole graph: the first token waits on the host too
    ttft = perf._prefill_s(new)[1]
    # a GPU-bound step hides the host entirely (the longer of the two, not their sum)
    llama = _context(LLAMA, "H100-80GB", version="0.19.0")
    heavy = StepLoad(0, 0, 8192, 1, 0, 8192 * 8193 / 2)
    before = step_cost(llama, 1)(heavy)
    _patch_constants(monkeypatch, host_layer_us={"piecewise": [0.0, 0.0], "eager": [0.0, 0.0]})
    llama, new = replace(llama), replace(new)  # plans keep the rates they read
    assert step_cost(llama, 1)(heavy) == before
    assert perf._prefill_s(new)[1] < ttft


def test_the_top_k_top_p_kernel_takes_a_pass_per_sm_full_of_rows_where_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 0.19's Triton top-k/top-p kernel runs one program per SM, each over whole vocabulary rows,
    # from 8 rows up; `vllm bench serve` leaves sampling to the server from 0.15.0, and Qwen3's
    # generation defaults set top-k and top-p
    qwen = _context("Qwen/Qwen3-0.6B", "H100-80GB", version="0.19.0")
    cost = perf.top_k_top_p_cost(qwen, 0)
    assert cost is not None and cost.sms == 132
    assert perf.sampler_s(cost, 0) == 0.0

    def masking(rows: int) -> float:  # beside the random draw, which test_..._random_draw covers
        assert cost is not None
        return perf.sampler_s(cost, rows) - cost.random_draw_s(rows)

    assert math.isclose(masking(8), cost.pass_s) and math.isclose(masking(132), cost.pass_s)
    assert cost.pass_s > 0
    assert math.isclose(masking(133), 2 * cost.pass_s)
    fast = perf.top_k_top_p_cost(qwen, 1)
    assert fast is not None and fast.pass_s < cost.pass_s
    # the kernel's work per row follows the vocabulary
    small = qwen.model.model_copy(update={"vocab_size": qwen.model.vocab_size // 2})
    halved = perf.top_k_top_p_cost(replace(qwen, model=small), 0)
    assert halved is not None and math.isclose(halved.pass_s, cost.pass_s / 2)
    # not where greedy requests (the bench before 0.15.0) skip it, nor for a model without
    # top-k/top-p defaults, nor without a measurement for the GPU's family
    assert perf.top_k_top_p_cost(_context(LLAMA, "H100-80GB", version="0.19.0"), 0) is None
    assert (
        perf.top_k_top_p_cost(_context("Qwen/Qwen3-0.6B", "A100-80GB", version="0.19.0"), 0) is None
    )
    _patch_constants(
        monkeypatch,
        top_k_top_p_sampler={**perf._constants()["top_k_top_p_sampler"], "triton_from": "0.14.1"},
    )
    assert (
        perf.top_k_top_p_cost(_context("Qwen/Qwen3-0.6B", "H100-80GB", version="0.14.1"), 0) is None
    )
    monkeypatch.undo()
    # a step's GPU time grows by the passes its sampled rows take, on top of the model's
    for end in (0, 1):
        step = step_cost(qwen, end)
        sampler = perf.top_k_top_p_cost(qwen, end)
        assert sampler is not None
        other = qwen.model.model_copy(update={"model_id": "Qwen/other"})
        base = step_cost(replace(qwen, model=other), end)
        for rows, passes in ((100, 1), (140, 2)):
            added = step(_decode(rows)) - base(_decode(rows))
            assert math.isclose(added, passes * sampler.pass_s + sampler.random_draw_s(rows))


def test_below_8_rows_or_before_the_triton_kernel_the_sampler_sorts_each_rows_vocabulary() -> None:
    # apply_top_k_top_p_pytorch: one block per row over the whole vocabulary, so a step takes
    # the same time whatever its few rows, and the vocabulary sets it
    qwen = _context("Qwen/Qwen3-0.6B", "H100-80GB", version="0.19.0")
    slow, fast = perf.top_k_top_p_cost(qwen, 0), perf.top_k_top_p_cost(qwen, 1)
    assert slow is not None and fast is not None and slow.triton
    sorts = [perf.sampler_s(slow, rows) - slow.random_draw_s(rows) for rows in (1, 7)]
    assert all(math.isclose(sort, slow.torch_s) for sort in sorts) and slow.torch_s > 0
    assert fast.torch_s < slow.torch_s
    small = qwen.model.model_copy(update={"vocab_size": qwen.model.vocab_size // 2})
    halved = perf.top_k_top_p_cost(replace(qwen, model=small), 0)
    assert halved is not None and math.isclose(halved.torch_s, slow.torch_s / 2)
    # 0.16.0 has no Triton kernel: the torch path for every step, measured below 8 rows only;
    # a step sampling more rows never costs less (it cost nothing from the eighth row on)
    older = perf.top_k_top_p_cost(_context("Qwen/Qwen3-0.6B", "H100-80GB", version="0.16.0"), 0)
    assert older is not None and not older.triton
    for rows in (7, 8, 100):
        assert perf.sampler_s(older, rows) == older.torch_s + older.random_draw_s(rows)
    # a light rate keeps few requests in flight: its steps take the torch path's time (seen at
    # the fast end; the slow end's 1.5 ms of engine CPU a step hides it)
    light = {"request_rate": 2.0, "num_prompts": 20, "version": "0.19.0"}
    with_sort = _stepped(model_id="Qwen/Qwen3-0.6B", **light)
    other = catalog_model("Qwen/Qwen3-0.6B").model_copy(update={"model_id": "Qwen/other"})
    without = plan(
        "Qwen/Qwen3-0.6B", "H100-80GB", step_model=True, model=other, **light, **SHORT
    ).performance
    assert with_sort.tpot is not None and without.tpot is not None
    assert with_sort.tpot.p50_ms[0] > without.tpot.p50_ms[0] + 0.3


def test_the_samplers_random_draw_streams_each_sampled_rows_vocabulary() -> None:
    # fp32 copy, temperature, softmax, exponential draw, division, argmax: the softmax's one
    # block per row keeps a few rows' time flat; past that every row adds its vocabulary's bytes
    qwen = _context("Qwen/Qwen3-0.6B", "H100-80GB", version="0.19.0")
    slow, fast = perf.top_k_top_p_cost(qwen, 0), perf.top_k_top_p_cost(qwen, 1)
    assert slow is not None and fast is not None
    assert slow.random_draw_s(0) == 0.0
    assert slow.random_draw_s(1) == slow.random_draw_s(3) > 0
    draws = [slow.random_draw_s(rows) for rows in (3, 10, 19, 44, 50, 100, 200, 300)]
    assert draws == sorted(draws) and len(set(draws)) == len(draws)
    # linear past the last measured count: 100 more rows add the same time again
    assert math.isclose(draws[7] - draws[6], draws[6] - draws[5])
    assert math.isclose(slow.random_draw_s(19), 121e-6)
    assert all(fast.random_draw_s(r) < slow.random_draw_s(r) for r in (3, 50, 256))
    # the vocabulary sets the bytes
    small = qwen.model.model_copy(update={"vocab_size": qwen.model.vocab_size // 2})
    halved = perf.top_k_top_p_cost(replace(qwen, model=small), 0)
    assert halved is not None
    assert math.isclose(halved.random_draw_s(64), slow.random_draw_s(64) / 2)
    # a step of a few decoding requests pays the torch sort and the draw beside the model (at
    # the fast end: the slow end's 1.5 ms of engine CPU a step hides them)
    other = qwen.model.model_copy(update={"model_id": "Qwen/other"})
    added = step_cost(qwen, 1)(_decode(4)) - step_cost(replace(qwen, model=other), 1)(_decode(4))
    assert math.isclose(added, fast.torch_s + fast.random_draw_s(4))


def test_the_estimate_says_what_the_top_k_top_p_sampler_costs() -> None:
    qwen = _stepped(model_id="Qwen/Qwen3-0.6B", concurrency=4, version="0.19.0")
    assert qwen.tpot is not None
    assert "346-285 us of the top-k/top-p sampler per 132 rows a step samples" in qwen.tpot.width
    assert "104-88 us of the sampler's random draw" in qwen.tpot.width
    assert "353-341 us at 100" in qwen.tpot.width
    greedy = _stepped(model_id="Qwen/Qwen3-0.6B", concurrency=4, version="0.14.1")
    assert greedy.tpot is not None and "top-k/top-p" not in greedy.tpot.width
    # before the Triton kernel the torch sort runs on every step, whatever its rows
    older = _stepped(model_id="Qwen/Qwen3-0.6B", concurrency=16, version="0.16.0")
    assert older.tpot is not None
    assert "409-356 us of the top-k/top-p sampler's torch sort every step" in older.tpot.width


def test_a_rate_runs_throughput_range_carries_the_clients_random_send_span() -> None:
    def output(version: str, prompts: int) -> tuple[float, float]:
        p = _stepped(version=version, request_rate=4.0, num_prompts=prompts)
        assert p.output_throughput is not None
        return p.output_throughput.deployment

    def relative_width(r: tuple[float, float]) -> float:
        return (r[1] - r[0]) / math.sqrt(r[0] * r[1])

    # vllm bench serve 0.9.2 sends over a random Gamma(N, 1/R) span: a wider range than
    # 0.10.0's fixed N / R, and the fewer the prompts, the wider
    for prompts in (40, 400):
        drawn, fixed = output("0.9.2", prompts), output("0.10.0", prompts)
        assert drawn[0] < fixed[0] and drawn[1] > fixed[1]
    assert relative_width(output("0.9.2", 40)) > 2 * relative_width(output("0.9.2", 400))
    # with a fixed span only the last responses' tail moves it: still wider at fewer prompts
    assert relative_width(output("0.10.0", 40)) > relative_width(output("0.10.0", 400))


def test_from_0_10_0_a_rate_runs_tail_is_one_draw_of_a_requests_latency() -> None:
    # vllm bench serve sends the last prompt at exactly N / R and stops its clock at the last
    # response: the duration beyond the span is that request's end-to-end latency, whose load
    # the seed draws - not the one schedule simulated, where the last request finds the engine
    # emptying (its latency near the run's fastest)
    ctx = _context(LLAMA, "H100-80GB", version="0.19.0", request_rate=4.0, num_prompts=200)
    work = Workload(prompts=200, prompt_tokens=500, output_tokens=100, request_rate=4.0)
    slow, fast = (simulate_workload(ctx, work, end) for end in (0, 1))
    assert slow.sent_s == fast.sent_s == 50.0
    assert math.isclose(slow.duration_s - slow.sent_s, percentile(list(slow.e2e_s), 90))
    assert fast.duration_s - fast.sent_s <= percentile(list(fast.e2e_s), 10)
    # the range holds a run whose last request met the median load at either end
    for run in (slow, fast):
        median_tail = 50.0 + percentile(list(run.e2e_s), 50)
        assert slow.output_tokens / slow.duration_s <= run.output_tokens / median_tail
        assert run.output_tokens / median_tail <= fast.output_tok_s
    words = _stepped(version="0.19.0", request_rate=4.0, num_prompts=200).output_throughput
    assert words is not None and "one draw of a request's end-to-end latency" in words.width
    # an engine that falls behind the rate (7.5-14.5 requests/s here): the backlog sets the
    # tail, so the run never outpaces all its prompts sent at once
    long = {"version": "0.19.0", "prompt_tokens": 2000, "gen_tokens": 200, "num_prompts": 400}
    burst = _output(_stepped(concurrency=400, **long))
    for rate in (50.0, 400.0):
        over = _output(_stepped(request_rate=rate, **long))
        assert over[0] <= burst[0] * 1.01 and over[1] <= burst[1] * 1.01


def test_a_run_too_long_to_simulate_whole_says_it_follows_from_its_steady_state() -> None:
    long = _stepped(concurrency=32, num_prompts=100_000, gen_tokens=20)
    short = _stepped(concurrency=32, num_prompts=1000, gen_tokens=20)
    assert "requests to finish simulated" in (long.workload or "")
    assert "steady state" in (long.workload or "")
    assert "steady state" not in (short.workload or "")


def test_an_nvlink_all_reduce_grows_with_the_tp_size_and_the_message() -> None:
    h100 = find_gpu("H100-SXM-80GB").nvlink_bandwidth_gbs or 0.0
    for end in (0, 1):
        # the measured latency: more ranks and more bytes take longer
        for size in (512, 32768, 262144, 1 << 20):
            two, four, eight = (nvlink_allreduce_s(tp, size, h100, end) for tp in (2, 4, 8))
            assert two <= four * 1.05 and four <= eight
        sizes = (32768, 262144, 1 << 20, 8 << 20, 64 << 20)
        times = [nvlink_allreduce_s(8, size, h100, end) for size in sizes]
        assert times == sorted(times)
        # TP 8 at 256 KB: the ~24 us vLLM's custom all-reduce takes, not a 5-10 us floor
        assert 15e-6 <= nvlink_allreduce_s(8, 262144, h100, end) <= 25e-6
        # TP 6 lies between TP 4 and TP 8
        assert (
            nvlink_allreduce_s(4, 1 << 20, h100, end)
            < nvlink_allreduce_s(6, 1 << 20, h100, end)
            < nvlink_allreduce_s(8, 1 << 20, h100, end)
        )
        # a slower link (A100's 600 GB/s) moves the bytes slower, never the flags faster
        assert nvlink_allreduce_s(8, 8192, 600, end) >= nvlink_allreduce_s(8, 8192, h100, end)
        assert nvlink_allreduce_s(8, 1 << 20, 600, end) > nvlink_allreduce_s(8, 1 << 20, h100, end)
    # a TP 8 MoE decode step pays it twice a layer: a bigger batch sends bigger messages
    ctx = _context("Qwen/Qwen3-235B-A22B", "H100-SXM-80GB", gpus=8, tp=8)
    cost = step_cost(ctx, 0)
    layers = ctx.model.num_hidden_layers
    message = 64 * ctx.model.hidden_size * ctx.settings.dtype_bytes
    grown = 2 * layers * (nvlink_allreduce_s(8, message, h100, 0) - perf._allreduce_s(ctx, 0, 0))
    assert cost(_decode(64)) - cost(_decode(1)) > grown


def _prefill(tokens: int) -> StepLoad:
    return StepLoad(0, 0, tokens, 1, 0, tokens * tokens / 2)


def test_fine_grained_experts_prefill_at_the_fused_moe_kernels_measured_rate_on_hopper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moe = _context("Qwen/Qwen3-30B-A3B", "H100-80GB")
    model = moe.model
    slow, fast = fixed_costs(moe.gpu, 0), fixed_costs(moe.gpu, 1)
    assert 150e12 <= slow.fused_moe_flops <= 200e12 and fast.fused_moe_flops == 0.0
    routed = model.params.expert_linear * model.num_experts_per_tok / model.num_experts
    # a 4,096-token prompt chunk: the routed experts' FLOPs alone take their measured time
    chunk, decode = step_cost(moe, 0)(_prefill(4096)), step_cost(moe, 0)(_decode(4))
    assert chunk >= 4096 * 2 * routed / slow.fused_moe_flops
    # without the measurement the slow end runs them at the dense kernels' share and moves
    # the fused call's activations itself: the chunk loses the difference of the two rates
    # over its expert FLOPs, less that traffic; a small decode step, which streams the
    # experts' bytes, loses only the traffic of its four tokens
    families = perf._constants()["families"]
    unmeasured = {k: {**v, "fused_moe_tflops": None} for k, v in families.items()}
    _patch_constants(monkeypatch, families=unmeasured)
    moe = replace(moe)  # a fresh context: a plan keeps the rates it read
    without, with_call = perf.activation_bytes(moe)
    traffic_s = (with_call - without) / (moe.gpu.memory_bandwidth_gbs * 1e9 * EFFICIENCY[0])
    extra = 4096 * 2 * routed * (1 / slow.fused_moe_flops - 1 / perf.rates(moe, 0).flops)
    extra -= 4096 * traffic_s
    assert chunk - step_cost(moe, 0)(_prefill(4096)) == pytest.approx(extra, rel=0.01)
    assert step_cost(moe, 0)(_decode(4)) == pytest.approx(decode + 4 * traffic_s)
    monkeypatch.undo()
    moe = replace(moe)
    # the fast end keeps the dense share (the large-expert measurement reached it)
    assert perf.rates(moe, 1).linear_token_s < perf.rates(moe, 0).linear_token_s
    # a dense model, another family or another expert kernel (MXFP4) keeps the dense rate
    for ctx in (
        _context(LLAMA, "H100-80GB"),
        _context("Qwen/Qwen3-30B-A3B", "A100-SXM4-80GB"),
        _context("openai/gpt-oss-20b", "H100-80GB"),
    ):
        dense = 2 * perf._active_params(ctx.model, 1) / perf.rates(ctx, 0).flops
        assert perf.rates(ctx, 0).linear_token_s == pytest.approx(dense)


def test_mla_attends_over_its_latent_in_decode_and_its_up_projected_heads_in_prefill(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = catalog_model("deepseek-ai/DeepSeek-R1")
    # decode: Q.K over the 512-dim latent and 64 rope dims, P.V over the latent; prefill: Q.K
    # over 128 + 64 dims and P.V over 128 value dims - neither the config's hidden/heads (56)
    assert perf.pair_flops(model) == (2 * 576 + 2 * 512, 2 * 192 + 2 * 128)
    gqa = catalog_model(LLAMA)
    assert perf.pair_flops(gqa) == (4 * gqa.head_dim, 4 * gqa.head_dim)
    # a long prompt chunk over cached context is compute-bound: with the config's head_dim in
    # place of those dimensions the same chunk would be cheaper
    ctx = _context("deepseek-ai/DeepSeek-R1", "H200", gpus=8, tp=8, max_model_len=40000)
    chunk = StepLoad(0, 0, 8192, 1, 24576, 8192 * 24576 + 8192 * 8193 / 2)
    latent = step_cost(ctx, 1)(chunk)
    monkeypatch.setattr(perf, "pair_flops", lambda m: (4 * m.head_dim, 4 * m.head_dim))
    assert latent > 1.3 * step_cost(ctx, 1)(chunk)


def test_each_range_says_which_sources_drive_its_width() -> None:
    # one request of a dense 8B model: each token streams the weights, so the share of peak
    # bandwidth reached sets the TPOT's width; a long prompt's first token is matmuls
    p = _stepped(concurrency=1, prompt_tokens=6000)
    assert p.tpot is not None and p.ttft is not None
    assert p.tpot.width.startswith("width driven by memory bandwidth reached")
    assert p.ttft.width.startswith("width driven by tensor-core FLOPS reached")
    # over TP 8 every layer waits for two all-reduces: their latency drives part of it
    wide = plan(
        "deepseek-ai/DeepSeek-R1", "H200", step_model=True, gpus=8, tp=8, concurrency=4, **SHORT
    ).performance
    assert wide.tpot is not None and "all-reduce latency" in wide.tpot.width
    ctx = _context(LLAMA, "H100-80GB")
    drivers = perf.width_drivers(lambda ends: step_cost(ctx, ends)(_decode(1)))
    shares = [share for _, share in drivers]
    assert shares == sorted(shares, reverse=True) and 0.95 <= sum(shares) <= 1.0 + 1e-9
    assert drivers[0][0] == "bandwidth"


def test_a_sparse_indexer_scores_every_key_but_the_attention_reads_only_its_top_k() -> None:
    model = catalog_model("deepseek-ai/DeepSeek-V3.2")
    assert (model.index_topk, model.index_heads, model.index_head_dim) == (2048, 64, 128)
    dense = model.model_copy(update={"index_topk": 0, "index_heads": 0})
    kw: dict[str, Any] = {"gpus": 8, "tp": 8, "max_model_len": 65536}
    sparse_ctx = _context("deepseek-ai/DeepSeek-V3.2", "H200", model, **kw)
    dense_ctx = _context("deepseek-ai/DeepSeek-V3.2", "H200", dense, **kw)
    indexer = perf.sparse_indexer(sparse_ctx, 61)
    assert indexer is not None and indexer.pair_flops == 61 * 2 * 64 * 128
    assert perf.sparse_indexer(dense_ctx, 61) is None
    sparse, full = step_cost(sparse_ctx, 1), step_cost(dense_ctx, 1)
    # decoding at 60k tokens of context: the attention reads 2,048 latents, not 60k
    assert sparse(_decode(64, 60000)) < full(_decode(64, 60000))
    # the indexer still scores the whole context: a longer one costs more
    assert sparse(_decode(64, 60000)) > sparse(_decode(64, 30000))
    # a short context is attended whole, and the indexer's scores come on top
    assert sparse(_decode(64, 1000)) > full(_decode(64, 1000))


def test_layers_reusing_a_top_k_score_nothing_from_0_33() -> None:
    """GLM-5.2: 21 of 78 layers build an indexer on 0.33 (the others reuse its top-k), every
    layer on 0.19; the indexer's scores and key reads shrink to those 21, the top-k stays."""
    glm = "zai-org/GLM-5.2"
    kw: dict[str, Any] = {"gpus": 8, "tp": 8, "max_model_len": 65536}
    old = perf.sparse_indexer(_context(glm, "H200", version="0.19.0", **kw), 78)
    new = perf.sparse_indexer(_context(glm, "H200", version="0.33.0", **kw), 78)
    assert old is not None and new is not None and old.topk == new.topk
    assert new.pair_flops == pytest.approx(old.pair_flops * 21 / 78)
    assert new.key_bytes == pytest.approx(old.key_bytes * 21 / 78)


def test_mla_layers_and_shared_experts_launch_more_kernels_than_a_llama_layer() -> None:
    # DeepSeek-R1: every layer an MLA block (two latent norms, the absorbed bmms, FlashMLA's
    # kernel and combine, block-fp8 activation quantization), 58 with routed experts beside a
    # shared one: far more boundaries a step than a Llama layer's
    ds = _context("deepseek-ai/DeepSeek-R1", "H200", gpus=8, tp=8)
    qwen_moe = _context("Qwen/Qwen3-30B-A3B", "H100-80GB")
    for end in (0, 1):
        gaps = fixed_costs(ds.gpu, end)
        moe = perf.stage_moe_layers(ds)[0]
        llama_like = 61 * gaps.kernels_per_layer
        assert perf.stage_kernels(ds, moe, gaps) > 1.5 * llama_like
        # no shared expert, no MLA: only the router's GEMM beside the fused call
        layers = qwen_moe.model.num_hidden_layers
        assert perf.stage_kernels(qwen_moe, layers, gaps) == layers * (
            gaps.kernels_per_layer - gaps.mlp_kernels + gaps.router_kernels
        )


def test_large_weights_stream_faster_than_a_small_models_boundaries_would_say() -> None:
    # Hopper: the weights stream at the boundary-free rate and each kernel boundary adds its
    # loss, so an 8B model's slow end is well under its bytes at a flat 50 % of peak (the rate
    # vLLM measured for a 1B model, whose small matrices its boundaries dominate) ...
    ctx = _context("Qwen/Qwen3-8B", "H100-80GB")
    weights = ctx.memory.stages[0].weights
    peak = ctx.gpu.memory_bandwidth_gbs * 1e9
    slow = step_cost(ctx, 0)(_decode(1))
    assert weights / (0.78 * peak) < slow < weights / (0.5 * peak)
    # ... while a 0.6B model's boundaries still cost it a larger share of its step
    small = _context("Qwen/Qwen3-0.6B", "H100-80GB")
    gaps = fixed_costs(small.gpu, 0)
    boundaries = perf.stage_kernels(small, 0, gaps) * gaps.graph_kernel_s
    big_boundaries = perf.stage_kernels(ctx, 0, gaps) * gaps.graph_kernel_s
    assert boundaries / step_cost(small, 0)(_decode(1)) > 2 * big_boundaries / slow


def test_the_lm_head_multiplies_only_the_rows_a_step_samples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # vLLM computes logits at one row per scheduled request, not at every prompt token: a
    # compute-bound prompt chunk of 4,096 tokens pays the head once, a decode batch per row
    ctx = _context(LLAMA, "H100-80GB")
    head = perf.rates(ctx, 1).head_row_s
    model = ctx.model
    assert head == 2 * model.vocab_size * model.hidden_size / perf.rates(ctx, 1).flops
    chunk = StepLoad(0, 0, 4096, 1, 0, 4096 * 4097 / 2)
    with_head = step_cost(ctx, 1)(chunk)
    monkeypatch.setattr(perf, "head_row_s", lambda m, f: 0.0)
    _fresh_rates(monkeypatch)
    ctx = replace(ctx)  # a fresh context: a plan keeps the rates it read
    assert math.isclose(with_head - step_cost(ctx, 1)(chunk), head)
    # a tied head (Qwen3-0.6B) multiplies with the embedding table all the same
    monkeypatch.undo()
    tied = _context("Qwen/Qwen3-0.6B", "H100-80GB")
    assert tied.model.tie_word_embeddings and perf.rates(tied, 1).head_row_s > 0


def test_the_kernels_between_the_matmuls_move_the_activations_of_every_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a dense layer: two fused add+RMSNorms (8 x hidden) and the MLP's SiLU-and-mul (3 x its
    # intermediate size), in the activation dtype
    dense = _context("Qwen/Qwen3-14B", "H100-80GB")
    m = dense.model
    per_layer = 8 * m.hidden_size + 3 * m.intermediate_size
    assert perf.activation_bytes(dense) == (m.num_hidden_layers * per_layer * 2,) * 2
    # a fused-MoE call adds each routed expert's SiLU-and-mul and moe_sum's read of the k
    # expert outputs (every TP rank holds a share of all k), unless a measured rate of the
    # call prices them: on an A100 none is, so the routed traffic counts at both ends
    moe = _context("Qwen/Qwen3-235B-A22B", "A100-SXM4-80GB", gpus=8, tp=8)
    without, routed = perf.activation_bytes(moe)
    k, h = moe.model.num_experts_per_tok, moe.model.hidden_size
    assert routed - without >= moe.model.num_hidden_layers * (k + 1) * h * 2
    assert perf.rates(moe, 0).activation_bytes == perf.rates(moe, 1).activation_bytes == routed
    # a prompt chunk pays them per token, at the bandwidth of non-weight bytes
    chunk = StepLoad(0, 0, 8192, 1, 0, 8192 * 8193 / 2)
    with_them = step_cost(moe, 0)(chunk)
    monkeypatch.setattr(perf, "activation_bytes", lambda c: (0.0, 0.0))
    moe = replace(moe)  # a fresh context: a plan keeps the rates it read
    bandwidth = moe.gpu.memory_bandwidth_gbs * 1e9 * EFFICIENCY[0]
    assert math.isclose(with_them - step_cost(moe, 0)(chunk), 8192 * routed / bandwidth)
