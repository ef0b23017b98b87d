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

import functools
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from checker.planning.engine.releases import pick
from checker.schemas.model_info import CompressedAttention, ModelInfo
from checker.schemas.yaml_source import bundled_data


def _facts() -> dict[str, Any]:
    facts: dict[str, Any] = bundled_data("deepseek_v4.yaml")
    return facts


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(value: int, multiple: int) -> int:
    return _cdiv(value, multiple) * multiple


class CacheSpec(NamedTuple):
    """One registered cache: an MLAAttentionSpec (window 0) or a SlidingWindowMLASpec."""

    name: str
    block_size: int
    window: int  # 0: full attention (every token of a request, compressed)
    page_bytes: int  # after the alignment padding

    def pages_per_request(self, length: int, in_flight_tokens: int) -> int:
        """FullAttentionSpec / SlidingWindowSpec.max_memory_usage_bytes over the page size
        (``in_flight_tokens``: what a window reserves beyond itself, Settings.in_flight_batches
        batches)."""
        if not self.window:
            return _cdiv(length, self.block_size)
        span = min(self.window - 1 + in_flight_tokens, length)
        return _cdiv(span, self.block_size) + 1  # the window straddles block edges


class CacheGroup(NamedTuple):
    """One KV cache group: a UniformTypeKVCacheSpecs of specs with one block table."""

    specs: tuple[CacheSpec, ...]

    @property
    def page_bytes(self) -> int:
        return sum(s.page_bytes for s in self.specs)

    def pages_per_request(self, length: int, in_flight_tokens: int) -> int:
        """UniformTypeKVCacheSpecs.max_memory_usage_pages."""
        return max(s.pages_per_request(length, in_flight_tokens) for s in self.specs)

    @property
    def layer_tuples(self) -> int:
        """UniformTypeKVCacheSpecs.get_num_layer_tuples: the commonest page size's count."""
        return Counter(s.page_bytes for s in self.specs).most_common(1)[0][1]


class PackedKV(NamedTuple):
    """The groups of one rank and the bytes one block index takes across all of them."""

    groups: tuple[CacheGroup, ...]
    block_bytes: int  # what one block index costs in the pool
    cache_dtype: str  # "fp8_ds_mla" or the element dtype the rows are stored in
    # 0.33.0's rules (v1/core/kv_cache_planning.py): a block the widest group's pages, a
    # request the sum of every group's pages; False: 0.25.0's (kv_cache_utils.py)
    by_type: bool = False

    def blocks_per_request(self, length: int, in_flight_tokens: int) -> int:
        """get_max_concurrency_for_kv_cache_config's divisor. 0.25.0: every group's pages
        for one request over the first group's block (the layer count it multiplies both by
        cancels); 0.33.0: the sum of every group's pages."""
        if self.by_type:
            return sum(g.pages_per_request(length, in_flight_tokens) for g in self.groups)
        needed = sum(
            g.pages_per_request(length, in_flight_tokens) * g.page_bytes for g in self.groups
        )
        return _cdiv(needed, self.groups[0].page_bytes)

    def bytes_for_length(self, length: int, in_flight_tokens: int) -> int:
        """_max_memory_usage_bytes_from_groups (the one-request check and the max_model_len
        estimate). 0.25.0: every group reserves the most layer tuples of any group, each
        tuple the sum of the first group's distinct page sizes; 0.33.0: a block for each of
        the request's pages in every group."""
        if self.by_type:
            return self.block_bytes * self.blocks_per_request(length, in_flight_tokens)
        tuple_bytes = sum({s.page_bytes for s in self.groups[0].specs})
        tuples = max(g.layer_tuples for g in self.groups)
        return sum(
            tuples * g.pages_per_request(length, in_flight_tokens) * tuple_bytes
            for g in self.groups
        )

    def groups_holding(self, layers: Sequence[int]) -> int:
        """How many groups hold a cache of ``layers`` (vLLM tells layers apart by name)."""
        prefixes = tuple(f"layers.{i}." for i in layers)
        return sum(any(s.name.startswith(prefixes) for s in g.specs) for g in self.groups)

    @property
    def max_group_layers(self) -> int:
        return max(len(g.specs) for g in self.groups)


