"""The KV cache groups a drafter's layers land in. vLLM groups the attention layers of every
rank together, the target's first and the drafter's after them
(v1/core/kv_cache_utils.py get_kv_cache_configs merges the workers' specs, then
get_kv_cache_groups), and the V1 model runner's drafter needs all its layers in one group
(SpecDecodeBaseProposer.validate_same_kv_cache_group, rule VW128)."""

from __future__ import annotations

from checker.planning.engine.settings import Settings
from checker.planning.kvcache.deepseek_v4 import mtp_layer_numbers
from checker.planning.kvcache.kv import kv_layout, target_page
from checker.planning.memory.draft import draft_layer_specs
from checker.planning.memory.weights import own_indexer_layers
from checker.schemas.model_info import LayerKind, ModelInfo

# (attention type, its window) -> the layers of one KV cache spec, in vLLM's order
_Type = tuple[str, int]


def _type(kind: LayerKind, model: ModelInfo) -> _Type:
    """The spec type vLLM treats as one (kv_cache_interface.py is_uniform_with_collection):
    sliding windows and chunks of one size; MLAAttentionSpec is a FullAttentionSpec."""
    if kind is LayerKind.SLIDING:
        return "sliding", model.sliding_window or 0
    if kind is LayerKind.CHUNKED:
        return "chunked", model.attention_chunk_size or 0
    return "full", 0


def _target_specs(model: ModelInfo, settings: Settings) -> list[tuple[_Type, int]]:
    """(type, page) of each target layer with a cache, over all pipeline stages; recurrent
    state layers are one more type (MambaSpec)."""
    specs: list[tuple[_Type, int]] = []
    own = own_indexer_layers(model, settings.facts.version)
    for layer in model.kv_layers:
        kind = model.layer_kinds[layer] if settings.hybrid_kv else LayerKind.FULL
        specs.append((_type(kind, model), target_page(model, settings, layer)))
        if model.indexer_token_bytes and own[layer]:
            specs.append((("full", 0), settings.block_size * model.indexer_token_bytes))
    if settings.state_page_bytes:
        states = model.state_layer_flags.count(True)
        specs += [(("mamba", 0), settings.state_page_bytes)] * states
    return specs


def draft_kv_groups(model: ModelInfo, settings: Settings) -> int:
    """How many KV cache groups the drafter's layers fall in (0 without a drafter with a cache).

    Without the hybrid KV cache manager every layer is full attention, one group
    (unify_hybrid_kv_cache_specs); one spec type overall is one group too
    (_get_kv_cache_groups_uniform_spec / UniformTypeKVCacheSpecs). Otherwise each distinct spec
    (type and page: heads, head size, dtype) holds its layers, cut into groups of one size
    (the smallest spec's, or the largest's when within 1.5x), layer j of a spec going to group
    j % its groups (_get_kv_cache_groups_uniform_page_size)."""
    draft = settings.spec.draft if settings.spec else None
    attn = model.compressed_attention
    if attn is not None and draft is not None:
        # DeepSeek-V4: the MTP layers' sliding-window caches among the packed groups
        packed = kv_layout(model, settings, settings.pp - 1).packed
        return (
            packed.groups_holding(mtp_layer_numbers(attn, draft.num_hidden_layers)) if packed else 0
        )
    drafts = draft_layer_specs(settings, settings.pp - 1)
    if draft is None or not drafts:
        return 0
    specs = [(spec, False) for spec in _target_specs(model, settings)]
    specs += [((_type(kind, draft), page), True) for kind, page in drafts]
    if not settings.hybrid_kv or len({kind for (kind, _), _ in specs}) == 1:
        return 1
    layers: dict[tuple[_Type, int], list[bool]] = {}
    for spec, is_draft in specs:
        layers.setdefault(spec, []).append(is_draft)
    sizes = [len(flags) for flags in layers.values()]
    group_size = min(sizes)
    if max(sizes) < group_size * 1.5:
        group_size = max(sizes)
    groups: set[tuple[int, int]] = set()
    for n, flags in enumerate(layers.values()):
        count = -(-len(flags) // group_size)
        groups |= {(n, j % count) for j, is_draft in enumerate(flags) if is_draft}
    return len(groups)
