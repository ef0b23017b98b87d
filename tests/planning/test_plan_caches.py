"""The planner's shortcuts (per-model cached layer facts, per-plan memo, the closed-form
length search) give what the plain computations give, for every catalog model."""

from __future__ import annotations

import dataclasses

import pytest

from checker.models import catalog
from checker.models.config_parser import parse_config
from checker.planning.engine.settings import at_tp, resolve_settings
from checker.planning.kvcache.kv import (
    _blocks_per_request,
    _group_specs,
    bytes_for_length,
    kv_layout,
    max_length_for_budget,
    target_page,
)
from checker.planning.memory.memory import (
    at_utilization,
    fits_one_request,
    plan_memory,
    weights_take_all,
)
from checker.planning.memory.weights import stage_layers
from checker.planning.planner import run_plan
from checker.planning.rules.base import RuleContext, per_plan
from checker.planning.rules.config import valid_tp
from checker.schemas.model_info import LayerKind, ModelInfo
from checker.schemas.records import record_json
from tests.planning.conftest import H100, T4, request

MODELS = [e.id for e in catalog.entries()]


def catalog_model(model_id: str) -> ModelInfo:
    found = catalog.lookup(model_id)
    assert found is not None
    config, _ = found
    return parse_config(config, model_id=model_id, source="catalog")


@pytest.mark.parametrize("model_id", MODELS)
def test_cached_layer_facts_match_the_per_layer_ones(model_id: str) -> None:
    m = catalog_model(model_id)
    assert m.kv_layers == tuple(i for i in range(len(m.layer_kinds)) if m.keeps_kv(i))
    per_layer = m.layer_params or (1,) * m.num_hidden_layers
    sums = m.layer_param_sums
    assert [sums[i + 1] - sums[i] for i in range(len(per_layer))] == list(per_layer)
    assert len(sums) == len(per_layer) + 1 and sums[0] == 0
    assert m.params.total == sum(m.params.model_dump().values())
    moe, attending = m.moe_layer_sums, m.attending_layer_sums
    quiet = (LayerKind.NONE, LayerKind.LINEAR)
    for start in range(len(m.layer_kinds)):
        for stop in range(start, len(m.layer_kinds) + 1):
            flags = m.moe_layers[start:stop]
            assert moe[stop] - moe[start] == (sum(flags) if m.moe_layers else 0)
            attends = any(k not in quiet for k in m.layer_kinds[start:stop])
            assert (attending[stop] > attending[start]) == attends


@pytest.mark.parametrize("model_id", MODELS)
def test_a_plan_at_another_utilization_is_the_plan_of_that_utilization(model_id: str) -> None:
    """safe_utilization's shortcut: at_utilization keeps the terms before the KV cache."""
    m = catalog_model(model_id)
    for gpu, pp, kw in ((H100, 1, {}), (T4, 1, {"kv_cache_dtype": "fp8"}), (H100, 2, {})):
        req = request(model_id, pp=pp, **kw)  # type: ignore[arg-type]
        s = resolve_settings(req, m, gpu, tp=1)
        memory = plan_memory(m, s)
        for util in (0.5, 0.73, 0.9):
            again = plan_memory(m, dataclasses.replace(s, gpu_memory_utilization=util))
            assert at_utilization(memory, util) == again


@pytest.mark.parametrize("model_id", MODELS)
def test_length_search_finds_the_longest_request_that_fits(model_id: str) -> None:
    m = catalog_model(model_id)
    for gpu, kw in ((H100, {}), (T4, {"kv_cache_dtype": "fp8"}), (H100, {"max_len": 131072})):
        req = request(model_id, **kw)  # type: ignore[arg-type]
        s = resolve_settings(req, m, gpu, tp=1)
        layout = plan_memory(m, s).binding.kv.layout
        one = bytes_for_length(m, s, layout, 1)
        for budget in (-1.0, 0.0, one - 1, one, one * 7.5, 3e9, 7e10, 1e13):
            length = max_length_for_budget(m, s, layout, budget)
            assert 0 <= length <= s.max_model_len
            if length:  # the longest: it fits, and one token more does not (or is too long)
                assert bytes_for_length(m, s, layout, length) <= budget
            else:
                assert bytes_for_length(m, s, layout, 1) > budget
            if length < s.max_model_len:
                assert bytes_for_length(m, s, layout, length + 1) > budget


@pytest.mark.parametrize("model_id", MODELS)
def test_blocks_counted_per_group_spec_are_the_per_group_sum(model_id: str) -> None:
    """bytes_for_length counts each distinct group spec once, times its groups."""
    m = catalog_model(model_id)
    for gpu, kw in ((H100, {}), (T4, {"kv_cache_dtype": "fp8"}), (H100, {"pp": 2})):
        req = request(model_id, **kw)  # type: ignore[arg-type]
        s = resolve_settings(req, m, gpu, tp=1)
        for stage in plan_memory(m, s).stages:
            layout = stage.kv.layout
            if not layout.page_bytes or layout.packed is not None:
                continue
            for length in (1, 17, 4097, s.max_model_len):
                groups = [
                    _blocks_per_request(kind, m, s, length, multiple, window)
                    for kind, multiple, window in _group_specs(layout)
                    if kind is not LayerKind.LINEAR
                ]
                states = layout.state_layers * _blocks_per_request(LayerKind.LINEAR, m, s, length)
                plain = sum(groups) * layout.group_block_bytes + states * layout.page_bytes
                assert bytes_for_length(m, s, layout, length) == float(plain)