def cache_dtype(kv_cache_dtype: str) -> tuple[str, int]:
    """(the cache format, bytes of one stored element) for --kv-cache-dtype: fp8 is kept as
    fp8_ds_mla (attention.py _resolve_dsv4_kv_cache_dtype); any other dtype as plain rows,
    which only FLASHINFER_MLA_SPARSE_DSV4 stores (the default classes assert fp8, VW149)."""
    if kv_cache_dtype.startswith("fp8"):
        return "fp8_ds_mla", 1
    return kv_cache_dtype, 2


def layout_error(
    attn: CompressedAttention, block_size: int, kv_cache_dtype: str, version: str
) -> str | None:
    """Why vLLM ``version`` cannot build DeepSeek-V4's KV cache with these settings, or None:
    the fp8_ds_mla layout asserts an fp8 cache (attention.py _resolve_dsv4_kv_cache_dtype);
    the kernels take multiples of 64 tokens (32 from 0.33.0; sparse_swa.py
    get_supported_kernel_block_sizes); a block must hold one compressed token of every
    ratio; and before 0.33.0 no sliding-window or state page may exceed the largest full-MLA
    page (kv_cache_utils.py _get_kv_cache_groups_uniform_groups asserts it)."""
    f, facts = _facts(), release_facts(version)
    if not kv_cache_dtype.startswith("fp8"):
        return str(f["fp8_ds_mla_error"]).format(dtype=kv_cache_dtype)
    multiple = int(facts["kernel_multiple"])
    if block_size % multiple:
        return f"block size {block_size} is not a multiple of {multiple} (the kernels' sizes)"
    largest = max(attn.ratios)
    if block_size < largest:
        return f"a block of {block_size} tokens holds no compressed token of ratio {largest}"
    if facts["grouping"] == "by_type":
        return None
    specs = layer_specs(attn, range(len(attn.ratios)), block_size, "fp8_ds_mla", 1, version)
    full = max(s.page_bytes for s in specs if not s.window)
    sliding = max(s.page_bytes for s in specs if s.window)
    if sliding > full:
        return (
            f"AssertionError in _get_kv_cache_groups_uniform_groups: a sliding-window page of "
            f"{sliding} bytes exceeds the largest full-MLA page ({full}) at block size "
            f"{block_size}"
        )
    return None


def release_facts(version: str) -> dict[str, Any]:
    """The layout facts of the release ``version`` falls in (deepseek_v4.yaml releases)."""
    facts: dict[str, Any] | None = pick(_facts()["releases"], version)
    assert facts is not None  # the table starts at 0.0.0
    return facts


def layout_read_for(version: str) -> bool:
    """Whether this layout was read from ``version``'s source (else it is 0.25.0's)."""
    return bool(release_facts(version)["read"])


def _page(stored_tokens: int, row_bytes: int, multiple: int) -> int:
    """A page of ``stored_tokens`` rows, padded to ``multiple`` bytes (0: not padded;
    kv_cache_interface.py _apply_alignment_padding)."""
    raw = stored_tokens * row_bytes
    return _round_up(raw, multiple) if multiple else raw


def layer_ratio(attn: CompressedAttention, layer: int) -> int:
    """A layer's compression ratio: the config's, or 1 for a layer numbered past the target's
    (an MTP layer: attention.py DeepseekV4Attention.__init__ reads compress_ratios only below
    num_hidden_layers)."""
    return attn.ratios[layer] if layer < len(attn.ratios) else 1


def mtp_layer_numbers(attn: CompressedAttention, count: int) -> range:
    """The layer numbers of ``count`` MTP layers: after the target's (nvidia/mtp.py
    DeepSeekV4MultiTokenPredictor: mtp_start_layer_idx = num_hidden_layers)."""
    return range(len(attn.ratios), len(attn.ratios) + count)


