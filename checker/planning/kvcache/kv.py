"""KV cache pages, blocks, tokens and concurrency, mirroring vLLM's KV cache managers.

V1 (vllm/v1/core/kv_cache_utils.py): one page per layer per block; layers of different
attention types form groups of equal size (padding the last group of a type); blocks =
budget // page // group_size; printed tokens = blocks // groups * block_size. V0
(CacheEngine.get_cache_block_size): one block spans every layer of the rank.
"""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from checker.planning.engine.releases import has_behaviour
from checker.planning.engine.settings import (
    Settings,
    attention_page_per_token,
    evolve,
    state_pages_padded,
)
from checker.planning.kvcache.deepseek_v4 import (
    PackedKV,
    explain_costs,
    layout_error,
    mtp_layer_numbers,
    packed_kv,
)
from checker.planning.kvcache.kv_dtypes import layer_page
from checker.planning.kvcache.state import state_blocks
from checker.planning.memo import ByIdentity
from checker.planning.memory.draft import draft_pages, drafter
from checker.planning.memory.weights import own_indexer_layers, stage_layers
from checker.schemas.model_info import LayerKind, ModelInfo

GIB = float(1 << 30)


class KVLayout(NamedTuple):
    """What one rank of a pipeline stage stores per KV block."""

    page_bytes: int  # one layer, one block (all layers' when their pages differ: group_size 1)
    group_size: int  # layers sharing one block index (V1), or all layers (V0)
    kinds: tuple[LayerKind, ...]  # kind of each group (LINEAR: recurrent state groups)
    bytes_per_token: int  # summed over the rank's attention layers
    linear_state_bytes: int  # state of the rank's state layers, per request at max_model_len
    state_layers: int = 0  # layers holding a recurrent state (one MambaSpec page each)
    # one block of a whole group when its layers' pages differ (a draft model's next to the
    # target's: UniformTypeKVCacheSpecs sums them); 0: page_bytes x group_size
    block_bytes: int = 0
    # per group: its block size over settings.block_size, raised where the group's page is
    # smaller than the largest (unify_kv_cache_spec_page_size); empty: all 1
    block_multiples: tuple[int, ...] = ()
    # DeepSeek-V4's packed groups (checker.planning.kvcache.deepseek_v4): its own block and
    # per-request arithmetic; None for every other model
    packed: PackedKV | None = None
    # per group: the window a sliding-window or chunked group keeps where it is not the
    # target's (a drafter's own: Gemma-3-1B's 512 beside Gemma-3-27B's 1024); empty: all 0
    windows: tuple[int, ...] = ()

    @property
    def group_block_bytes(self) -> int:
        """Bytes one block index takes across the layers of one group."""
        return self.block_bytes or self.page_bytes * self.group_size


@functools.lru_cache(maxsize=1024)
def attention_specs(layout: KVLayout) -> tuple[tuple[tuple[LayerKind, int, int], int], ...]:
    """Each distinct (kind, block-size multiple, own window) of the attention groups, and how
    many groups have it: a request needs the same blocks in each (bytes_for_length is asked for
    thousands of times, Gemma-3's six groups are two specs)."""
    specs = Counter(spec for spec in _group_specs(layout) if spec[0] is not LayerKind.LINEAR)
    return tuple(specs.items())


class KVResult(NamedTuple):
    num_blocks: int
    tokens: int
    max_concurrency: float
    layout: KVLayout


def target_page(model: ModelInfo, settings: Settings, layer: int) -> int:
    s = settings
    kv_dtype = s.kv_storage_dtype or s.kv_cache_dtype
    if layer in s.kv_skip_layers:
        kv_dtype = "auto"  # --kv-cache-dtype-skip-layers: the model dtype (kv_dtypes.py)
    return layer_page(
        model, layer, kv_dtype=kv_dtype, dtype=s.dtype, tp=s.tp, block_size=s.block_size
    )


def _state_page(model: ModelInfo, settings: Settings) -> int:
    """A state layer's page after vLLM pads it to the attention page (mamba_page_size_padded):
    where no layer attends, 0.19.0 still pads it to the page of the config's attention heads
    (HybridAttentionMambaModelConfig) and 0.33.0 leaves it unpadded (state_pages_padded)."""
    s, attends = settings, model.kv_layers
    if attends:
        padded = target_page(model, s, attends[0])
    elif state_pages_padded(model, s.facts.version):
        padded = s.block_size * attention_page_per_token(model, s.tp, s.kv_cache_dtype, s.dtype)
    else:
        padded = 0
    return max(padded, s.state_page_bytes)


