"""DeepSeek-V4's KV cache as vLLM lays it out: per-layer specs, the packed block, and the
token and concurrency figures it logs (checker/data/deepseek_v4.yaml holds the constants).

Each layer registers up to five caches (models/deepseek_v4/attention.py, compressor.py;
v1/attention/backends/mla/sparse_swa.py). vLLM groups them in
v1/core/kv_cache_utils.py group_and_unify_kv_cache_specs (the full MLA specs in one group, the
sliding-window specs by block size and window) and _get_kv_cache_groups_uniform_groups (the
sliding-window groups split to a common number of "layer tuples", their pages padded up to the
nearest full-MLA page), then allocates one packed block holding a page of every slot
(_get_kv_cache_config_packed). The log's figures come from get_kv_cache_capacity.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from checker.schemas.model_info import CompressedAttention
from checker.schemas.yaml_source import bundled_data


def _facts() -> dict[str, Any]:
    facts: dict[str, Any] = bundled_data("deepseek_v4.yaml")
    return facts


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(value: int, multiple: int) -> int:
    return _cdiv(value, multiple) * multiple


@dataclass(frozen=True)
class CacheSpec:
    """One registered cache: an MLAAttentionSpec (window 0) or a SlidingWindowMLASpec."""

    name: str
    block_size: int
    window: int  # 0: full attention (every token of a request, compressed)
    page_bytes: int  # after the alignment padding

    def pages_per_request(self, length: int, max_num_batched_tokens: int) -> int:
        """FullAttentionSpec / SlidingWindowSpec.max_memory_usage_bytes over the page size."""
        if not self.window:
            return _cdiv(length, self.block_size)
        span = min(self.window - 1 + max_num_batched_tokens, length)
        return _cdiv(span, self.block_size) + 1  # the window straddles block edges


@dataclass(frozen=True)
class CacheGroup:
    """One KV cache group: a UniformTypeKVCacheSpecs of specs with one block table."""

    specs: tuple[CacheSpec, ...]

    @property
    def page_bytes(self) -> int:
        return sum(s.page_bytes for s in self.specs)

    def pages_per_request(self, length: int, max_num_batched_tokens: int) -> int:
        """UniformTypeKVCacheSpecs.max_memory_usage_pages."""
        return max(s.pages_per_request(length, max_num_batched_tokens) for s in self.specs)

    @property
    def layer_tuples(self) -> int:
        """UniformTypeKVCacheSpecs.get_num_layer_tuples: the commonest page size's count."""
        return Counter(s.page_bytes for s in self.specs).most_common(1)[0][1]


@dataclass(frozen=True)
class PackedKV:
    """The groups of one rank and the bytes one block index takes across all of them."""

    groups: tuple[CacheGroup, ...]
    block_bytes: int  # sum over page sizes of page x slots (_get_kv_cache_config_packed)
    cache_dtype: str  # "fp8_ds_mla" or the element dtype the rows are stored in

    def blocks_per_request(self, length: int, max_num_batched_tokens: int) -> int:
        """get_max_concurrency_for_kv_cache_config's divisor: every group's pages for one
        request over the first group's block (the layer count it multiplies both by cancels)."""
        needed = sum(
            g.pages_per_request(length, max_num_batched_tokens) * g.page_bytes for g in self.groups
        )
        return _cdiv(needed, self.groups[0].page_bytes)

    def bytes_for_length(self, length: int, max_num_batched_tokens: int) -> int:
        """_max_memory_usage_bytes_from_groups (the one-request check and the max_model_len
        estimate): every group reserves the most layer tuples of any group, each tuple the
        sum of the first group's distinct page sizes."""
        tuple_bytes = sum({s.page_bytes for s in self.groups[0].specs})
        tuples = max(g.layer_tuples for g in self.groups)
        return sum(
            tuples * g.pages_per_request(length, max_num_batched_tokens) * tuple_bytes
            for g in self.groups
        )

    @property
    def max_group_layers(self) -> int:
        return max(len(g.specs) for g in self.groups)


def cache_dtype(kv_cache_dtype: str, capability: int) -> tuple[str, int]:
    """(the cache format, bytes of one stored element) for --kv-cache-dtype on a GPU of
    ``capability`` (attention.py _resolve_dsv4_kv_cache_dtype; nvidia/model.py
    _select_dsv4_attn_cls: FlashMLA, fp8_ds_mla, everywhere but 12.x)."""
    fp8 = kv_cache_dtype.startswith("fp8")
    if fp8 and capability // 10 not in _facts()["fp8_ds_mla_off_majors"]:
        return "fp8_ds_mla", 1
    return kv_cache_dtype, 1 if fp8 else 2


def _page(stored_tokens: int, row_bytes: int, fmt: str) -> int:
    """A page of ``stored_tokens`` rows, padded to the layout's alignment
    (kv_cache_interface.py _apply_alignment_padding)."""
    align = _facts()["alignment"]
    multiple = int(align["fp8_ds_mla"] if fmt == "fp8_ds_mla" else align["other"])
    return _round_up(stored_tokens * row_bytes, multiple)


