"""VW202 / VW203 on vLLM 0.34: the KV cache checks in each release's words, and fixes that
start the server where the extensible KV cache sizes the cache.

0.34.0 v1/core/kv_cache_planning.py: _check_enough_kv_cache_memory takes its advice from
_more_kv_cache_memory_hint; an extensible KV cache is checked on the profiled capacity
(get_kv_cache_configs), then on the cache measured after warm-up and CUDA-graph capture
(shrink_kv_cache_configs, after_warmup=True).
"""

from __future__ import annotations

from typing import Any

import pytest

from checker.planning.rules.base import gib
from tests.planning.plans import fired, only, plan
from tests.planning.test_v034_memory import LLAMA, memory_for

# Llama-3.1-8B at 0.3 of an H100: a profiled capacity of about 6.7 GiB, about 5.9 GiB after
# warm-up and the CUDA graphs; one token of KV is 128 KiB
LOW = {"version": "0.34", "util": 0.3}


@pytest.mark.parametrize(
    ("length", "after_warmup"),
    [(131072, False), (50000, True)],  # 16 GiB: above the capacity; 6.1 GiB: between them
)
def test_vw203_names_the_check_that_fails_and_the_length_the_cache_holds(
    length: int, after_warmup: bool
) -> None:
    found = only(plan(LLAMA, **LOW, max_model_len=length), "VW203")
    b = memory_for(LLAMA, **LOW, max_model_len=length).binding
    assert b.capacity_check is not None
    available = b.check_budget if after_warmup else b.capacity_check
    assert f"the available KV cache memory ({gib(available)} GiB)" in found.message
    used_by = "CUDA graphs and warmup" if after_warmup else "the model and its activations"
    assert f"{used_by} within `gpu_memory_utilization`=0.3; increase it" in found.message
    assert found.message.count("Decreasing `max_model_len` also reduces what is needed.") == 1
    # the fix is the measured cache's length, whichever check failed first
    fit = found.fix_values["model.max_model_len"]
    assert not fired(plan(LLAMA, **LOW, max_model_len=fit), "VW203")
    assert fired(plan(LLAMA, **LOW, max_model_len=fit + 64), "VW203")  # one block more
    # and the utilization it names starts the full length
    util = float(found.fix.split("raise gpu_memory_utilization to ")[1].split(",")[0])
    assert not fired(plan(LLAMA, version="0.34", util=util, max_model_len=length), "VW203")
    assert "max_prefill_cudagraph_capture_tokens" in found.fix


def test_vw202_below_one_gives_the_utilization_that_starts() -> None:
    found = only(plan(LLAMA, version="0.34", util=0.2, max_model_len=8192), "VW202")
    hint = "`gpu_memory_utilization`=0.2; increase it (with the extensible KV cache it defaults"
    assert hint in found.message
    util = found.fix_values["policy.gpu_memory_utilization"]
    fixed = plan(LLAMA, version="0.34", util=util, max_model_len=8192)
    assert not fired(fixed, "VW202") and not fired(fixed, "VW203")


@pytest.mark.parametrize("util", [None, 0.9])
def test_vw202_where_no_utilization_makes_room(util: float | None) -> None:
    # Llama-3.1-8B on an L4 profiling 131072 tokens a step: the activation peak takes what the
    # weights leave, even at 1.0
    kw: dict[str, Any] = {"version": "0.34", "max_model_len": 8192}
    found = only(plan(LLAMA, "L4", util=util, max_num_batched_tokens=131072, **kw), "VW202")
    assert found.fix_values == {}
    assert found.fix is not None and "max_prefill_cudagraph_capture_tokens" in found.fix
    if util is None:  # 1.0, the extensible KV cache's default
        assert "The extensible KV cache already takes all device memory left" in found.message
    else:
        assert "within `gpu_memory_utilization`=0.9; increase it" in found.message


@pytest.mark.parametrize(
    ("version", "fields", "words"),
    [
        ("0.19", {}, "models's max seq len (131072)"),
        ("0.19", {}, "Try increasing `gpu_memory_utilization` or decreasing `max_model_len`"),
        ("0.33", {}, "model's max seq len (131072)"),
        ("0.33", {}, "`gpu_memory_utilization` (which also controls CPU memory on the CPU "),
        (
            "0.34",
            {"enable_extensible_kv_cache": False},
            "(this flag also controls CPU memory reservation on the CPU backend, despite its "
            "name). Decreasing `max_model_len` also reduces what is needed.",
        ),
    ],
)
def test_vw203_speaks_each_releases_words(version: str, fields: dict[str, Any], words: str) -> None:
    found = only(plan(LLAMA, version=version, util=0.3, max_model_len=131072, **fields), "VW203")
    assert words in found.message
    assert found.fix == (
        f"Set max_model_len to {found.fix_values['model.max_model_len']} or less, or free "
        "memory for the KV cache."
    )
