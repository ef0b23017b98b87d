"""-O levels and the defaulted batch, from the command of vllm#33155 (gpt-oss-120b on one H100,
vLLM 0.14.1: -O3 --max-num-seqs 1 --max-model-len 5120 --gpu-memory-utilization 0.97, out of
memory at start-up), against the 0.11.0, 0.11.2 and 0.14.1 wheels."""

from __future__ import annotations

from typing import Any

import pytest

from tests.planning.plans import plan

GPT_OSS = "openai/gpt-oss-120b"
ISSUE = {"max_model_len": 5120, "max_num_seqs": 1, "util": 0.97, "enable_prefix_caching": True}


CLAMPED = [("0.11.0", 8192), ("0.11.2", 5120), ("0.14", 5120)]


@pytest.mark.parametrize(("version", "tokens"), CLAMPED)
def test_a_defaulted_batch_holds_no_more_than_the_sequences_can(version: str, tokens: int) -> None:
    """EngineArgs._set_default_max_num_seqs_and_batched_tokens_args (0.11.1+): a defaulted
    max_num_batched_tokens is at most max_num_seqs x max_model_len; the log of vllm#33155
    compiles the range (1, 5120) where the H100 default is 8192."""
    resp = plan(GPT_OSS, version=version, **ISSUE)
    assert resp.config.max_num_batched_tokens == tokens


def test_a_given_batch_is_kept() -> None:
    resp = plan(GPT_OSS, version="0.14", max_num_batched_tokens=8192, **ISSUE)
    assert resp.config.max_num_batched_tokens == 8192


@pytest.mark.parametrize("level", [2, 3])
def test_o3_costs_what_the_default_does_in_0_14(level: int) -> None:
    """config/vllm.py OPTIMIZATION_LEVEL_03 is OPTIMIZATION_LEVEL_02 in 0.14.1 ("O3: Currently
    the same as -O2"), the default: the memory is the default's. The plan fails the issue's
    0.97 utilization on its headroom (CUDA graphs and the sampler warm-up), as vLLM ran out
    of memory."""
    base = plan(GPT_OSS, version="0.14", **ISSUE)
    given = plan(GPT_OSS, version="0.14", optimization_level=level, **ISSUE)
    assert given.feasibility.memory == base.feasibility.memory
    assert given.feasibility.kv == base.feasibility.kv
    assert given.feasibility.verdict == "FAIL" and given.feasibility.oom_risk.value == "high"


def test_o0_captures_no_graphs() -> None:
    kw: dict[str, Any] = {"version": "0.14", **ISSUE}
    assert plan(GPT_OSS, optimization_level=0, **kw).feasibility.memory.cudagraph_gib == 0
    assert plan(GPT_OSS, **kw).feasibility.memory.cudagraph_gib > 0
