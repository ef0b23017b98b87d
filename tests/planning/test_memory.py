"""The engine against vLLM's own arithmetic and a few real start-up logs (shared/validation)."""

from __future__ import annotations

import pytest

from checker.planning.engine.settings import resolve_settings
from checker.planning.engine.versions import version_facts
from checker.planning.memory.activation import activation_bytes
from checker.planning.memory.memory import plan_memory
from checker.planning.planner import run_plan
from checker.schemas.enums import Severity
from tests.planning.conftest import H100, T4, model, request
from tests.planning.plans import catalog_model
from tests.planning.plans import plan as catalog_plan

GIB = 2**30


def plan(name: str, **kw: object):  # type: ignore[no-untyped-def]
    req = request(name.replace("__", "/"), **kw)  # type: ignore[arg-type]
    m = model(name)
    return plan_memory(m, resolve_settings(req, m, H100, tp=req.hardware.tensor_parallel_size or 1))


def close(value: float, expected: float, pct: float) -> bool:
    return abs(value / expected - 1) * 100 <= pct


def test_llama_8b_h100_matches_the_v019_log() -> None:
    # Model loading took 14.99 GiB; Available KV cache memory: 58.11 GiB; 476,016 tokens
    mem = plan("meta-llama__Llama-3.1-8B")
    assert close(mem.first.weights / GIB, 14.99, 0.2)
    assert close(mem.first.kv_budget / GIB, 58.11, 1.0)
    assert close(mem.binding.kv.tokens, 476016, 1.0)
    assert mem.binding.kv.layout.bytes_per_token == 32 * 2 * 8 * 128 * 2


def test_kv_budget_does_not_depend_on_max_model_len_in_v1() -> None:
    short, long = (
        plan("meta-llama__Llama-3.1-8B", max_len=2048),
        plan("meta-llama__Llama-3.1-8B", max_len=32768),
    )
    assert short.first.kv_budget == long.first.kv_budget
    assert short.binding.kv.max_concurrency == pytest.approx(
        long.binding.kv.max_concurrency * 16, rel=1e-9
    )


def test_v0_profiles_max_model_len_tokens() -> None:
    short, long = (
        plan("meta-llama__Llama-3.1-8B", max_len=20000, version="0.6"),
        plan("meta-llama__Llama-3.1-8B", max_len=29000, version="0.6"),
    )
    assert long.first.activation > short.first.activation
    assert long.first.kv_budget < short.first.kv_budget


def test_fp8_kv_doubles_tokens_and_tp_splits_weights() -> None:
    base = plan("meta-llama__Llama-3.1-8B")
    fp8 = plan("meta-llama__Llama-3.1-8B", kv_cache_dtype="fp8")
    assert fp8.binding.kv.tokens == pytest.approx(2 * base.binding.kv.tokens, rel=0.001)
    tp2 = plan("meta-llama__Llama-3.1-8B", tp=2)
    assert close(tp2.first.weights / GIB, 7.51, 0.5)  # log: 7.51 GiB per rank
    assert tp2.first.non_torch > base.first.non_torch  # all-reduce buffers


def test_kv_heads_replicated_when_tp_exceeds_them() -> None:
    m = model("Qwen__Qwen2.5-7B")  # 4 KV heads
    tp8 = resolve_settings(request(tp=8), m, H100, tp=8)
    mem = plan_memory(m, tp8)
    assert mem.binding.kv.layout.page_bytes == 2 * 16 * 1 * 128 * 2  # one head per rank


def test_mla_latent_not_sharded() -> None:
    one = plan("deepseek-ai__DeepSeek-V2-Lite-Chat")
    two = plan("deepseek-ai__DeepSeek-V2-Lite-Chat", tp=2)
    assert one.binding.kv.layout.bytes_per_token == 27 * 576 * 2  # 31,104 B/token
    assert two.binding.kv.layout.bytes_per_token == one.binding.kv.layout.bytes_per_token


def test_pipeline_binding_stage_is_the_last() -> None:
    mem = plan("meta-llama__Llama-3.1-8B", pp=2)
    assert len(mem.stages) == 2
    assert mem.binding.stage == 1  # the sampler runs on the last stage
    assert mem.stages[1].activation > mem.stages[0].activation
    assert close(mem.binding.kv.num_blocks, 67207, 1.0)  # log: 67207 blocks


