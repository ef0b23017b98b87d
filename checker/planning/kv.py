"""KV cache pages, blocks, tokens and concurrency, mirroring vLLM's KV cache managers.

V1 (vllm/v1/core/kv_cache_utils.py): one page per layer per block; layers of different
attention types form groups of equal size (padding the last group of a type); blocks =
budget // page // group_size; printed tokens = blocks // groups * block_size. V0
(CacheEngine.get_cache_block_size): one block spans every layer of the rank.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from checker.planning.settings import Settings
from checker.planning.weights import stage_layers
from checker.schemas.model_info import LayerKind, ModelInfo

GIB = float(1 << 30)


@dataclass(frozen=True)
class KVLayout:
    """What one rank of a pipeline stage stores per KV block."""

    page_bytes: int  # one layer, one block (uniform across attention layers of the rank)
    group_size: int  # layers sharing one block index (V1), or all layers (V0)
    kinds: tuple[LayerKind, ...]  # kind of each group
    bytes_per_token: int  # summed over the rank's layers
    linear_state_bytes: int  # fixed per-request state of linear/mamba layers on the rank


@dataclass(frozen=True)
class KVResult:
    num_blocks: int
    tokens: int
    max_concurrency: float
    layout: KVLayout


_NO_CACHE = (LayerKind.NONE, LayerKind.LINEAR)


def _layer_page(model: ModelInfo, settings: Settings, layer: int) -> int:
    if model.layer_kinds[layer] is LayerKind.MLA:
        latent = (model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)
        return int(settings.block_size * latent * settings.kv_bytes)
    heads = max(1, model.kv_heads_of(layer) // settings.tp)
    return int(2 * settings.block_size * heads * model.head_dim * settings.kv_bytes)


def kv_layout(model: ModelInfo, settings: Settings, stage: int) -> KVLayout:
    stage_range = stage_layers(model.num_hidden_layers, settings.pp)[stage]
    kinds_here = [model.layer_kinds[i] for i in stage_range]
    layers = [i for i, k in zip(stage_range, kinds_here, strict=True) if k not in _NO_CACHE]
    linear = kinds_here.count(LayerKind.LINEAR)
    state = linear * model.linear_state_bytes * settings.dtype_bytes // 2
    if not layers:
        return KVLayout(0, 0, (), 0, state)
    if model.kv_heads_per_layer:  # only models whose layers differ need a page per layer
        pages = [_layer_page(model, settings, i) for i in layers]
    else:
        pages = [_layer_page(model, settings, layers[0])] * len(layers)
    page = max(pages)
    per_token = sum(pages) // settings.block_size
    kinds = [model.layer_kinds[i] if settings.hybrid_kv else LayerKind.FULL for i in layers]
    if model.uses_mla:
        kinds = [LayerKind.MLA] * len(layers)
    if settings.is_v0 or len(set(kinds)) == 1:
        return KVLayout(page, len(layers), (kinds[0],), per_token, state)
    counts = Counter(kinds)
    group_size = min(counts.values())
    if max(counts.values()) < group_size * 1.25:
        group_size = max(counts.values())
    groups: list[LayerKind] = []
    for kind, count in counts.items():
        groups += [kind] * -(-count // group_size)
    return KVLayout(page, group_size, tuple(groups), per_token, state)


def _blocks_per_request(kind: LayerKind, model: ModelInfo, settings: Settings, length: int) -> int:
    bs = settings.block_size
    full = -(-length // bs)
    if kind is LayerKind.SLIDING and model.sliding_window:
        span = min(model.sliding_window - 1 + settings.max_num_batched_tokens, length)
        return -(-span // bs) + 1  # one extra block: the window straddles block edges
    if kind is LayerKind.CHUNKED and model.attention_chunk_size:
        span = min(model.attention_chunk_size + settings.max_num_batched_tokens, length)
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
    if layout.page_bytes == 0 or budget_bytes <= 0:
        return KVResult(0, 0, 0.0, layout)
    if layout.linear_state_bytes:
        # Hybrid mamba/GDN models: each request also pins a fixed recurrent state.
        per_request = layout.linear_state_bytes + layout.bytes_per_token * settings.max_model_len
        concurrency = budget_bytes / per_request
        blocks = int(budget_bytes // (layout.page_bytes * layout.group_size))
        return KVResult(blocks, int(concurrency * settings.max_model_len), concurrency, layout)
    if settings.is_v0:
        blocks = int(budget_bytes // (layout.page_bytes * layout.group_size))
        tokens = blocks * settings.block_size
        return KVResult(blocks, tokens, tokens / settings.max_model_len, layout)
    blocks = int(budget_bytes // layout.page_bytes // layout.group_size)
    n_groups = len(layout.kinds)
    tokens = blocks // n_groups * settings.block_size
    needed = sum(
        _blocks_per_request(k, model, settings, settings.max_model_len) for k in layout.kinds
    )
    return KVResult(blocks, tokens, blocks / needed if needed else 0.0, layout)


def bytes_for_length(model: ModelInfo, settings: Settings, layout: KVLayout, length: int) -> float:
    """KV bytes one request of ``length`` tokens needs on one rank (vLLM's check_enough_kv)."""
    if layout.page_bytes == 0:
        return float(layout.linear_state_bytes)
    blocks = sum(_blocks_per_request(k, model, settings, max(length, 1)) for k in layout.kinds)
    return blocks * layout.page_bytes * layout.group_size + layout.linear_state_bytes


def max_length_for_budget(
    model: ModelInfo, settings: Settings, layout: KVLayout, budget: float
) -> int:
    """Largest max_model_len whose single request fits ``budget`` (binary search, like vLLM)."""
    low, high = 0, settings.max_model_len
    while low < high:
        mid = (low + high + 1) // 2
        if bytes_for_length(model, settings, layout, mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return low
