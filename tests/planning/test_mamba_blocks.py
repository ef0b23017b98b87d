"""VW214: vLLM (0.20.0 on) refuses a Mamba / linear-attention model whose max_num_seqs exceeds
its KV cache blocks when it captures FULL CUDA graphs (config/compilation.py
CompilationConfig.resolve_cudagraph_mode_and_sizes)."""

from __future__ import annotations

from typing import Any

import pytest

from checker.planning.engine.releases import message
from tests.planning.plans import fired, only, plan

GDN = "Qwen/Qwen3.5-27B"  # gated delta net layers beside full attention
GPU = "RTX-PRO-6000-Blackwell"
BASE: dict[str, Any] = {"version": "0.29.0", "max_model_len": 8192, "util": 0.9}


def test_the_default_1024_sequences_exceed_the_blocks() -> None:
    resp = plan(GDN, GPU, **BASE)
    found = only(resp, "VW214")
    blocks = resp.feasibility.kv.num_blocks if resp.feasibility.kv else 0
    assert 0 < blocks < 1024
    assert found.message == message("mamba-seqs-exceed-blocks", "0.29.0", seqs=1024, blocks=blocks)
    assert found.key == "vllm.max_num_seqs"
    assert found.fix_values == {"vllm.max_num_seqs": blocks}
    assert not resp.feasibility.fits


@pytest.mark.parametrize(
    "extra",
    [
        {"max_num_seqs": 256},  # within the blocks (the logged fix)
        {"enforce_eager": True},  # no CUDA graphs
        {"cudagraph_mode": "PIECEWISE"},  # no FULL graphs
        {"version": "0.19.0"},  # before the check
    ],
)
def test_it_does_not_fire_where_vllm_starts(extra: dict[str, Any]) -> None:
    assert not fired(plan(GDN, GPU, **{**BASE, **extra}), "VW214")


def test_a_model_without_state_never_fires() -> None:
    assert not fired(plan("Qwen/Qwen3-32B", GPU, **BASE, max_num_seqs=1024), "VW214")
