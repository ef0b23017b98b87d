"""Decode / prefill context parallel (issue 13 item 3), mirroring vLLM's config/parallel.py,
config/model.py, v1/kv_cache_interface.py and v1/core/kv_cache_utils.py (0.19.0 .. 0.33.0)."""

from __future__ import annotations

import pytest

from checker.schemas.outputs import PlanResponse
from tests.planning.plans import fired, only, plan

R1 = "deepseek-ai/DeepSeek-R1"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
R1_TP8 = {"gpus": 8, "tp": 8, "max_model_len": 131072}


def _tokens(resp: PlanResponse) -> int:
    assert resp.feasibility.kv is not None
    return resp.feasibility.kv.tokens


def _concurrency(resp: PlanResponse) -> float:
    assert resp.feasibility.kv is not None
    return resp.feasibility.kv.max_concurrency


@pytest.mark.parametrize("version", ["0.19", "0.33"])
def test_dcp_multiplies_the_mla_kv_capacity_of_deepseek_r1(version: str) -> None:
    base = plan(R1, "H200-141GB", version=version, **R1_TP8)
    dcp = plan(R1, "H200-141GB", version=version, decode_context_parallel_size=8, **R1_TP8)
    assert not fired(dcp, "VW135") and not fired(dcp, "VW301")
    # DCP reuses the TP ranks: same GPUs, same memory, eight times the tokens per block
    assert dcp.feasibility.num_gpus_used == base.feasibility.num_gpus_used == 8
    assert dcp.feasibility.memory.kv_cache_gib == base.feasibility.memory.kv_cache_gib
    assert _concurrency(dcp) == pytest.approx(8 * _concurrency(base), rel=1e-3)
    assert abs(_tokens(dcp) - 8 * _tokens(base)) <= 8 * 131072 * 0.01
    assert f"GPU KV cache size: {_tokens(dcp):,} tokens" in dcp.feasibility.log_lines


def test_0_19_logs_blocks_times_the_cp_world_size() -> None:
    """0.19's _report_kv_cache_config: num_blocks // groups x block_size x (pcp x dcp)."""
    base = plan(R1, "H200-141GB", version="0.19", **R1_TP8)
    dcp = plan(R1, "H200-141GB", version="0.19", decode_context_parallel_size=8, **R1_TP8)
    assert _tokens(dcp) == 8 * _tokens(base)


@pytest.mark.parametrize(
    ("version", "text"),
    [
        ("0.19", "tp_size=1 must be divisible bydcp_size=2."),
        ("0.33", "tp_size=1 must be divisible by dcp_size=2."),
    ],
)
def test_tp_not_divisible_by_dcp_is_vllms_error(version: str, text: str) -> None:
    resp = plan(LLAMA, max_model_len=16384, version=version, decode_context_parallel_size=2)
    # the first error stops vLLM: the GQA check of the model config is never reached
    assert only(resp, "VW135").message == text
    assert resp.feasibility.verdict.value == "FAIL"


def test_dcp_on_a_gqa_model_needs_tp_ranks_replicating_each_kv_head() -> None:
    """Llama-3.1-8B: 8 KV heads, 32 query heads; DCP up to TP // 8."""
    common = {"gpus": 16, "tp": 16, "max_model_len": 16384, "version": "0.33"}
    ok = plan(LLAMA, decode_context_parallel_size=2, **common)
    assert not fired(ok, "VW135")
    base = plan(LLAMA, **common)
    assert _concurrency(ok) == pytest.approx(2 * _concurrency(base), rel=1e-3)
    too_big = plan(LLAMA, decode_context_parallel_size=4, **common)
    assert only(too_big, "VW135").message == (
        "`--decode-context-parallel-size` (4) exceeds the maximum supported value (2) for "
        "`--tensor-parallel-size` (16) and 8 model KV heads."
    )
    few_ranks = plan(LLAMA, gpus=8, tp=8, max_model_len=16384, version="0.19",
                     decode_context_parallel_size=2)  # fmt: skip
    assert only(few_ranks, "VW135").message == (
        "tensor parallel size 8 must be greater than total num kv heads 8 when enable decode "
        "context parallel for GQA/MQA"
    )


def test_pcp_multiplies_the_world_size() -> None:
    one = plan(LLAMA, max_model_len=16384, version="0.33", prefill_context_parallel_size=2)
    assert one.feasibility.num_gpus_used == 2
    assert only(one, "VW301").message.startswith(
        "World size (2) is larger than the number of available GPUs (1) in this node."
    )
    two = plan(LLAMA, gpus=2, max_model_len=16384, version="0.33", prefill_context_parallel_size=2)
    assert not fired(two, "VW301") and two.feasibility.num_gpus_used == 2


def test_pcp_split_the_kv_through_0_24_and_not_in_0_33() -> None:
    kw = {"gpus": 2, "max_model_len": 16384}
    ratios = {}
    for version in ("0.24", "0.33"):
        base = plan(LLAMA, version=version, **kw)
        pcp = plan(LLAMA, version=version, prefill_context_parallel_size=2, **kw)
        ratios[version] = _concurrency(pcp) / _concurrency(base)
    # the second rank's NCCL communicators take a little of the KV memory in both
    assert 1.9 < ratios["0.24"] <= 2 and 0.95 < ratios["0.33"] <= 1


def test_0_33_dcp_with_pcp_spans_pcp_or_tp_x_pcp() -> None:
    kw = {"gpus": 16, "tp": 8, "max_model_len": 32768, "prefill_context_parallel_size": 2}
    bad = plan(R1, "H200-141GB", version="0.33", decode_context_parallel_size=4, **kw)
    assert only(bad, "VW135").message == (
        "When PCP is enabled, DCP must be disabled, span the PCP axis, or span the full TP x "
        "PCP axis. Got TP=8, PCP=2, DCP=4; valid DCP sizes are [1, 2, 16]."
    )
    # 0.24 checked TP divisible by DCP whatever PCP was
    old = plan(R1, "H200-141GB", version="0.24", decode_context_parallel_size=4, **kw)
    assert not fired(old, "VW135")


def test_sliding_window_layers_refuse_context_parallel_unless_hma_is_off() -> None:
    """gemma-2-9b: 8 KV heads, 16 query heads, sliding and full layers in hybrid groups."""
    kw = {"gpus": 16, "tp": 16, "max_model_len": 8192, "version": "0.33"}
    hybrid = plan("google/gemma-2-9b-it", decode_context_parallel_size=2, **kw)
    assert only(hybrid, "VW135").message == "DCP not support sliding window attn now."
    full = plan(
        "google/gemma-2-9b-it",
        decode_context_parallel_size=2,
        disable_hybrid_kv_cache_manager=True,
        **kw,
    )
    assert not fired(full, "VW135")


def test_explain_says_what_context_parallel_does() -> None:
    dcp = plan(R1, "H200-141GB", version="0.33", decode_context_parallel_size=8, explain=True,
               **R1_TP8)  # fmt: skip
    words = dcp.config.explanations["--decode-context-parallel-size"]
    assert f"{_tokens(dcp):,} KV tokens, 8x" in words and "no extra GPUs" in words
    pcp = plan(LLAMA, gpus=2, max_model_len=16384, version="0.33",
               prefill_context_parallel_size=2, explain=True)  # fmt: skip
    words = pcp.config.explanations["--prefill-context-parallel-size"]
    assert "= 2 GPUs per engine" in words and "not split" in words
