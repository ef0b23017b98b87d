"""VW128: the V1 model runner's drafter needs its layers in one KV cache group
(SpecDecodeBaseProposer.validate_same_kv_cache_group). A public start-up log of vLLM 0.24.0
shows gemma-3-1b-it refused with a gemma-3-270m-it draft on an RTX 3090: the draft's
sliding-window and full-attention layers are two groups. The catalog holds no verbatim
gemma-3-270m config, so the drafts here are catalog Gemma-3 text configs of the same layer
kinds (sliding-window 5:1 full)."""

from __future__ import annotations

from typing import Any

import pytest

from checker.planning.engine.releases import message
from checker.planning.kvcache.kv import target_page
from checker.planning.kvcache.kv_groups import draft_kv_groups
from checker.planning.memory.draft import draft_layer_specs
from checker.schemas.model_info import LayerKind
from tests.planning.plans import catalog_model, fired, make_request, only, plan
from tests.planning.test_speculative import _memory

GEMMA_1B = "google/gemma-3-1b-it"
GEMMA_4B = "google/gemma-3-4b-it"
GEMMA_12B = "google/gemma-3-12b-it"
LLAMA = "meta-llama/Llama-3.1-8B"
LLAMA_1B = "meta-llama/Llama-3.2-1B"
OLD: dict[str, Any] = {"max_model_len": 4096, "version": "0.24.0"}


def _draft(model: str, **extra: Any) -> dict[str, Any]:
    return {"speculative_config": {"model": model, "num_speculative_tokens": 3, **extra}}


def test_the_logged_refusal_a_gemma_3_draft_on_0_24() -> None:
    draft = catalog_model(GEMMA_1B)
    assert {LayerKind.SLIDING, LayerKind.FULL} <= set(draft.layer_kinds)
    resp = plan(GEMMA_1B, "RTX-3090", draft=draft, **_draft(GEMMA_1B), **OLD)
    found = only(resp, "VW128")
    assert found.message == message("spec-one-kv-group", "0.24.0")
    assert found.key == "outputs.vllm_args.speculative-config"
    assert "disable_hybrid_kv_cache_manager" in (found.fix or "")
    assert "vLLM 0.31.0 or later" in (found.fix or "")  # V2 runs draft models from 0.31
    assert not resp.feasibility.fits
    # the fix --fix writes (and explain confirms): the hybrid manager off, one group again
    assert found.fix_values == {"vllm.disable_hybrid_kv_cache_manager": True}
    fixed = plan(
        GEMMA_1B,
        "RTX-3090",
        draft=draft,
        disable_hybrid_kv_cache_manager=True,
        **_draft(GEMMA_1B),
        **OLD,
    )
    assert not fired(fixed, "VW128")


@pytest.mark.parametrize("target", [GEMMA_4B, GEMMA_12B])
def test_a_gemma_3_draft_of_a_larger_gemma_3_is_split_too(target: str) -> None:
    """Gemma-3-1B's 22 sliding layers (window 512, 1 KV head) and 4 full ones are specs of
    their own beside the target's (4B: 29 sliding of 1024 and 5 full, 4 KV heads; 12B: 40 and
    8): groups of 4 layers, the draft's sliding spec in 6 of them, its full one in 1."""
    memory = _memory(target, draft=catalog_model(GEMMA_1B), **_draft(GEMMA_1B), **OLD)
    assert draft_kv_groups(catalog_model(target), memory.settings) == 7
    assert fired(plan(target, draft=catalog_model(GEMMA_1B), **_draft(GEMMA_1B), **OLD), "VW128")


def test_one_group_without_the_hybrid_kv_cache_manager() -> None:
    """unify_hybrid_kv_cache_specs makes every layer full attention: one group."""
    resp = plan(
        GEMMA_1B,
        draft=catalog_model(GEMMA_1B),
        disable_hybrid_kv_cache_manager=True,
        **_draft(GEMMA_1B),
        **OLD,
    )
    assert not fired(resp, "VW128")


def test_model_runner_v2_takes_the_draft_unless_a_key_keeps_v1() -> None:
    """0.33.0 runs Model Runner V2 by default, whose speculators take several groups; a
    heterogeneous vocabulary keeps the V1 runner (_get_v2_model_runner_unsupported_features)."""
    new = {"max_model_len": 4096, "version": "0.33.0"}
    draft = catalog_model(GEMMA_1B)
    assert not fired(plan(GEMMA_4B, draft=draft, **_draft(GEMMA_1B), **new), "VW128")
    mapped = _draft(GEMMA_1B, use_heterogeneous_vocab=True)
    found = only(plan(GEMMA_4B, draft=draft, **mapped, **new), "VW128")
    assert "use_heterogeneous_vocab" in (found.fix or "")
    # 0.34.0 removed the V1 model runner: no key keeps a server on it
    newest = {"max_model_len": 4096, "version": "0.34.0"}
    assert not fired(plan(GEMMA_4B, draft=draft, **mapped, **newest), "VW128")