def test_a_later_pipeline_stage_keeps_its_receive_buffers() -> None:
    """Every stage after the first holds the hidden states and residual of
    max_num_batched_tokens tokens it receives (make_empty_intermediate_tensors); V0 is not
    modelled so."""
    m = model("meta-llama__Llama-3.1-8B")

    def stages(version: str) -> tuple[list[float], int]:
        req = request("meta-llama/Llama-3.1-8B", pp=4, version=version)
        s = resolve_settings(req, m, H100, tp=1)
        return [activation_bytes(m, s, stage) for stage in range(4)], s.max_num_batched_tokens

    v1, tokens = stages("0.19.0")
    assert v1[1] - v1[0] == pytest.approx(2 * tokens * 4096 * 2) and v1[2] == v1[1]
    v0, _ = stages("0.7.3")
    assert v0[1] == v0[0]


def test_hybrid_groups_gemma3() -> None:
    mem = plan("google__gemma-3-12b-it")
    layout = mem.binding.kv.layout
    assert layout.group_size == 8 and len(layout.kinds) == 6
    assert mem.binding.kv.tokens == mem.binding.kv.num_blocks // 6 * 16
    # sliding layers save nothing when max_num_batched_tokens >= max_model_len
    assert mem.binding.kv.max_concurrency == pytest.approx(
        mem.binding.kv.num_blocks / (512 + 5 * 513), rel=1e-6
    )


def test_moe_weights_and_quantized_weights_smaller() -> None:
    assert close(plan("Qwen__Qwen3-30B-A3B").first.weights / GIB, 56.88, 0.5)
    bf16 = plan("meta-llama__Llama-3.1-8B")
    fp8 = plan("meta-llama__Llama-3.1-8B", quantization="fp8")
    assert close(fp8.first.weights / GIB, 8.49, 0.5)  # log: 8.49 GiB
    assert fp8.first.weights < bf16.first.weights


def test_cudagraph_subtracted_from_021() -> None:
    old = plan("meta-llama__Llama-3.1-8B", version="0.19")
    new = plan("meta-llama__Llama-3.1-8B", version="0.21")
    assert not old.settings.cudagraph_subtracted and new.settings.cudagraph_subtracted
    assert new.first.kv_budget == pytest.approx(old.first.kv_budget - new.first.cudagraph)


def test_capture_sizes_follow_vllms_rule() -> None:
    from checker.planning.engine.settings import capture_sizes

    default = capture_sizes(1024, 8192, None)  # log: "PIECEWISE=51 (largest=512)"
    assert len(default) == 51 and default[:4] == (1, 2, 4, 8) and default[-1] == 512
    assert (
        capture_sizes(1024, 8192, 1024)[-1] == 1024 and len(capture_sizes(1024, 8192, 1024)) == 83
    )
    assert capture_sizes(16, 8192, None) == (1, 2, 4, 8, 16, 24, 32)  # 2 x max_num_seqs
    assert capture_sizes(1024, 256, None)[-1] == 256  # never past max_num_batched_tokens


def test_gpt_oss_captures_up_to_1024_so_its_graphs_cost_more() -> None:
    # v0.19 log: "Overriding max cuda graph capture size to 1024 for performance",
    # "PIECEWISE=83 (largest=1024)", CUDA graph pool 1.84 GiB actual.
    mem = plan("openai__gpt-oss-20b")
    assert len(mem.settings.cudagraph_sizes) == 83
    assert close(mem.first.cudagraph / GIB, 1.84, 15)
    few = plan("meta-llama__Llama-3.1-8B", max_num_seqs=8)
    assert few.first.cudagraph < plan("meta-llama__Llama-3.1-8B").first.cudagraph / 5
    assert plan("meta-llama__Llama-3.1-8B", enforce_eager=True).first.cudagraph == 0


def test_version_table_lookup_and_defaults() -> None:
    assert version_facts("0.19.0").engine == "v1"
    assert version_facts("0.7.3").engine == "v0"
    assert version_facts("0.20").cudagraph_subtracted is False
    assert version_facts(None).default_gpu_memory_utilization == 0.92
    assert version_facts("0.19").default_batching("H100-SXM-80GB", 79.19) == (8192, 1024)
    assert version_facts("0.19").default_batching("A100-SXM4-80GB", 79.15) == (2048, 256)
    # engine/arg_utils.py _set_default_args_v1: 0.8.5 sizes by memory alone, 0.9.0 leaves the
    # A100 out; both give an H100 vLLM 0.10's 8192 tokens and 1024 sequences
    for version in ("0.8.5", "0.9.2", "0.10.2"):
        assert version_facts(version).default_batching("H100-SXM-80GB", 79.19) == (8192, 1024)
    assert version_facts("0.8.5").default_batching("A100-SXM4-80GB", 79.15) == (8192, 1024)
    assert version_facts("0.9.2").default_batching("A100-SXM4-80GB", 79.15) == (2048, 256)
    assert version_facts("0.9.2").default_batching("L4", 22.05) == (2048, 256)