def layer_specs(
    attn: CompressedAttention, layers: range, block_size: int, fmt: str, element_bytes: int
) -> list[CacheSpec]:
    """The caches of ``layers`` in the order vLLM registers them (the order its grouping
    reads them in)."""
    f = _facts()
    comp, idx = f["compressor"], f["indexer"]
    # the compressed MLA and sliding-window rows: 584 packed bytes under fp8_ds_mla, else
    # head_dim elements (MLAAttentionSpec / SlidingWindowMLASpec.real_page_size_bytes)
    row = int(f["fp8_ds_mla_token_bytes"]) if fmt == "fp8_ds_mla" else attn.head_dim * element_bytes
    index_row = attn.index_head_dim + attn.index_head_dim // int(idx["quant_block"]) * int(
        idx["scale_bytes"]
    )
    swa_block = int(f["swa_block_size"])

    def state(name: str, ratio: int, head_dim: int) -> CacheSpec:
        coff = 2 if ratio == int(comp["overlapping_ratio"]) else 1
        state_block = int(comp["block_sizes"][ratio])
        width = 2 * coff * head_dim * int(comp["state_dtype_bytes"])
        return CacheSpec(name, state_block, coff * ratio, _page(state_block, width, fmt))

    specs: list[CacheSpec] = []
    for i in layers:
        ratio, prefix = attn.ratios[i], f"layers.{i}.attn"
        if ratio == int(idx["ratio"]):
            stored = block_size // ratio
            specs.append(
                CacheSpec(f"{prefix}.indexer.k_cache", block_size, 0, _page(stored, index_row, fmt))
            )
            specs.append(
                state(f"{prefix}.indexer.compressor.state_cache", ratio, attn.index_head_dim)
            )
        specs.append(
            CacheSpec(
                f"{prefix}.swa_cache", swa_block, attn.sliding_window, _page(swa_block, row, fmt)
            )
        )
        if ratio > 1:
            specs.append(CacheSpec(prefix, block_size, 0, _page(block_size // ratio, row, fmt)))
            specs.append(state(f"{prefix}.compressor.state_cache", ratio, attn.head_dim))
    return specs


def approximate_gcd(values: list[int], lower_bound: int) -> int:
    """kv_cache_utils.py _approximate_gcd: the chunk size in [lower_bound, max(values)] that
    pads the values least when each is rounded up to a multiple of it (ties: the larger)."""
    best, best_pad = lower_bound, None
    for d in range(max(1, lower_bound), max(values) + 1):
        pad = sum((d - x % d) % d for x in values)
        if best_pad is None or pad <= best_pad:
            best, best_pad = d, pad
    return best


def group_specs(specs: list[CacheSpec]) -> tuple[CacheGroup, ...]:
    """group_and_unify_kv_cache_specs + _get_kv_cache_groups_uniform_groups."""
    full = [s for s in specs if not s.window]
    by_shape: dict[tuple[int, int], list[CacheSpec]] = defaultdict(list)
    for s in specs:
        if s.window:
            by_shape[(s.block_size, s.window)].append(s)
    first = CacheGroup(tuple(full))
    tuple_counts = [first.layer_tuples] + [
        CacheGroup(tuple(g)).layer_tuples for g in by_shape.values()
    ]
    tuples = approximate_gcd(tuple_counts, lower_bound=tuple_counts[0])
    full_pages = sorted({s.page_bytes for s in full})
    groups = [first]
    for members in by_shape.values():
        per_size: dict[int, list[CacheSpec]] = defaultdict(list)
        for s in members:
            # each page padded to the nearest full-MLA page at least as large
            padded = min(p for p in full_pages if p >= s.page_bytes)
            per_size[padded].append(CacheSpec(s.name, s.block_size, s.window, padded))
        per_page = len(next(iter(per_size.values())))
        splits = _cdiv(per_page, tuples)
        layer_tuples = list(zip(*per_size.values(), strict=True))
        groups.extend(
            CacheGroup(tuple(s for t in layer_tuples[i::splits] for s in t)) for i in range(splits)
        )
    return tuple(groups)


def packed_kv(
    attn: CompressedAttention,
    layers: range,
    *,
    block_size: int,
    kv_cache_dtype: str,
    capability: int,
) -> PackedKV:
    """The packed KV layout of the ``layers`` one rank holds."""
    fmt, element_bytes = cache_dtype(kv_cache_dtype, capability)
    groups = group_specs(layer_specs(attn, layers, block_size, fmt, element_bytes))
    # _bucket_layers_by_page_size: a page size takes as many slots as the most pages of that
    # size any one group has; a block holds one page per slot
    slots: dict[int, int] = defaultdict(int)
    for g in groups:
        for page, count in Counter(s.page_bytes for s in g.specs).items():
            slots[page] = max(slots[page], count)
    return PackedKV(groups, sum(p * n for p, n in slots.items()), fmt)


def preferred_block_size() -> int:
    """The block size vLLM sets when --block-size is not given (DEEPSEEK_SPARSE_SWA)."""
    return int(_facts()["preferred_block_size"])