@pytest.mark.parametrize("model_id", MODELS)
def test_a_layout_of_alike_layers_is_the_sum_of_its_layers_pages(model_id: str) -> None:
    """kv_layout's shortcut for one kind of layer with one page: the per-layer pages."""
    m = catalog_model(model_id)
    for gpu, kw in ((H100, {}), (T4, {"kv_cache_dtype": "fp8"}), (H100, {"pp": 2})):
        req = request(model_id, **kw)  # type: ignore[arg-type]
        s = resolve_settings(req, m, gpu, tp=2 if m.num_key_value_heads % 2 == 0 else 1)
        for stage, layers in enumerate(stage_layers(m.num_hidden_layers, s.pp)):
            layout = kv_layout(m, s, stage)
            if len(layout.kinds) != 1 or layout.state_layers or layout.packed is not None:
                continue
            pages = [target_page(m, s, i) for i in m.kv_layers if i in layers]
            if m.indexer_token_bytes:  # each MLA layer's indexer keys: one more page each
                pages += [s.block_size * m.indexer_token_bytes] * len(pages)
            assert layout.bytes_per_token == sum(pages) // s.block_size
            if len(set(pages)) == 1:
                assert (layout.page_bytes, layout.group_size) == (pages[0], len(pages))
            else:  # pages that differ share one block of their sum
                assert layout.group_block_bytes == sum(pages)


def _llama_context() -> RuleContext:
    m = catalog_model("meta-llama/Llama-3.1-8B")
    req = request("meta-llama/Llama-3.1-8B")
    s = resolve_settings(req, m, H100, tp=1)
    return RuleContext(req, m, H100, s, plan_memory(m, s))


def test_per_plan_values_are_computed_once_and_not_carried_to_another_context() -> None:
    ctx = _llama_context()
    calls: list[int] = []

    @per_plan
    def budget(c: RuleContext) -> float:
        calls.append(1)
        return c.memory.binding.kv_budget

    assert budget(ctx) == budget(ctx) and len(calls) == 1
    lower = dataclasses.replace(ctx.settings, gpu_memory_utilization=0.5)
    other = dataclasses.replace(ctx, settings=lower, memory=plan_memory(ctx.model, lower))
    assert budget(other) < budget(ctx) and len(calls) == 2


def test_per_plan_values_at_an_end_are_kept_per_end() -> None:
    from checker.planning.performance.perf import Ends, rates
    from checker.planning.rules.base import per_plan_at

    ctx = _llama_context()
    calls: list[object] = []

    @per_plan_at
    def scaled(c: RuleContext, end: int) -> float:
        calls.append(end)
        return c.memory.binding.kv_budget * (end + 1)

    assert scaled(ctx, 0) * 2 == scaled(ctx, 1) == scaled(ctx, 1) and calls == [0, 1]
    assert dataclasses.replace(ctx).memo == {}  # another context starts afresh
    # the perf rates kept per end are those of each end (an Ends mixes them per source)
    slow, fast = rates(ctx, 0), rates(ctx, 1)
    assert slow.linear_token_s > fast.linear_token_s and rates(ctx, Ends(1, 1, 1, 1, 1)) == fast
    assert rates(ctx, Ends(0, 0, 0, 0, 0)) == slow


def test_planning_twice_gives_the_same_plan() -> None:
    # the caches fill on the first plan: the second must read them to the same result
    m = catalog_model("Qwen/Qwen3-30B-A3B")
    req = request("Qwen/Qwen3-30B-A3B", max_len=32768)
    first = record_json(run_plan(req, m, T4))
    assert record_json(run_plan(req, m, T4)) == first


@pytest.mark.parametrize("model_id", MODELS)
def test_settings_at_another_tp_are_the_settings_resolved_there(model_id: str) -> None:
    m = catalog_model(model_id)
    variants: list[dict[str, object]] = [
        {},
        {"quantization": "fp8", "max_len": None},
        {"enable_expert_parallel": True, "version": "0.33"},  # EP from tp 2 on
    ]
    for kw in variants:
        req = request(model_id, **kw)  # type: ignore[arg-type]
        first = resolve_settings(req, m, H100, tp=1)
        for tp in valid_tp(m, 16):
            assert at_tp(first, req, m, tp) == resolve_settings(req, m, H100, tp=tp)