def layer_specs(
    attn: CompressedAttention,
    layers: Sequence[int],
    block_size: int,
    fmt: str,
    element_bytes: int,
    version: str,
) -> list[CacheSpec]:
    """The caches of ``layers`` in the order vLLM registers them (the order its grouping
    reads them in)."""
    f = _facts()
    if fmt == "fp8_ds_mla":
        align = index_align = int(f["fp8_ds_mla_alignment"])
    else:
        facts = release_facts(version)
        align, index_align = int(facts["plain"]), int(facts["plain_indexer"])
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
        state_block = int(comp["block_sizes"][str(ratio)])
        width = 2 * coff * head_dim * int(comp["state_dtype_bytes"])
        return CacheSpec(name, state_block, coff * ratio, _page(state_block, width, align))

    specs: list[CacheSpec] = []
    for i in layers:
        ratio, prefix = layer_ratio(attn, i), f"layers.{i}.attn"
        if ratio == int(idx["ratio"]):
            stored = block_size // ratio
            specs.append(
                CacheSpec(
                    f"{prefix}.indexer.k_cache",
                    block_size,
                    0,
                    _page(stored, index_row, index_align),
                )
            )
            specs.append(
                state(f"{prefix}.indexer.compressor.state_cache", ratio, attn.index_head_dim)
            )
        specs.append(
            CacheSpec(
                f"{prefix}.swa_cache", swa_block, attn.sliding_window, _page(swa_block, row, align)
            )
        )
        if ratio > 1:
            specs.append(CacheSpec(prefix, block_size, 0, _page(block_size // ratio, row, align)))
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


def group_specs_by_type(specs: list[CacheSpec]) -> tuple[CacheGroup, ...]:
    """0.33.0's v1/core/kv_cache_planning.py _get_packed_kv_cache_groups: buckets of one
    type (block size and window), those with as many layers of each page size split into
    groups of a common number of pattern repeats (_approximate_gcd, at least the largest
    mixed-size bucket's), pages unpadded."""
    buckets: dict[tuple[int, int], list[CacheSpec]] = defaultdict(list)
    for s in specs:
        buckets[(s.block_size, s.window)].append(s)
    shapes = []
    for members in buckets.values():
        per_page: dict[int, list[CacheSpec]] = defaultdict(list)
        for s in members:
            per_page[s.page_bytes].append(s)
        balanced = len({len(v) for v in per_page.values()}) == 1
        shapes.append((per_page, balanced, max(len(v) for v in per_page.values())))
    floor = max((most for per_page, bal, most in shapes if bal and len(per_page) > 1), default=0)
    repeats = (
        approximate_gcd([most for _, bal, most in shapes if bal], lower_bound=floor)
        if floor
        else None
    )

    def splits(balanced: bool, most: int) -> int:
        return _cdiv(most, repeats) if balanced and repeats is not None else 1

    def widest(per_page: dict[int, list[CacheSpec]], n: int) -> int:
        return sum(_cdiv(len(v), n) * page for page, v in per_page.items())

    def is_state(window: int) -> bool:
        # unsplit sliding-window buckets are state buckets when no pattern repeats
        return repeats is None and window > 0

    keys = list(buckets)
    anchor = max(
        widest(per_page, len(buckets[key]) if is_state(key[1]) else splits(bal, most))
        for key, (per_page, bal, most) in zip(keys, shapes, strict=True)
    )
    groups: list[CacheGroup] = []
    for key, (per_page, bal, most) in zip(keys, shapes, strict=True):
        n = splits(bal, most)
        if is_state(key[1]):  # at most the states one block already holds
            per_block = max(anchor // buckets[key][0].page_bytes, 1)
            n = max(n, _cdiv(len(buckets[key]), per_block))
        if n == 1:
            groups.append(CacheGroup(tuple(buckets[key])))
            continue
        pattern = list(zip(*per_page.values(), strict=False))
        groups.extend(CacheGroup(tuple(s for t in pattern[i::n] for s in t)) for i in range(n))
    return tuple(groups)


def packed_kv(
    attn: CompressedAttention,
    layers: Sequence[int],
    *,
    block_size: int,
    kv_cache_dtype: str,
    version: str,
) -> PackedKV:
    """The packed KV layout of the ``layers`` one rank holds under vLLM ``version`` (an MTP
    drafter's layers after the target's: the proposer's caches are specs of the same
    KV cache config, registered after the target's)."""
    fmt, element_bytes = cache_dtype(kv_cache_dtype)
    specs = layer_specs(attn, layers, block_size, fmt, element_bytes, version)
    if release_facts(version)["grouping"] == "by_type":
        # _get_kv_cache_bytes_per_block: the widest group (no stride alignment is declared)
        groups = group_specs_by_type(specs)
        return PackedKV(groups, max(g.page_bytes for g in groups), fmt, by_type=True)
    groups = group_specs(specs)
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


class WeightShape(NamedTuple):
    """The model-wide figures DeepSeek-V4's weights are built from (ModelInfo's fields)."""

    hidden: int
    heads: int
    q_lora_rank: int
    vocab: int
    experts: int
    moe_intermediate: int
    top_k: int
    rope_dim: int


@functools.cache  # read for every linear of every layer
def _fp8_block() -> tuple[int, int]:
    """(the fp8 block edge, the bytes of one block's scale)."""
    w = _facts()["weights"]
    return int(w["fp8_block"]), int(w["fp8_scale_bytes"])


def _fp8(rows_in: int, cols_out: int) -> int:
    """A block-fp8 linear: one byte a weight and a float32 scale per 128 x 128 block."""
    block, scale = _fp8_block()
    return rows_in * cols_out + _cdiv(rows_in, block) * _cdiv(cols_out, block) * scale


def layer_weight_bytes(
    attn: CompressedAttention,
    shape: WeightShape,
    layer: int,
    *,
    tp: int,
    local_experts: float,
    dtype_bytes: int,
) -> float:
    """One decoder layer's bytes on a rank (nvidia/model.py DeepseekV4DecoderLayer)."""
    w = _facts()["weights"]
    f32 = int(w["fp32_bytes"])
    h, d, q, ratio = shape.hidden, attn.head_dim, shape.q_lora_rank, layer_ratio(attn, layer)
    heads_dim = shape.heads * d
    # attention.py DeepseekV4Attention: fused_wqa_wkv replicated; wq_b, wo_a (column) and wo_b
    # (row) split over TP; q_norm, kv_norm, attn_norm, ffn_norm; one fp32 sink a local head
    total: float = _fp8(h, q) + _fp8(h, d)
    total += _fp8(q, heads_dim // tp) + _fp8(
        heads_dim // attn.o_groups, attn.o_groups * attn.o_lora_rank // tp
    )
    total += _fp8(attn.o_groups * attn.o_lora_rank // tp, h)
    total += (q + d + 2 * h) * dtype_bytes + shape.heads // tp * f32

    def compressor(head_dim: int) -> int:
        # compressor.py DeepseekCompressor: fused_wkv_wgate unquantized and replicated, the
        # fp32 ape, the norm
        coff = 2 if ratio == int(_facts()["compressor"]["overlapping_ratio"]) else 1
        return (
            h * 2 * coff * head_dim * dtype_bytes
            + ratio * coff * head_dim * f32
            + head_dim * dtype_bytes
        )

    if ratio > 1:
        total += compressor(d)
    if ratio == int(_facts()["indexer"]["ratio"]):
        # DeepseekV4Indexer: wq_b (fp8) and weights_proj (unquantized) replicated, its compressor
        total += _fp8(q, attn.index_n_heads * attn.index_head_dim)
        total += h * attn.index_n_heads * dtype_bytes + compressor(attn.index_head_dim)
    # DeepseekV4MoE: the gate, then the hash table or the correction bias
    total += h * shape.experts * dtype_bytes
    if layer < attn.hash_layers:
        total += shape.vocab * shape.top_k * int(w["hash_index_bytes"])
    else:
        total += shape.experts * f32
    # the shared experts (DeepseekV4MLP): intermediate rounded to whole 128-blocks per rank
    block = int(w["fp8_block"])
    inter = _cdiv(shape.moe_intermediate * attn.shared_experts // block, tp) * block
    if attn.shared_experts:
        total += _fp8(h, 2 * inter) + _fp8(inter, h)
    # routed experts: MXFP4 (values and ue8m0 scales) or block fp8
    i = shape.moe_intermediate
    if attn.expert_dtype == "fp4":
        group = int(w["mxfp4_group"])
        per_expert = 3 * h * i // 2 + 3 * h * i // group
    else:
        per_expert = _fp8(h, 2 * i) + _fp8(i, h)
    total += local_experts * per_expert
    # hyper-connections: the attention and FFN mixers, bases and scales, fp32
    mix, width = (2 + attn.hc_mult) * attn.hc_mult, attn.hc_mult * h
    total += 2 * (mix * width + mix + 3) * f32
    return float(total)


def _weight_shape(model: ModelInfo) -> tuple[CompressedAttention, WeightShape]:
    attn = model.compressed_attention
    assert attn is not None and model.q_lora_rank and model.qk_rope_head_dim
    return attn, WeightShape(
        hidden=model.hidden_size,
        heads=model.num_attention_heads,
        q_lora_rank=model.q_lora_rank,
        vocab=model.vocab_size,
        experts=model.num_experts,
        moe_intermediate=model.moe_intermediate_size,
        top_k=model.num_experts_per_tok,
        rope_dim=model.qk_rope_head_dim,
    )


def _hc_head_bytes(attn: CompressedAttention, hidden: int) -> int:
    """hc_head_fn [hc_mult, hc_mult x hidden], hc_head_base and hc_head_scale, all fp32."""
    f32 = int(_facts()["weights"]["fp32_bytes"])
    return (attn.hc_mult * attn.hc_mult * hidden + attn.hc_mult + 1) * f32


def mtp_weight_bytes(
    model: ModelInfo, count: int, *, tp: int, local_experts: float, dtype_bytes: int
) -> float:
    """Bytes ``count`` MTP layers of ``model`` add on the last rank ('Model loading took':
    the drafter loads inside the target's DeviceMemoryProfiler). nvidia/mtp.py
    DeepSeekV4MultiTokenPredictorLayer: a DeepseekV4DecoderLayer numbered after the target's
    (compress ratio 1, routed by its gate), e_proj and h_proj (block-fp8 ReplicatedLinear),
    enorm, hnorm and the shared head's norm, its own hyper-connection head (fp32). Its
    embedding, LM head and top-k buffer are freed for the target's once loaded
    (v1/spec_decode/llm_base_proposer.py _maybe_share_embeddings, _maybe_share_lm_head)."""
    attn, shape = _weight_shape(model)
    h = shape.hidden
    own = 2 * _fp8(h, h) + 3 * h * dtype_bytes
    own += _hc_head_bytes(attn, h)
    return sum(
        layer_weight_bytes(
            attn, shape, i, tp=tp, local_experts=local_experts, dtype_bytes=dtype_bytes
        )
        + own
        for i in mtp_layer_numbers(attn, count)
    )


def deepseek_v4_weight_bytes(
    model: ModelInfo,
    layers: range,
    *,
    tp: int,
    local_experts: float,
    dtype_bytes: int,
    max_num_batched_tokens: int,
    first: bool,
    last: bool,
) -> float:
    """Bytes one rank holds once the model is built ('Model loading took'): its layers, the
    embedding (first pipeline rank), the norm, LM head and MTP hidden buffer (last), and on
    every rank the hyper-connection head, the indexer's top-k buffer and the YaRN caches
    (nvidia/model.py DeepseekV4Model / DeepseekV4ForCausalLM). ``local_experts``: the routed
    experts one rank holds, a fraction where each is TP-sharded."""
    attn, shape = _weight_shape(model)
    w = _facts()["weights"]
    f32 = int(w["fp32_bytes"])
    h = shape.hidden
    total = _layers_weight_bytes(attn, shape, layers, tp, local_experts, dtype_bytes)
    # VocabParallelEmbedding / ParallelLMHead: rows padded to 64, split over TP
    rows = _cdiv(_round_up(shape.vocab, 64), tp)
    if first:
        total += rows * h * dtype_bytes
    if last:
        total += rows * h * dtype_bytes + h * dtype_bytes
        total += max_num_batched_tokens * attn.hc_mult * h * dtype_bytes
    total += _hc_head_bytes(attn, h)
    total += max_num_batched_tokens * attn.index_topk * int(w["topk_index_bytes"])
    total += int(w["rope_caches"]) * attn.rope_positions * shape.rope_dim * f32
    return total


@functools.lru_cache(maxsize=256)  # pure; a plan asks for each stage's several times
def _layers_weight_bytes(
    attn: CompressedAttention,
    shape: WeightShape,
    layers: range,
    tp: int,
    local_experts: float,
    dtype_bytes: int,
) -> float:
    """The decoder layers ``layers``' bytes on one rank (layer_weight_bytes of each)."""
    return sum(
        layer_weight_bytes(
            attn, shape, i, tp=tp, local_experts=local_experts, dtype_bytes=dtype_bytes
        )
        for i in layers
    )


def profile_reservations(
    attn: CompressedAttention, *, max_model_len: int, max_num_batched_tokens: int
) -> tuple[float, float]:
    """(the workspace the profile run leaves reserved, the indexer's dummy logits on top of
    it) in bytes, for DeepSeek-V4's FlashMLA path (checker/data/deepseek_v4.yaml profile)."""
    p = _facts()["profile"]
    workspace = 0
    for ratio in set(attn.ratios):
        rows = (max_model_len + ratio - 1) // ratio if ratio > 1 else 0
        rows += attn.sliding_window + max_num_batched_tokens
        workspace = max(workspace, int(p["prefill_chunk"]) * rows * attn.head_dim * 2)
    if int(_facts()["indexer"]["ratio"]) in attn.ratios:
        rows = max_model_len * int(p["indexer_rows_per_token"]) // int(_facts()["indexer"]["ratio"])
        gather = rows * (attn.index_head_dim + int(p["indexer_scale_bytes"]))
        workspace = max(workspace, gather + int(p["radix_topk_bytes"]))
        return float(workspace), float(int(p["logits_mib"]) << 20)
    return float(workspace), 0.0


def _cache_kind(spec: CacheSpec) -> str:
    if spec.name.endswith("state_cache"):
        return "compressor states"
    if spec.name.endswith("k_cache"):
        return "indexer keys"
    if spec.name.endswith("swa_cache"):
        return "sliding-window caches"
    return "compressed MLA caches"


def explain_costs(packed: PackedKV, *, length: int, in_flight: int) -> str:
    """What one request of ``length`` tokens costs in the packed pool, and the share of its
    bytes each kind of cache takes (for --explain)."""
    by_kind: dict[str, int] = defaultdict(int)
    for g in packed.groups:
        pages = g.pages_per_request(length, in_flight)
        for s in g.specs:
            by_kind[_cache_kind(s)] += pages * s.page_bytes
    total = sum(by_kind.values()) or 1
    shares = ", ".join(f"{kind} {bytes_ / total:.1%}" for kind, bytes_ in by_kind.items())
    blocks = packed.blocks_per_request(length, in_flight)
    return (
        f"{len(packed.groups)} KV cache groups share one packed block of "
        f"{packed.block_bytes:,} bytes ({packed.cache_dtype}); a {length:,}-token request "
        f"takes {blocks:,} blocks; its bytes: {shares} (kv_cache_utils.py "
        "get_max_concurrency_for_kv_cache_config)"
    )