def test_run_plan_log_lines_and_dtype_fallback_on_t4() -> None:
    m = model("Qwen__Qwen2.5-1.5B")
    resp = run_plan(request("Qwen/Qwen2.5-1.5B", util=0.5, max_len=32768, version="0.10"), m, T4)
    assert resp.model.dtype == "float16"  # from 0.9.0 a bf16 checkpoint on sm_75 runs in fp16
    assert not [f for f in resp.feasibility.findings if f.severity is Severity.ERROR]
    old = run_plan(request("Qwen/Qwen2.5-1.5B", util=0.5, max_len=32768, version="0.7"), m, T4)
    assert old.feasibility.log_lines[0].startswith("Loading model weights took")  # V0 format
    assert old.model.dtype == "bfloat16"  # 0.8.5 and earlier kept bf16 and refused to start
    assert [f.rule_id for f in old.feasibility.findings if f.severity is Severity.ERROR] == [
        "VW104"
    ]
    fp16 = run_plan(
        request("Qwen/Qwen2.5-1.5B", util=0.5, max_len=32768, version="0.7", dtype="float16"), m, T4
    )
    assert not [f for f in fp16.feasibility.findings if f.severity is Severity.ERROR]


def test_v1_defaults_without_chunked_prefill_and_clamped_max_num_seqs() -> None:
    m = model("meta-llama__Llama-3.1-8B")
    small = H100.model_copy(update={"name": "L40S", "memory_gib": 44.52})
    no_chunk = resolve_settings(
        request(max_len=16384, enable_chunked_prefill=False), m, small, tp=1
    )
    assert no_chunk.max_num_batched_tokens == 16384  # a whole prompt in one step
    tiny = resolve_settings(request(max_num_batched_tokens=128), m, small, tp=1)
    assert tiny.max_num_seqs == 128  # from 0.10.1 a defaulted max_num_seqs is clamped
    assert (
        resolve_settings(
            request(max_num_batched_tokens=128, version="0.8"), m, small, tp=1
        ).max_num_seqs
        == 256
    )


def test_too_long_context_fails_with_the_largest_that_fits() -> None:
    m = model("meta-llama__Llama-3.1-8B")
    small = H100.model_copy(update={"memory_gib": 23.58})
    resp = run_plan(request(util=0.9, max_len=131072), m, small)
    finding = next(f for f in resp.feasibility.findings if f.rule_id == "VW203")
    fit = finding.fix_values["model.max_model_len"]
    assert 0 < fit < 131072 and "estimated maximum model length is" in finding.message
    ok = run_plan(request(util=0.9, max_len=fit), m, small)
    assert not [f for f in ok.feasibility.findings if f.rule_id == "VW203"]
    over = run_plan(request(util=0.9, max_len=fit + 64), m, small)
    assert [f for f in over.feasibility.findings if f.rule_id == "VW203"]


def test_sampler_warmup_oom_when_nothing_is_left_outside_the_budget() -> None:
    from checker.schemas.enums import OOMRisk

    m = model("google__gemma-2-9b-it")  # 256k vocabulary x 1024 warm-up requests
    tight = run_plan(request(util=0.99), m, H100)
    finding = next(f for f in tight.feasibility.findings if f.rule_id == "VW205")
    assert "warming up sampler with 1024 dummy requests" in finding.message
    util = finding.fix_values["policy.gpu_memory_utilization"]
    assert 0.5 < util < 0.99
    assert tight.feasibility.oom_risk is OOMRisk.HIGH
    fixed = run_plan(request(util=util), m, H100)
    assert not [f for f in fixed.feasibility.findings if f.rule_id == "VW205"]


@pytest.mark.parametrize(
    ("model_id", "logged"),
    [("google/gemma-3-4b-it", 8.58), ("google/gemma-3-27b-it", 51.45)],
)
def test_gemma3_linear_rope_cache_is_loaded_with_the_weights(model_id: str, logged: float) -> None:
    # vLLM LinearScalingRotaryEmbedding caches max_position x factor rows for the global rope
    # (factor 8), beside the local rope's max_position rows; v0.19 H100 logs of the llm-d planner
    # sweep (benchmarks/corpora/planner_v019_heldout.yaml): "Model loading took 8.58 / 51.45 GiB"
    m = catalog_model(model_id)
    assert m.rope_cache_elements == (1 + 8) * 131072 * m.head_dim
    resp = catalog_plan(model_id, max_model_len=8192, version="0.19.0")
    assert close(resp.feasibility.memory.weights_gib, logged, 0.3)