@pytest.mark.parametrize("model_id", MODELS)
def test_weights_that_take_all_the_memory_leave_no_request_room(model_id: str) -> None:
    """The TP searches' shortcut: a plan it skips is one that fits no request."""
    m = catalog_model(model_id)
    skipped = 0
    for gpu, pp, util in ((T4, 1, 0.3), (T4, 2, 0.9), (H100, 1, 0.2), (H100, 2, 0.95)):
        s = resolve_settings(request(model_id, pp=pp, util=util), m, gpu, tp=1)
        for tp in valid_tp(m, 8):
            at = at_tp(s, request(model_id, pp=pp, util=util), m, tp)
            if weights_take_all(m, at):
                skipped += 1
                assert not fits_one_request(plan_memory(m, at), m), (gpu.name, pp, tp)
                given = dataclasses.replace(at, kv_cache_memory_bytes=1 << 30)
                assert not weights_take_all(m, given)  # the budget no longer depends on them
    big = m.param_count * 2 > T4.memory_gib * 0.3 * (1 << 30)
    assert skipped or not big  # a model too large for a third of a T4 is skipped there


@pytest.mark.parametrize("model_id", MODELS)
def test_stage_weights_shared_over_plans_are_each_plans_own(model_id: str) -> None:
    """stage_weight_bytes keeps each model's figures per the settings it reads: asked in
    turn for settings that differ in one of them, each answer is the uncomputed one's."""
    from checker.planning.memory.weights import _stage_weight_bytes, stage_weight_bytes

    m = catalog_model(model_id)
    variants = [
        (H100, {}),
        (T4, {"dtype": "float16"}),
        (H100, {"quantization": "fp8"}),
        (H100, {"enable_expert_parallel": True, "data_parallel_size": 2}),
        (H100, {"cpu_offload_gb": 4.0}),
        (H100, {"max_num_batched_tokens": 4096, "version": "0.34"}),
        # a vision tower's share: skipped with no modality left, whole on each rank in data mode
        (H100, {"language_model_only": True, "version": "0.34"}),
        (H100, {"mm_encoder_tp_mode": "data", "version": "0.34"}),
    ]
    for _ in range(2):  # the second round reads the shared entries
        for gpu, kw in variants:
            for tp, pp in ((1, 1), (2, 1), (1, 2)):
                req = request(model_id, tp=tp, pp=pp, **kw)  # type: ignore[arg-type]
                s = resolve_settings(req, m, gpu, tp=tp)
                for stage in range(pp):
                    assert stage_weight_bytes(m, s, stage) == _stage_weight_bytes(m, s, stage)


def test_the_identity_cache_is_bounded_and_tells_equal_objects_apart() -> None:
    from checker.planning.memo import ByIdentity

    cache: ByIdentity[int] = ByIdentity(maxsize=3)
    calls: list[int] = []

    def compute(value: int) -> int:
        calls.append(value)
        return value

    first, twin = [1], [1]  # equal, not the same object
    assert cache.get(first, "k", lambda: compute(1)) == 1
    assert cache.get(first, "k", lambda: compute(2)) == 1  # kept
    assert cache.get(twin, "k", lambda: compute(3)) == 3  # its own entry
    assert cache.get(first, "other", lambda: compute(4)) == 4
    assert calls == [1, 3, 4] and len(cache) == 3
    cache.get(twin, "more", lambda: compute(5))
    assert len(cache) == 3  # the oldest entry made room
    assert cache.get(first, "k", lambda: compute(6)) == 6


@pytest.mark.parametrize("model_id", MODELS)
def test_the_tp_search_reads_weights_from_the_parallel_layout_alone(model_id: str) -> None:
    """The recommendations' TP search asks whether the weights take all the memory before it
    resolves a model's settings afresh at a TP size: the parallel layout gives the same
    weights as the whole resolution."""
    from checker.planning.engine.settings import parallel_at_tp
    from checker.planning.memory.weights import _stage_weight_bytes

    m = catalog_model(model_id)
    for gpu, kw in ((H100, {}), (T4, {"dtype": "float16"}), (H100, {"quantization": "fp8"})):
        req = request(model_id, **kw)  # type: ignore[arg-type]
        s = resolve_settings(req, m, gpu, tp=1)
        for tp in valid_tp(m, 16):
            quick, whole = parallel_at_tp(s, req, m, tp), at_tp(s, req, m, tp)
            assert weights_take_all(m, quick) == weights_take_all(m, whole)
            assert _stage_weight_bytes(m, quick, 0) == _stage_weight_bytes(m, whole, 0)


@pytest.mark.parametrize("model_id", MODELS)
def test_forward_peaks_shared_over_plans_are_each_plans_own(model_id: str) -> None:
    """forward_peak_bytes keeps each model's per-token peak per stage, TP size and dtype:
    asked in turn for settings that differ in one of them, each answer is the uncomputed
    one's."""
    from checker.planning.memory.activation import _peak_per_token, forward_peak_bytes

    m = catalog_model(model_id)
    for _ in range(2):  # the second round reads the shared entries
        for gpu, dtype in ((H100, "auto"), (T4, "float16"), (H100, "float32")):
            for tp, pp in ((1, 1), (2, 1), (1, 2), (4, 2)):
                req = request(model_id, tp=tp, pp=pp, dtype=dtype)
                s = resolve_settings(req, m, gpu, tp=tp)
                for stage in range(pp):
                    expected = 1000 * s.dtype_bytes * _peak_per_token(m, s, stage)
                    assert forward_peak_bytes(m, s, 1000, stage) == expected