def test_a_full_attention_draft_of_a_full_attention_target_is_one_group() -> None:
    """Llama-3.2-1B's layers (64-wide heads) are another spec than Llama-3.1-8B's, of the same
    type: UniformTypeKVCacheSpecs puts them in one group."""
    draft = catalog_model(LLAMA_1B)
    memory = _memory(LLAMA, draft=draft, **_draft(LLAMA_1B), **OLD)
    assert draft_kv_groups(catalog_model(LLAMA), memory.settings) == 1
    assert not fired(plan(LLAMA, draft=draft, **_draft(LLAMA_1B), **OLD), "VW128")


def test_a_full_attention_draft_spreads_over_the_groups_of_its_spec() -> None:
    """Beside Gemma-3-12B (8 full, 40 sliding layers: groups of 8) the 16 full layers of
    Llama-3.2-1B are a spec of two groups, layer j in group j % 2
    (_get_kv_cache_groups_uniform_page_size); an EAGLE-sized draft of one layer is not."""
    memory = _memory(GEMMA_12B, draft=catalog_model(LLAMA_1B), **_draft(LLAMA_1B), **OLD)
    assert draft_kv_groups(catalog_model(GEMMA_12B), memory.settings) == 2
    one_layer = catalog_model(LLAMA_1B, num_hidden_layers=1)
    memory = _memory(GEMMA_12B, draft=one_layer, **_draft(LLAMA_1B), **OLD)
    assert draft_kv_groups(catalog_model(GEMMA_12B), memory.settings) == 1


def test_no_drafter_no_groups() -> None:
    request = make_request(GEMMA_1B, **OLD)
    memory = _memory(GEMMA_1B, **OLD)
    assert request.engine.speculative_config is None
    assert draft_kv_groups(catalog_model(GEMMA_1B), memory.settings) == 0


def test_a_gemma_3_draft_keeps_its_own_sliding_window_on_model_runner_v2() -> None:
    """0.33.0's Model Runner V2 takes Gemma-3-27B with a Gemma-3-1B draft. Each drafter layer
    keeps the spec its attention gives (v1/worker/gpu/attn_utils.py get_kv_cache_spec): the
    draft's sliding layers are SlidingWindowSpecs of its own window (512, not the target's
    1024), specs of their own beside the target's, their block raised until their page equals
    the target's (unify_kv_cache_spec_page_size). A request then holds a window's blocks in
    those groups, not the whole context."""
    target, draft = catalog_model("google/gemma-3-27b-it"), catalog_model(GEMMA_1B)
    assert draft.sliding_window and draft.sliding_window != target.sliding_window
    new: dict[str, Any] = {"max_model_len": 32768, "version": "0.33.0"}
    assert not fired(plan(target.model_id, draft=draft, **_draft(GEMMA_1B), **new), "VW128")
    memory = _memory(target.model_id, draft=draft, **_draft(GEMMA_1B), **new)
    s, kv = memory.settings, memory.binding.kv
    layout = kv.layout
    specs = list(zip(layout.kinds, layout.block_multiples, layout.windows, strict=True))
    own = [spec for spec in specs if spec[2] == draft.sliding_window]
    # the draft's sliding layers, in groups of the layout's size, of its own kind and window
    sliding = draft.layer_kinds.count(LayerKind.SLIDING)
    assert len(own) == -(-sliding // layout.group_size)
    ratio = target_page(target, s, target.kv_layers[0]) // draft_layer_specs(s, 0)[0][1]
    assert ratio > 1 and {spec[:2] for spec in own} == {(LayerKind.SLIDING, ratio)}
    # a request's blocks: the whole context in full groups, a window in sliding ones
    bs = s.block_size

    def blocks(kind: LayerKind, multiple: int, window: int) -> int:
        if kind is LayerKind.FULL:
            return -(-s.max_model_len // (bs * multiple))
        in_flight = s.in_flight_batches * s.max_num_batched_tokens
        span = min((window or target.sliding_window or 0) - 1 + in_flight, 32768)
        return -(-span // (bs * multiple)) + 1

    needed = sum(blocks(*spec) for spec in specs)
    assert kv.max_concurrency == pytest.approx(kv.num_blocks / needed)
    # without the hybrid KV cache manager every drafter layer is full attention again
    off = _memory(
        target.model_id,
        draft=draft,
        disable_hybrid_kv_cache_manager=True,
        **_draft(GEMMA_1B),
        **new,
    ).binding.kv.layout
    assert set(off.kinds) == {LayerKind.FULL} and not off.windows
