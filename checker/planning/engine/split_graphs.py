"""The CUDA-graph sizes of releases that split them into prefill token counts and decode
request counts (0.34.0 config/vllm.py VllmConfig._split_cudagraph_capture_sizes, with the grids
of config/compilation.py): what a server records in compilation_config.cudagraph_capture_sizes
after the shared sizes of _set_cudagraph_sizes are resolved."""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from checker.schemas.inputs import EngineInput


class SplitShape(NamedTuple):
    """What the split reads of one server besides its compilation config keys."""

    max_num_seqs: int
    max_num_batched_tokens: int
    query: int  # the target's uniform decode query length, 1 + num_speculative_tokens
    sm100: bool  # compute capability 10.x: wider default grids
    decode_only: bool  # FULL_DECODE_ONLY: no prefill (mixed) graphs
    interactivity: bool  # --performance-mode interactivity
    draft_decode: bool  # one-token draft decode steps with graphs of their own


def _walk_grid(limit: int, step: Callable[[int], float]) -> list[int]:
    """config/compilation.py _walk_grid: 1 .. ``limit``, each size the next multiple of the
    largest power of two not above step(size)."""
    grid, size = [], 1
    while size < limit:
        grid.append(size)
        stride = 1 << max(0, math.floor(math.log2(max(1.0, step(size)))))
        size = (size // stride + 1) * stride
    return [*grid, limit] if limit else []


def prefill_grid(max_tokens: int, dense_head: bool) -> list[int]:
    """prefill_cudagraph_capture_grid: 54 token counts at 8192; every count to 32 with
    ``dense_head`` (interactivity)."""
    grid = _walk_grid(max_tokens, lambda t: min(t, max(8, t / 4), 0.07 * max(t, 4096)))
    if dense_head:
        grid = sorted({*grid, *(t for t in range(1, 33) if t < max_tokens)})
    return grid


def decode_grid(max_requests: int) -> list[int]:
    """decode_cudagraph_capture_grid: 64 request counts at 1024."""
    return _walk_grid(max_requests, lambda n: 0.65 * n ** (2 / 3))


def decode_tokens(sizes: Iterable[int], query: int, max_reqs: int, max_tokens: int) -> set[int]:
    """The token counts of decode_cudagraph_capture_shapes' (requests, query) graphs: each
    request count up to the most requests and ``max_tokens`` allow, the first one past the
    limit captured at it."""
    ordered = sorted(set(sizes))
    limit = min(max_reqs, max_tokens // query)
    if limit < 1:
        return set()
    reachable = ordered[: bisect.bisect_left(ordered, limit) + 1]
    return {min(n, limit) * query for n in reachable}


def model_ceiling(eng: EngineInput, limit: int, tokens: int, query: int) -> EngineInput:
    """A model's own capture ceiling as 0.34 sets it where no capture size is given, off
    SM100 (model_executor/models/config.py GptOssForCausalLMConfig.verify_and_update_config):
    prefill sizes of the stride grid up to it (within max_num_batched_tokens) and that many
    tokens of decode requests, in place of 0.33's max_cudagraph_capture_size."""
    given = (
        eng.cudagraph_capture_sizes,
        eng.max_cudagraph_capture_size,
        eng.prefill_cudagraph_capture_token_sizes,
        eng.max_prefill_cudagraph_capture_tokens,
        eng.decode_cudagraph_capture_request_sizes,
        eng.max_decode_cudagraph_capture_requests,
    )
    if any(g is not None for g in given):
        return eng
    top = min(tokens, limit)
    grid = {1, 2, 4, *range(8, 256, 8), *range(256, limit, 16)}
    prefill = tuple(sorted({n for n in grid if n < top} | {top}))
    return eng.model_copy(
        update={
            "prefill_cudagraph_capture_token_sizes": prefill,
            "max_decode_cudagraph_capture_requests": limit // query,
        }
    )


def _explicit(sizes: Iterable[int], limit: int) -> list[int]:
    """Sizes given in the compilation config, those outside [1, limit] dropped (vLLM warns)."""
    return sorted({s for s in sizes if 1 <= s <= limit})


class GraphSizes(NamedTuple):
    """Token counts of the graphs the target captures, and of the drafter's one-token decode
    graphs (empty without them)."""

    target: tuple[int, ...]
    draft_decode: tuple[int, ...] = ()


class SplitKeys(NamedTuple):
    """The compilation config keys the split reads (EngineInput fields of the same names)."""

    cudagraph_capture_sizes: tuple[int, ...] | None
    max_cudagraph_capture_size: int | None
    prefill_cudagraph_capture_token_sizes: tuple[int, ...] | None
    max_prefill_cudagraph_capture_tokens: int | None
    decode_cudagraph_capture_request_sizes: tuple[int, ...] | None
    max_decode_cudagraph_capture_requests: int | None
    max_decode_cudagraph_capture_tokens: int | None


def split_graph_sizes(
    shared: tuple[int, ...], eng: EngineInput, shape: SplitShape, caps: dict[str, Any]
) -> GraphSizes:
    """``_split_sizes`` of the keys ``eng`` gives and the SM100 ceilings of ``caps``: every
    plan (and every TP tried) asks, and a fleet's servers share a few shapes."""
    keys = SplitKeys(*(getattr(eng, name) for name in SplitKeys._fields))
    return _split_sizes(
        shared,
        keys,
        shape,
        int(caps["sm100_decode_max_tokens"]),
        int(caps["sm100_prefill_max_tokens"]),
    )


@functools.lru_cache(maxsize=1024)  # pure, of small tuples
def _split_sizes(
    shared: tuple[int, ...],
    eng: SplitKeys,
    shape: SplitShape,
    sm100_decode_max_tokens: int,
    sm100_prefill_max_tokens: int,
) -> GraphSizes:
    """The captured graphs' token counts: prefill sizes (given, a grid up to
    max_prefill_cudagraph_capture_tokens, on SM100 by default up to
    ``sm100_prefill_max_tokens``, else the shared sizes), the target's decode request counts
    (given, a grid up to max_decode_cudagraph_capture_requests, on SM100 by default up to
    max_num_seqs, else the shared sizes in requests) times the query length within the decode
    token budget (on SM100 by default ``sm100_decode_max_tokens``); apart, the one-token draft
    decodes' request grid up to max_num_seqs (VllmConfig.get_draft_decode_cudagraph_request_
    sizes; vLLM records both in cudagraph_capture_sizes, the target captures the first).
    The deprecated cudagraph_capture_sizes / max_cudagraph_capture_size keep the shared
    defaults; with the split keys beside them vLLM keeps the shared sizes (or refuses
    them). Dynamic speculative decoding's query-length tiers and adaptive verification's
    graphs are not modelled."""
    legacy = eng.cudagraph_capture_sizes is not None or eng.max_cudagraph_capture_size is not None
    split = (
        eng.prefill_cudagraph_capture_token_sizes,
        eng.max_prefill_cudagraph_capture_tokens,
        eng.decode_cudagraph_capture_request_sizes,
        eng.max_decode_cudagraph_capture_requests,
    )
    uses_split = any(x is not None for x in split)
    if legacy and uses_split:
        return GraphSizes(shared)
    seqs, tokens, query = shape.max_num_seqs, shape.max_num_batched_tokens, shape.query
    wide = not legacy and shape.sm100
    decode_cap = eng.max_decode_cudagraph_capture_tokens or (
        sm100_decode_max_tokens if wide else None
    )
    prefill_sizes, max_prefill, decode_sizes, max_decode = split
    if prefill_sizes is not None:
        prefill = _explicit(prefill_sizes, tokens)
    elif max_prefill is not None or wide:
        top = sm100_prefill_max_tokens if max_prefill is None else max_prefill
        prefill = prefill_grid(min(top, tokens), shape.interactivity)
    else:
        prefill = list(shared)
    if decode_sizes is not None:
        decode = _explicit(decode_sizes, seqs)
    elif max_decode is not None or wide:
        decode = decode_grid(seqs if max_decode is None else min(max_decode, seqs))
    else:  # the shared sizes in requests, each rounded up to whole requests within their max
        top = shared[-1] if shared else 0
        requests = (-(-s // query) for s in shared)
        decode = sorted({min(n, seqs) for n in requests if n * query <= top})
    decode_max_tokens = min(tokens, decode_cap or tokens)
    sizes = decode_tokens(decode, query, seqs, decode_max_tokens)
    if not shape.decode_only or (legacy and not uses_split):
        sizes.update(prefill)
    draft: set[int] = set()
    if shape.draft_decode and decode:
        draft = decode_tokens(decode_grid(seqs), 1, seqs, decode_max_tokens)
    return GraphSizes(tuple(sorted(sizes)), tuple(sorted(draft)))
