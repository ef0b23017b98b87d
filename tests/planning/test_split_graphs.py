"""vLLM 0.34's CUDA-graph sizes in prefill tokens and decode requests (config/vllm.py
VllmConfig._split_cudagraph_capture_sizes): the compilation-config keys that set them, the
drafter's one-token decode graphs, and a model's own ceiling given as split sizes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from checker.planning.engine.split_graphs import decode_grid, prefill_grid
from tests.planning.plans import catalog_model, plan
from tests.planning.test_speculative import DRAFT, LLAMA, _memory, _spec
from tests.planning.test_v034_memory import settings
from tests.schemas.test_engine_args import BASE, _plan, _with_args

SHORT = {"max_model_len": 8192}


def _sizes(gpu: str = "H100-80GB", version: str = "0.34", **kw: Any) -> tuple[int, ...]:
    return settings(LLAMA, gpu, version=version, **SHORT, **kw).cudagraph_sizes


def test_the_grids_hold_the_counts_vllm_documents() -> None:
    # config/compilation.py: "54 sizes at 8192", "64 sizes at 1024"
    assert len(prefill_grid(8192, False)) == 54 and len(decode_grid(1024)) == 64
    assert prefill_grid(64, True) == list(range(1, 33)) + [40, 48, 56, 64]


def test_prefill_tokens_and_decode_requests_have_their_own_caps() -> None:
    # an H100 (not SM100): the prefill grid to 256 tokens (a stride of the largest power of two
    # not above a quarter of the size) and the decode grid to 16 requests replace the shared
    # sizes up to min(2 x 1024, 512)
    sizes = _sizes(
        max_prefill_cudagraph_capture_tokens=256, max_decode_cudagraph_capture_requests=16
    )
    assert sizes == (
        1,
        2,
        3,
        4,
        5,
        6,
        8,
        10,
        12,
        14,
        16,
        *range(24, 65, 8),
        80,
        96,
        112,
        128,
        160,
        192,
        224,
        256,
    )
    assert _sizes()[-1] == 512
    # FULL_DECODE_ONLY captures no prefill graph
    decode_only = _sizes(
        cudagraph_mode="FULL_DECODE_ONLY", max_decode_cudagraph_capture_requests=16
    )
    assert decode_only == (1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16)


def test_given_sizes_are_kept_within_the_batch() -> None:
    # a prefill size above max_num_batched_tokens is dropped (vLLM warns); [] captures none
    sizes = _sizes(
        prefill_cudagraph_capture_token_sizes=(1, 64, 100000),
        decode_cudagraph_capture_request_sizes=(),
    )
    assert sizes == (1, 64)


def test_the_deprecated_sizes_beside_split_ones_keep_the_shared_sizes() -> None:
    sizes = _sizes(cudagraph_capture_sizes=(1, 2, 4), max_prefill_cudagraph_capture_tokens=256)
    assert sizes == (1, 2, 4)


def test_releases_before_0_34_have_no_split_sizes() -> None:
    assert _sizes(version="0.33", max_prefill_cudagraph_capture_tokens=256) == _sizes(
        "H100-80GB", "0.33"
    )


@pytest.mark.parametrize("gpu", ["H100-80GB", "B200"])
def test_one_token_draft_decodes_take_the_request_grid_from_0_34(gpu: str) -> None:
    # a draft model drafting three tokens: its later draft steps decode one token a request
    # in FULL graphs of decode_cudagraph_capture_grid(max_num_seqs = 1024), apart from the
    # target's sizes (which they leave as they are)
    draft = catalog_model(DRAFT)

    def memory(version: str, tokens: int) -> Any:
        config = _spec(model=DRAFT, num_speculative_tokens=tokens)
        return _memory(LLAMA, gpu, draft=draft, version=version, **SHORT, **config).settings

    new = memory("0.34.0", 3)
    assert new.draft_decode_graph_sizes == tuple(decode_grid(1024))
    assert 3 in new.draft_decode_graph_sizes and 3 not in new.cudagraph_sizes
    assert memory("0.34.0", 1).draft_decode_graph_sizes == ()  # one draft token: no later step
    config = _spec(model=DRAFT, num_speculative_tokens=3)
    words = plan(LLAMA, gpu, draft=draft, explain=True, version="0.34.0", **SHORT, **config)
    said = " ".join(words.config.explanations.values())
    assert "64 one-token draft decode graphs up to 1024 requests" in said
    assert memory("0.33.0", 3).draft_decode_graph_sizes == ()  # 0.33: the shared sizes


def test_decode_requests_round_the_shared_sizes_up_to_whole_requests() -> None:
    # two draft tokens (query length 3) on an H100: the shared sizes 8 and 496 are 3 and 166
    # decode requests, captured as 9 and 498 tokens beside the prefill sizes (0.33: not)
    draft = catalog_model(DRAFT)
    config = _spec(model=DRAFT, num_speculative_tokens=2)

    def sizes(version: str) -> tuple[int, ...]:
        memory = _memory(LLAMA, draft=draft, version=version, **SHORT, **config)
        return memory.settings.cudagraph_sizes

    assert {9, 498} <= set(sizes("0.34.0")) and not {9, 498} & set(sizes("0.33.0"))
    assert {8, 496} <= set(sizes("0.34.0"))


def test_a_models_ceiling_is_given_as_split_sizes_off_sm100() -> None:
    # gpt-oss (models/config.py GptOssForCausalLMConfig.verify_and_update_config): 0.33 raises
    # max_cudagraph_capture_size to 1024; 0.34 gives the same stride grid as prefill sizes and
    # 1024 decode requests (the request grid: 3, 5, 6 ... are new), and nothing on SM100
    old = settings("openai/gpt-oss-20b", version="0.33", **SHORT).cudagraph_sizes
    new = settings("openai/gpt-oss-20b", version="0.34", **SHORT).cudagraph_sizes
    assert old[-1] == new[-1] == 1024
    assert set(new) == set(old) | set(decode_grid(1024))
    wide = settings("openai/gpt-oss-20b", "B200", version="0.34", **SHORT).cudagraph_sizes
    assert wide[-1] == 8192  # the SM100 prefill grid


def test_the_split_keys_reach_the_plan_and_other_keys_warn() -> None:
    base = copy.deepcopy({**BASE, "vllm": {"version": "0.34.0"}})
    plain = _plan(base)
    keys = {"max_prefill_cudagraph_capture_tokens": 64, "max_decode_cudagraph_capture_requests": 8}
    fewer = _plan(_with_args({"compilation-config": keys}, base))
    assert not [f for f in fewer.feasibility.findings if f.rule_id == "VW190"]
    assert fewer.feasibility.memory.cudagraph_gib < plain.feasibility.memory.cudagraph_gib
    other = _with_args({"compilation-config": {**keys, "use_breakable_cudagraph": True}}, base)
    (found,) = [f for f in _plan(other).feasibility.findings if f.rule_id == "VW190"]
    assert "keys use_breakable_cudagraph are not read" in found.message


def test_the_split_keys_on_an_older_pin_are_named() -> None:
    # 0.33's CompilationConfig has no such field (and forbids unknown keys): not read there
    keys = {"cudagraph_mode": "FULL", "max_prefill_cudagraph_capture_tokens": 64}
    (found,) = [
        f
        for f in _plan(_with_args({"compilation-config": keys})).feasibility.findings
        if f.rule_id == "VW190"
    ]
    assert "keys max_prefill_cudagraph_capture_tokens are not read" in found.message


def test_the_shared_split_answers_each_set_of_keys_afresh() -> None:
    # split_graph_sizes is cached on the keys it reads: engines differing in one of them, asked
    # in turn, each get the sizes an uncached split gives them
    from checker.planning.engine.split_graphs import (
        SplitKeys,
        SplitShape,
        _split_sizes,
        split_graph_sizes,
    )
    from checker.schemas.inputs import EngineInput

    caps = {"sm100_prefill_max_tokens": 8192, "sm100_decode_max_tokens": 8192}
    shared = (1, 2, 4, *range(8, 257, 8))
    engines = [
        EngineInput(),
        EngineInput(max_decode_cudagraph_capture_tokens=64),
        EngineInput(max_prefill_cudagraph_capture_tokens=128),
        EngineInput(decode_cudagraph_capture_request_sizes=(1, 3, 5)),
    ]
    seen = set()
    for sm100 in (False, True):
        shape = SplitShape(256, 8192, 2, sm100, False, False, True)
        for eng in engines * 2:
            got = split_graph_sizes(shared, eng, shape, caps)
            keys = SplitKeys(*(getattr(eng, name) for name in SplitKeys._fields))
            assert got == _split_sizes.__wrapped__(shared, keys, shape, 8192, 8192)
            seen.add(got)
    assert len(seen) > len(engines)  # the keys and the shape change the answer