# per model: where no drafter's layers join them, its layouts read only the settings keyed
# below, and a fleet's plans and each plan's TP searches ask for a few of them again and again
_LAYOUTS: ByIdentity[KVLayout] = ByIdentity(maxsize=4096)


def kv_layout(model: ModelInfo, settings: Settings, stage: int) -> KVLayout:
    s = settings
    if drafter(s, stage) is not None or model.compressed_attention is not None:
        return _kv_layout(model, s, stage)  # DeepSeek-V4's packed layouts are cached apart
    # a recurrent state's blocks per request (its bytes) read the length and the state's mode
    state = (
        (s.max_model_len, s.kv_shards, s.mamba_cache_mode)
        + (s.state_checkpoint_blocks, s.state_speculative_blocks)
        if s.state_page_bytes
        else ()
    )
    key = (
        stage,
        s.pp,
        s.tp,
        s.block_size,
        s.kv_cache_dtype,
        s.kv_storage_dtype,
        s.dtype,
        s.kv_skip_layers,
        s.hybrid_kv,
        s.facts.engine,
        s.facts.version,
        s.state_page_bytes,
        state,
    )
    return _LAYOUTS.get(model, key, lambda: _kv_layout(model, s, stage))


def _kv_layout(model: ModelInfo, settings: Settings, stage: int) -> KVLayout:
    """kv_layout, computed: of the settings kv_layout keys, and the drafter's."""
    stage_range = stage_layers(model.num_hidden_layers, settings.pp)[stage]
    kv = model.kv_layers  # ascending: the stage's are a slice of them
    layers = kv[bisect_left(kv, stage_range.start) : bisect_left(kv, stage_range.stop)]
    states = 0
    if settings.state_page_bytes:
        states = model.state_layer_flags[stage_range.start : stage_range.stop].count(True)
    drafts = draft_pages(settings, stage)
    if model.compressed_attention is not None and layers:
        # settings vLLM cannot build it with (VW149) get no KV cache
        attn, version = model.compressed_attention, settings.facts.version
        if layout_error(attn, settings.block_size, settings.kv_cache_dtype, version):
            return KVLayout(0, 0, (), 0, 0)
        return _packed_layout(model, settings, stage)
    if not layers and not states and not drafts:
        return KVLayout(0, 0, (), 0, 0)
    alike = not (
        states
        or drafts
        or model.kv_heads_per_layer
        or model.indexer_token_bytes
        or settings.kv_skip_layers
    )
    if layers and alike and (model.uses_mla or not settings.hybrid_kv):
        # every layer alike, one group (most models): what the lists below come to, without
        # building them per layer for every plan and every TP tried
        page = target_page(model, settings, layers[0])
        kind = LayerKind.MLA if model.uses_mla else LayerKind.FULL
        per_token = page * len(layers) // settings.block_size
        return KVLayout(page, len(layers), (kind,), per_token, 0)
    specs = _target_specs(model, settings, stage_range, layers)
    for spec in drafts:  # a drafter's layer joins the target's layers of its spec
        specs[spec] = specs.get(spec, 0) + 1
    pages_sum = sum(page * count for (_, page, _), count in specs.items())
    per_token = pages_sum // settings.block_size
    page = max((page for _, page, _ in specs), default=0)
    layer_count = sum(specs.values())
    state_bytes = 0
    kinds = {kind: None for kind, _, _ in specs}  # in the order the layers bring them
    if states:
        page = _state_page(model, settings)
        blocks = _blocks_per_request(LayerKind.LINEAR, model, settings, settings.max_model_len)
        state_bytes = states * page * blocks
        kinds[LayerKind.LINEAR] = None
    first_kind = next(iter(kinds))
    distinct_pages = len({page for _, page, _ in specs})
    if not settings.is_v0 and not states and len(kinds) == 1 and distinct_pages > 1:
        # one attention type, pages of different sizes (Nemotron-NAS KV heads per layer):
        # UniformTypeKVCacheSpecs, one group whose page is the sum of the layers' pages
        # (v1/kv_cache_interface.py; kv_cache_utils.py get_kv_cache_config_from_groups)
        return KVLayout(pages_sum, 1, (first_kind,), per_token, 0)
    if settings.is_v0 or len(kinds) == 1:
        # one group; layers whose pages differ share a block of their summed pages
        # (v1/core/kv_cache_planning.py get_kv_cache_groups, UniformTypeKVCacheSpecs)
        block = pages_sum if distinct_pages > 1 and not states else 0
        return KVLayout(
            page, layer_count + states, (first_kind,), per_token, state_bytes, states, block
        )
    # v1/core/kv_cache_utils.py _get_kv_cache_groups_uniform_page_size: layers of one spec
    # (attention type, window and page: a drafter's layers beside the target's are specs of
    # their own) form groups of the smallest spec's size, or of the largest when the specs are
    # within 1.5x of each other
    if states:
        specs[(LayerKind.LINEAR, page, 0)] = states
    group_size = min(specs.values())
    if max(specs.values()) < group_size * 1.5:
        group_size = max(specs.values())
    groups: list[_Spec] = []
    for spec, count in specs.items():
        groups += [spec] * -(-count // group_size)
    own = [window if window != _window(kind, model) else 0 for kind, _, window in groups]
    return KVLayout(
        page,
        group_size,
        tuple(kind for kind, _, _ in groups),
        per_token,
        state_bytes,
        states,
        block_multiples=_block_multiples(groups, page),
        windows=tuple(own) if any(own) else (),
    )


def _target_specs(
    model: ModelInfo, settings: Settings, stage_range: range, layers: tuple[int, ...]
) -> dict[_Spec, int]:
    """The spec (kind, page, window) of each of the rank's attention layers (``layers``) and
    their indexers, with how many layers have it, in the order the layers bring them: counted
    per kind where every layer's page is the same (most hybrids), not layer by layer."""
    if model.uses_mla:
        kinds: Iterable[LayerKind] = (LayerKind.MLA,) * len(layers)
    elif settings.hybrid_kv:
        kinds = (model.layer_kinds[i] for i in layers)
    else:
        kinds = (LayerKind.FULL,) * len(layers)
    specs: dict[_Spec, int] = {}
    if model.kv_heads_per_layer or settings.kv_skip_layers:  # a page per layer where they differ
        for layer, kind in zip(layers, kinds, strict=True):
            spec = (kind, target_page(model, settings, layer), _window(kind, model))
            specs[spec] = specs.get(spec, 0) + 1
    elif layers:
        page = target_page(model, settings, layers[0])
        counts = (
            _kind_counts(model, stage_range, layers)
            if settings.hybrid_kv and not model.uses_mla
            else {next(iter(kinds)): len(layers)}
        )
        specs = {(kind, page, _window(kind, model)): count for kind, count in counts.items()}
    if model.indexer_token_bytes:
        # the key cache of each sparse-MLA layer's indexer, one more MLA page of one replicated
        # head (models/deepseek_v2.py DeepseekV32IndexerCache.get_kv_cache_spec); a layer
        # without an indexer registers none
        built = own_indexer_layers(model, settings.facts.version)
        indexers = sum(built[i] for i in layers)
        if indexers:
            spec = (LayerKind.MLA, settings.block_size * model.indexer_token_bytes, 0)
            specs[spec] = specs.get(spec, 0) + indexers
    return specs


# per model and pipeline stage: the kinds of its attention layers and how many of each, in
# the order they first come (each plan and each TP tried of a hybrid model asks)
_KIND_COUNTS: ByIdentity[dict[LayerKind, int]] = ByIdentity(maxsize=1024)


def _kind_counts(
    model: ModelInfo, stage_range: range, layers: tuple[int, ...]
) -> dict[LayerKind, int]:
    """How many of ``layers`` (the attention layers of ``stage_range``) have each kind."""
    key = (stage_range.start, stage_range.stop)
    return _KIND_COUNTS.get(model, key, lambda: dict(Counter(model.layer_kinds[i] for i in layers)))


# DeepSeek-V4's packed layouts (milliseconds each), per attention config: each plan, each TP
# tried and each stage asks for one of a few
_PACKED: ByIdentity[PackedKV] = ByIdentity(maxsize=256)


def _packed_layout(model: ModelInfo, settings: Settings, stage: int) -> KVLayout:
    """DeepSeek-V4's layout: one packed block holds a page of every cache slot, the MTP
    drafter's caches (last stage) among them."""
    attn = model.compressed_attention
    assert attn is not None
    layers = list(stage_layers(model.num_hidden_layers, settings.pp)[stage])
    draft = drafter(settings, stage)
    if draft is not None and draft.compressed_attention is not None:
        layers += mtp_layer_numbers(attn, draft.num_hidden_layers)
    block, dtype, version = settings.block_size, settings.kv_cache_dtype, settings.facts.version
    packed = _PACKED.get(
        attn,
        (tuple(layers), block, dtype, version),
        lambda: packed_kv(attn, layers, block_size=block, kv_cache_dtype=dtype, version=version),
    )
    pages = [s.page_bytes for g in packed.groups for s in g.specs]
    kinds = tuple(LayerKind.SLIDING if g.specs[0].window else LayerKind.MLA for g in packed.groups)
    return KVLayout(
        page_bytes=max(pages),
        group_size=packed.max_group_layers,
        kinds=kinds,
        bytes_per_token=packed.block_bytes // settings.block_size,
        linear_state_bytes=0,
        block_bytes=packed.block_bytes,
        packed=packed,
    )


def in_flight_tokens(settings: Settings) -> int:
    """Tokens a sliding window reserves beyond itself: every batch in flight
    (VllmConfig.max_in_flight_tokens from 0.33; one batch before)."""
    return settings.in_flight_batches * settings.max_num_batched_tokens


# (attention kind, page bytes, window) of a layer: the KV cache spec vLLM groups layers by
_Spec = tuple[LayerKind, int, int]


def _window(kind: LayerKind, model: ModelInfo) -> int:
    """The tokens a layer of ``kind`` keeps per request in ``model`` (0: all of them)."""
    if kind is LayerKind.SLIDING:
        return model.sliding_window or 0
    if kind is LayerKind.CHUNKED:
        return model.attention_chunk_size or 0
    return 0


def _block_multiples(groups: list[_Spec], page: int) -> tuple[int, ...]:
    """Each group's block size over the base one: raised by the ratio where its page is
    smaller than the largest (Gemma-4's full-attention layers: 2 KV heads of 512 beside 8 of
    256) so every page is equal (v1/core/kv_cache_utils.py unify_kv_cache_spec_page_size);
    empty when the pages already agree. State pages are padded, not raised."""
    multiples = [
        page // p if kind is not LayerKind.LINEAR and p < page and page % p == 0 else 1
        for kind, p, _ in groups
    ]
    return tuple(multiples) if any(m > 1 for m in multiples) else ()


def indexer_costs(model: ModelInfo, settings: Settings) -> dict[str, str]:
    """What a sparse-MLA model's indexer key cache costs, for --explain (subject -> words);
    DeepSeek-V4's whole packed layout, indexer included."""
    if model.compressed_attention is not None:
        layout = kv_layout(model, settings, 0)
        if layout.packed is None:
            return {}
        words = explain_costs(
            layout.packed, length=settings.max_model_len, in_flight=in_flight_tokens(settings)
        )
        return {"DeepSeek-V4 KV cache": words}
    if not model.indexer_token_bytes or not model.kv_layers:
        return {}
    latent = target_page(model, evolve(settings, block_size=1), model.kv_layers[0])
    own = sum(own_indexer_layers(model, settings.facts.version)[i] for i in model.kv_layers)
    indexer = own * model.indexer_token_bytes
    share = indexer / (indexer + len(model.kv_layers) * latent)
    where = "each MLA layer"
    if own < len(model.kv_layers):
        others = len(model.kv_layers) - own
        where = (
            f"{own} of the {len(model.kv_layers)} MLA layers (the other {others} reuse an "
            "earlier layer's top-k)"
        )
    return {
        "sparse attention indexer": (
            f"{model.indexer_token_bytes} bytes a token (the indexer's fp8 keys and their "
            f"float32 scales) in {where} beside the {latent}-byte latent: {share:.1%} of the "
            "KV cache (models/deepseek_v2.py DeepseekV32IndexerCache)"
        )
    }


def state_costs(model: ModelInfo, settings: Settings) -> dict[str, str]:
    """What a hybrid's recurrent state costs a request, for --explain (subject -> words)."""
    layout = kv_layout(model, settings, 0)
    if not layout.state_layers or model.state is None:
        return {}
    mode = settings.mamba_cache_mode
    blocks = _blocks_per_request(LayerKind.LINEAR, model, settings, settings.max_model_len)
    if mode == "all":
        why = "one per block of the request in all mode"
    else:
        why = f"{2 if mode == 'align' else 1} in {mode} mode"
        if settings.state_checkpoint_blocks:
            why += f", {settings.state_checkpoint_blocks} more for prefill checkpoints"
        if settings.state_speculative_blocks:
            why += f", {settings.state_speculative_blocks} more for the speculative tokens"
    per_request = layout.state_layers * layout.page_bytes * blocks
    padded = (
        f" (the {settings.state_page_bytes:,}-byte state padded to the attention page)"
        if layout.page_bytes != settings.state_page_bytes
        else ""
    )
    return {
        "recurrent state": (
            f"{layout.state_layers} {model.state.kind.value} state layers on the first rank, "
            f"{blocks} block{'s' if blocks != 1 else ''} each per request ({why}) of "
            f"{layout.page_bytes:,} bytes{padded}: "
            f"{per_request / (1 << 20):,.1f} MiB per request whatever its length "
            "(model_executor/layers/mamba/mamba_utils.py; v1/kv_cache_interface.py "
            "MambaSpec.max_memory_usage_bytes)"
        )
    }


def _blocks_per_request(
    kind: LayerKind,
    model: ModelInfo,
    settings: Settings,
    length: int,
    multiple: int = 1,
    window: int = 0,
) -> int:
    bs = settings.block_size * multiple
    # context parallel: each rank holds every kv_shards-th token of a request, so one block
    # covers block_size x kv_shards of its tokens (v1/kv_cache_interface.py
    # AttentionSpec.max_num_blocks_per_req, FullAttentionSpec.max_memory_usage_bytes)
    full = -(-length // (bs * settings.kv_shards))
    if kind is LayerKind.LINEAR:
        return state_blocks(
            settings.mamba_cache_mode,
            length,
            bs,
            settings.state_checkpoint_blocks,
            settings.state_speculative_blocks,
        )
    window = window or _window(kind, model)  # a drafter's own window, else the target's
    # the window and every batch in flight (SlidingWindowSpec.max_admission_blocks_per_request)
    in_flight = in_flight_tokens(settings)
    if kind is LayerKind.SLIDING and window:
        span = min(window - 1 + settings.window_retained_tokens + in_flight, length)
        return -(-span // bs) + 1  # one extra block: the window straddles block edges
    if kind is LayerKind.CHUNKED and window:
        span = min(window + in_flight, length)
        return -(-span // bs)
    return full


def size_kv(
    model: ModelInfo,
    settings: Settings,
    budget_bytes: float,
    stage: int,
    layout: KVLayout | None = None,
) -> KVResult:
    """Blocks, tokens and concurrency for one rank with ``budget_bytes`` of KV memory
    (``layout``: the rank's, when the caller has it already)."""
    layout = layout or kv_layout(model, settings, stage)
    return kv_result(settings, layout, budget_bytes, stage, one_request(model, settings, layout)[0])


def one_request(model: ModelInfo, settings: Settings, layout: KVLayout) -> tuple[int, float]:
    """(blocks, bytes) one request of max_model_len takes on the rank: the blocks over every
    group, what size_kv divides a V1 cache's blocks by for its concurrency, and the bytes the
    one-request check compares (bytes_for_length). Of the layout and the settings alone, not
    of the KV memory, so a plan at another utilization keeps them (memory.at_utilization)."""
    length = settings.max_model_len
    if layout.page_bytes == 0:
        return 0, 0.0
    if layout.packed is not None:
        in_flight = in_flight_tokens(settings)
        blocks = layout.packed.blocks_per_request(length, in_flight)
        return blocks, float(layout.packed.bytes_for_length(length, in_flight))
    attention = _attention_blocks(model, settings, layout, length)
    states = _state_blocks(model, settings, layout, length)
    blocks = attention + layout.kinds.count(LayerKind.LINEAR) * states
    return blocks, float(
        attention * layout.group_block_bytes + layout.state_layers * states * layout.page_bytes
    )


def kv_result(
    settings: Settings, layout: KVLayout, budget_bytes: float, stage: int, per_request: int
) -> KVResult:
    """size_kv with the blocks one request takes (``per_request``: one_request's) known."""
    if layout.page_bytes == 0 or budget_bytes <= 0:
        return KVResult(0, 0, 0.0, layout)
    if settings.is_v0:
        blocks = v0_blocks(settings, layout, budget_bytes, stage)
        tokens = blocks * settings.block_size
        return KVResult(blocks, tokens, tokens / settings.max_model_len, layout)
    blocks = int(budget_bytes // layout.group_block_bytes)
    if layout.packed is not None:
        # v1/core/kv_cache_utils.py get_kv_cache_capacity: tokens = concurrency x max_model_len
        concurrency = blocks / per_request
        return KVResult(blocks, int(concurrency * settings.max_model_len), concurrency, layout)
    concurrency = blocks / per_request if per_request else 0.0
    if has_behaviour("kv_tokens_from_concurrency", settings.facts.version):
        tokens = int(concurrency * settings.max_model_len)
    else:
        # the smallest group block size: a state group's is max_model_len without prefix caching
        # (MambaModelConfig: mamba_block_size), the only one where no layer attends
        smallest = settings.block_size
        if layout.state_layers and settings.mamba_cache_mode == "none":
            attends = set(layout.kinds) != {LayerKind.LINEAR}
            smallest = min(smallest, settings.max_model_len) if attends else settings.max_model_len
        # 0.19: "Multiplying the GPU KV cache size by the cp_world_size" (pcp x dcp)
        tokens = blocks // len(layout.kinds) * smallest * settings.kv_shards
    return KVResult(blocks, tokens, concurrency, layout)


def v0_blocks(settings: Settings, layout: KVLayout, budget_bytes: float, stage: int) -> int:
    """The V0 engine's blocks on one rank: the budget over the target's block
    (Worker.determine_num_available_blocks), then with a draft model shared so both caches
    get the same count within the target's memory (spec_decode/spec_decode_worker.py
    SpecDecodeWorker.determine_num_available_blocks, split_num_cache_blocks_evenly)."""
    if settings.num_gpu_blocks_override is not None:  # LLMEngine._initialize_kv_caches
        return int(budget_bytes // layout.group_block_bytes)
    draft = sum(page for _, page, _ in draft_pages(settings, stage))
    target = layout.group_block_bytes - draft
    if target <= 0:
        return 0
    blocks = int(budget_bytes // target)
    return int(blocks * target / (draft + target)) if draft else blocks


def bytes_for_length(model: ModelInfo, settings: Settings, layout: KVLayout, length: int) -> float:
    """KV bytes one request of ``length`` tokens needs on one rank (vLLM's check_enough_kv):
    whole blocks per attention group, and each state layer's state blocks."""
    if layout.page_bytes == 0:
        return 0.0
    length = max(length, 1)
    if layout.packed is not None:
        return float(layout.packed.bytes_for_length(length, in_flight_tokens(settings)))
    attention = _attention_blocks(model, settings, layout, length)
    return float(
        attention * layout.group_block_bytes + _state_bytes(model, settings, layout, length)
    )


def _attention_blocks(model: ModelInfo, settings: Settings, layout: KVLayout, length: int) -> int:
    """The blocks a request of ``length`` tokens takes over the rank's attention groups."""
    blocks = 0  # a loop, not sum() over a generator: this is asked for thousands of times
    for (kind, multiple, window), groups in attention_specs(layout):
        blocks += groups * _blocks_per_request(kind, model, settings, length, multiple, window)
    return blocks


def _state_blocks(model: ModelInfo, settings: Settings, layout: KVLayout, length: int) -> int:
    """The blocks a request of ``length`` tokens holds in each of the rank's state layers."""
    if not layout.state_layers:  # most models: nothing to count
        return 0
    return _blocks_per_request(LayerKind.LINEAR, model, settings, length)


def _state_bytes(model: ModelInfo, settings: Settings, layout: KVLayout, length: int) -> int:
    """The state blocks a request of ``length`` holds in the rank's state layers, in bytes."""
    return layout.state_layers * _state_blocks(model, settings, layout, length) * layout.page_bytes


def resident_bytes_for_length(
    model: ModelInfo, settings: Settings, layout: KVLayout, length: int
) -> float:
    """KV bytes a running request of ``length`` tokens holds between steps: bytes_for_length,
    except that a sliding-window or chunked-local group keeps its window only - each
    allocate_slots first frees the blocks the window has left (v1/core/kv_cache_manager.py
    KVCacheManager.allocate_slots, single_type_kv_cache_manager.py
    SlidingWindowManager.remove_skipped_blocks), where check_enough_kv counts a whole token
    budget in flight beside the window (see windowed_chunk_bytes)."""
    if layout.page_bytes == 0 or layout.packed is not None:
        return bytes_for_length(model, settings, layout, length)
    length = max(length, 1)
    attention = 0
    for kind, multiple, window in _group_specs(layout):
        window = window or _window(kind, model)
        bs = settings.block_size * multiple
        if kind is LayerKind.SLIDING and window:
            span = min(window - 1 + settings.window_retained_tokens, length)
            attention += -(-span // bs) + 1  # the window straddles block edges
        elif kind is LayerKind.CHUNKED and window:
            attention += -(-min(window, length) // bs)
        elif kind is not LayerKind.LINEAR:
            attention += _blocks_per_request(kind, model, settings, length, multiple, window)
    states = _state_bytes(model, settings, layout, length)
    return float(attention * layout.group_block_bytes + states)


def windowed_chunk_bytes(model: ModelInfo, settings: Settings, layout: KVLayout) -> float:
    """KV bytes a step's prefill chunks take in the sliding-window and chunked-local groups
    beside their windows: allocate_slots gives each new token a block in every group before
    the next step frees those the window has left, so one token budget
    (max_num_batched_tokens) of them is held while a step runs."""
    if layout.page_bytes == 0 or layout.packed is not None:
        return 0.0
    blocks = 0
    for kind, multiple, window in _group_specs(layout):
        if kind in (LayerKind.SLIDING, LayerKind.CHUNKED) and (window or _window(kind, model)):
            bs = settings.block_size * multiple
            blocks += -(-settings.max_num_batched_tokens // bs)
    return float(blocks * layout.group_block_bytes)


def max_length_for_budget(
    model: ModelInfo, settings: Settings, layout: KVLayout, budget: float
) -> int:
    """Largest max_model_len whose single request fits ``budget`` (binary search, like vLLM;
    counted in whole blocks where every group holds whole requests)."""
    if holds_whole_requests(layout):
        return _whole_length_for_budget(settings, layout, budget)
    # a request's bytes grow with its length: where the longest fits, no search is needed
    if bytes_for_length(model, settings, layout, settings.max_model_len) <= budget:
        return settings.max_model_len
    low, high = 0, settings.max_model_len - 1
    while low < high:
        mid = (low + high + 1) // 2
        if bytes_for_length(model, settings, layout, mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


_WHOLE = {LayerKind.FULL, LayerKind.MLA}  # groups whose blocks cover a request's every token


def holds_whole_requests(layout: KVLayout) -> bool:
    """Every group keeps each token of a request in blocks of one size (full attention or
    MLA, no state, no raised block): the pool's token figure is what requests can use."""
    return bool(
        layout.page_bytes
        and layout.kinds
        and not layout.state_layers
        and not layout.block_multiples
        and set(layout.kinds) <= _WHOLE
    )


def raised_block_sizes(layout: KVLayout, block_size: int) -> dict[str, int]:
    """Tokens per block of each attention kind whose block vLLM raised to equal the largest
    page (unify_kv_cache_spec_page_size); empty where every group keeps ``block_size``."""
    if not layout.block_multiples:  # most layouts: none raised
        return {}
    return {
        kind.value: block_size * multiple
        for kind, multiple in zip(layout.kinds, layout.block_multiples, strict=True)
        if multiple > 1
    }


def _group_specs(layout: KVLayout) -> zip[tuple[LayerKind, int, int]]:
    """Each group's kind, block-size multiple and own window (0: the target's)."""
    n = len(layout.kinds)
    return zip(
        layout.kinds, layout.block_multiples or (1,) * n, layout.windows or (0,) * n, strict=True
    )


def _whole_length_for_budget(settings: Settings, layout: KVLayout, budget: float) -> int:
    """max_length_for_budget where every group holds whole requests: bytes_for_length is then
    whole blocks of block_size x kv_shards tokens in each group, so the answer is the most
    blocks the budget holds (exactly as bytes_for_length compares them), in tokens."""
    block_tokens = settings.block_size * settings.kv_shards
    per_block = len(layout.kinds) * layout.group_block_bytes
    blocks = max(int(budget // per_block), 0)
    while float(per_block * (blocks + 1)) <= budget:  # // on floats may land one off
        blocks += 1
    while blocks and float(per_block * blocks) > budget:
        blocks -= 1
    return min(blocks * block_tokens, settings.max_model_len)
