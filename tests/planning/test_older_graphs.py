"""CUDA graphs of older releases: the sizes each captures by default and with --cuda-graph-sizes
(VllmConfig._set_cudagraph_sizes of 0.6.6 .. 0.11.0), --max-seq-len-to-capture (V0 decode steps
past it run eagerly) and --num-scheduler-steps (V0 multi-step; 0.8 / 0.9 fall back to V0)."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.memory.activation import forward_peak_bytes
from checker.planning.memory.memory import MemoryPlan
from checker.planning.planner import plan_settings
from checker.schemas.inputs import EngineInput
from tests.planning.plans import catalog_model, fired, make_request, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


def _memory(version: str, **kw: Any) -> MemoryPlan:
    kw.setdefault("max_model_len", 16384)
    request = make_request(LLAMA, version=version, **kw)
    return plan_settings(request, catalog_model(LLAMA), find_gpu("H100-80GB"), tp=1)[1]


def _sizes(version: str, **kw: Any) -> tuple[int, ...]:
    return _memory(version, **kw).settings.cudagraph_sizes


def test_0_9_captures_every_8_up_to_512() -> None:
    """0.9.2 config.py: SchedulerConfig.cuda_graph_sizes = [512] -> 1, 2, 4 and 8, 16 .. 512:
    3 + 64 = 67 sizes, whatever max_num_seqs (1,024 on an H100); the stride-16 rule of 0.12+
    would give 51."""
    sizes = _sizes("0.9.2")
    assert len(sizes) == 67 and sizes[:5] == (1, 2, 4, 8, 16) and sizes[-2:] == (504, 512)


def test_0_9_cuda_graph_sizes_one_value_is_the_ceiling_several_are_the_sizes() -> None:
    """One value N: 1, 2, 4 and every 8 up to N (3 + 8 sizes for 64); several: those sizes;
    none past max_num_batched_tokens (2,048 here)."""
    assert _sizes("0.9.2", cuda_graph_sizes=(64,)) == (1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64)
    assert _sizes("0.9.2", cuda_graph_sizes=(3, 1, 4096)) == (1, 3, 4096)
    capped = _sizes("0.9.2", cuda_graph_sizes=(1, 3, 4096), max_num_batched_tokens=2048)
    assert capped == (1, 3)


def test_0_10_ceiling_is_twice_max_num_seqs_in_steps_of_8() -> None:
    """0.10.2 config/scheduler.py __post_init__: [min(2 x 200, 512)] = [400] -> 1, 2, 4, 8 ..
    400: 53 sizes (0.12's stride 16 from 256 would give 44)."""
    sizes = _sizes("0.10.2", max_num_seqs=200)
    assert len(sizes) == 53 and sizes[-1] == 400 and 392 in sizes


def test_0_12_keeps_the_stride_16_rule_and_reads_the_flag_as_the_sizes() -> None:
    assert len(_sizes("0.12.0", max_num_seqs=200)) == 44
    assert _sizes("0.12.0", cuda_graph_sizes=(64,)) == (64,)


def test_v0_captures_up_to_the_first_size_at_or_above_max_num_seqs() -> None:
    """0.7.3 config.py (not VLLM_USE_V1): [1, 2, 4] + 8 x i, up to the first >= max_num_seqs:
    256 -> 35 sizes; 100 -> 104, 16 sizes. The graphs are captured after the KV cache is
    sized, so the KV budget is the same as in eager mode."""
    default = _memory("0.7.3")
    assert len(default.settings.cudagraph_sizes) == 35
    assert default.settings.cudagraph_sizes[-1] == 256
    small = _sizes("0.7.3", max_num_seqs=100)
    assert len(small) == 16 and small[-1] == 104
    eager = _memory("0.7.3", enforce_eager=True)
    assert default.first.cudagraph > 0 and eager.first.cudagraph == 0
    assert default.binding.kv_budget == eager.binding.kv_budget
    assert default.free_after_startup < eager.free_after_startup


def test_v0_captures_a_set_of_graphs_per_pipeline_stage() -> None:
    """GPUModelRunnerBase.capture_model loops over the virtual engines (one per PP stage): a
    rank of 16 of Llama-3.1-8B's 32 layers holds 2 sets of 35 sizes, each estimated at
    (16 + 1) x 525,000 bytes: 2 x 35 x 17 x 525,000 = 624,750,000 bytes, beside the largest
    batch's activations."""
    memory = _memory("0.7.3", gpus=2, pp=2)
    peak = forward_peak_bytes(catalog_model(LLAMA), memory.settings, 256, 0)
    assert memory.first.cudagraph - peak == pytest.approx(624_750_000)


def test_multi_step_falls_back_to_v0_in_0_8() -> None:
    """0.8.5 EngineArgs._is_v1_supported_oracle: --num-scheduler-steps != 1 falls back to V0:
    V0's 256 sequences and capture rule (35 sizes), no hybrid KV cache manager."""
    multi = _memory("0.8.5", num_scheduler_steps=8)
    assert multi.settings.is_v0 and multi.settings.max_num_seqs == 256
    assert len(multi.settings.cudagraph_sizes) == 35
    assert not _memory("0.8.5").settings.is_v0
    resp = plan(LLAMA, version="0.8.5", max_model_len=16384, num_scheduler_steps=8)
    assert resp.feasibility.log_lines[0].startswith(
        "--num-scheduler-steps is not supported by the V1 Engine. Falling back to V0."
    )


@pytest.mark.parametrize(
    ("version", "given", "expected"),
    [
        ("0.7.3", None, 8192),  # EngineArgs default
        ("0.7.3", 4096, 4096),
        ("0.7.3", 65536, 16384),  # ModelConfig: at most max_model_len
        ("0.9.2", 4096, None),  # the V1 runner never reads it
    ],
)
def test_max_seq_len_to_capture(version: str, given: int | None, expected: int | None) -> None:
    s = _memory(version, max_seq_len_to_capture=given).settings
    assert s.graph_max_seq_len == expected


def test_one_value_on_the_command_line_reads_as_a_list() -> None:
    assert EngineInput.model_validate({"cuda_graph_sizes": 64}).cuda_graph_sizes == (64,)
    assert EngineInput.model_validate({"cuda_graph_sizes": "1 2 4"}).cuda_graph_sizes == (1, 2, 4)


def test_explain_says_what_each_costs() -> None:
    resp = plan(
        LLAMA,
        version="0.8.5",
        max_model_len=16384,
        num_scheduler_steps=8,
        max_seq_len_to_capture=4096,
        explain=True,
    )
    words = resp.config.explanations
    assert "runs the V0 engine" in words["--num-scheduler-steps"]
    assert "35 CUDA-graph sizes up to 256" in words["--num-scheduler-steps"]
    assert "longest sequence passes 4,096 tokens" in words["--max-seq-len-to-capture"]
    v1 = plan(LLAMA, version="0.9.2", max_model_len=16384, cuda_graph_sizes=(64,), explain=True)
    assert "11 CUDA-graph sizes up to 64" in v1.config.explanations["--cuda-graph-sizes"]


def test_v0_requests_past_the_graph_length_decode_eagerly() -> None:
    """A 12,000 + 500 token request passes the default 8,192: VW145 (info), raised to 12,500
    by the fix; --max-seq-len-to-capture 16384 covers it; V1 never reads the flag."""
    long = {"version": "0.7.3", "max_model_len": 16384, "prompt_tokens": 12000, "gen_tokens": 500}
    (found,) = fired(plan(LLAMA, **long), "VW145")
    assert found.severity.value == "info" and "12,500 tokens" in found.message
    assert "--max-seq-len-to-capture 12500" in (found.fix or "")
    assert not fired(plan(LLAMA, **long, max_seq_len_to_capture=16384), "VW145")
    assert not fired(plan(LLAMA, **{**long, "version": "0.9.2"}), "VW145")
