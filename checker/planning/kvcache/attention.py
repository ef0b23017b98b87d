"""The MLA attention backend vLLM picks on a GPU and the KV block size it forces
(checker/data/attention_backends.yaml, which cites vLLM's selection code)."""

from __future__ import annotations

from typing import Any

from checker.planning.engine.releases import has_behaviour, pick
from checker.schemas.yaml_source import bundled_data


def _table() -> dict[str, Any]:
    table: dict[str, Any] = bundled_data("attention_backends.yaml")["mla"]
    return table


def vllm_default_block_size(version: str) -> int:
    """CacheConfig.DEFAULT_BLOCK_SIZE of ``version``: 16, 64 from 0.34."""
    table: dict[str, Any] = bundled_data("attention_backends.yaml")["default_block_size"]
    return int(pick(table, version) or 16)


def mla_backend(
    capability: int, kv_cache_dtype: str, qk_nope_head_dim: int | None, version: str
) -> str | None:
    """The dense MLA backend of the release's CUDA priority list whose checks pass on a GPU of
    ``capability`` (86, 90, 100...); None before the first release line we read."""
    priorities = pick(_table()["priorities"], version)
    if priorities is None:
        return None
    major = str(capability // 10)
    for name in priorities.get(major, priorities["other"]):
        facts = _table()["backends"][name]
        majors = facts["majors"]
        if majors is not None and capability // 10 not in majors:
            continue
        if kv_cache_dtype not in facts["kv_cache_dtypes"]:
            continue
        dims = facts.get("qk_nope_head_dims")
        if dims is not None and qk_nope_head_dim not in dims:
            continue
        return str(name)
    return None


def sparse_mla_backend(
    capability: int, kv_cache_dtype: str, heads_per_rank: int, version: str
) -> str | None:
    """The sparse MLA backend (models with a sparse attention indexer) of the release's CUDA
    priority list whose checks pass; None on a GPU without one, or before our table."""
    priorities = pick(_table()["sparse_priorities"], version)
    if priorities is None:
        return None
    lists = priorities.get(str(capability // 10), {})
    if kv_cache_dtype not in ("auto", "float16", "bfloat16"):
        names = lists.get("quantized", lists.get("other", []))
    elif heads_per_rank <= 16:
        names = lists.get("few_heads", lists.get("other", []))
    else:
        names = lists.get("other", [])
    for name in names:
        facts = _table()["backends"][name]
        if capability // 10 in facts["majors"] and kv_cache_dtype in facts["kv_cache_dtypes"]:
            return str(name)
    return None


def stored_kv_dtype(backend: str | None, kv_cache_dtype: str) -> str:
    """The cache format ``backend`` keeps a --kv-cache-dtype in (sparse FlashMLA stores fp8
    as fp8_ds_mla); the dtype itself for every other backend."""
    if backend is None:
        return kv_cache_dtype
    stores: dict[str, str] = _table()["backends"][backend].get("stores") or {}
    return stores.get(kv_cache_dtype, kv_cache_dtype)


def smallest_kernel_block(backend: str) -> int:
    """The smallest block ``backend``'s kernel takes (min of get_supported_kernel_block_sizes,
    a MultipleOf's base), as Platform._align_heterogeneous_kv_block_size reads it."""
    sizes = _table()["backends"][backend]["block_sizes"]
    if isinstance(sizes, dict):
        return int(sizes["multiple_of"])
    return min(int(s) for s in sizes)


def preferred_block_size(backend: str, version: str) -> int:
    """AttentionBackend.get_preferred_block_size(DEFAULT_BLOCK_SIZE): the release's default
    when the kernel takes it, else its smallest kernel block size."""
    default = vllm_default_block_size(version)
    sizes = _table()["backends"][backend]["block_sizes"]
    if isinstance(sizes, dict):
        multiple = int(sizes["multiple_of"])
        return default if default % multiple == 0 else multiple
    return default if default in sizes else min(int(s) for s in sizes)


def default_block_size(
    *,
    uses_mla: bool,
    sparse_mla: bool = False,
    heads_per_rank: int = 0,
    hybrid: bool,
    vendor: str,
    capability: int,
    kv_cache_dtype: str,
    qk_nope_head_dim: int | None,
    version: str,
    older_mla_block_size: int | None,
) -> tuple[int, str | None]:
    """The KV block size vLLM runs with when --block-size is not given, and the MLA backend
    that forced it: the release's default (16; 64 from 0.34), or for MLA the selected
    backend's preferred size (FlashMLA 64, FlashInfer MLA 32 then 64, CUTLASS MLA 128), or the
    version table's figure (``older_mla_block_size``) for releases before our backend table.
    0.19 keeps the default for hybrid models (Platform.update_block_size_for_backend); ROCm's
    MLA backends are not modelled (the default).
    A sparse MLA model (``sparse_mla``) takes a sparse backend, chosen by the cache dtype
    and its ``heads_per_rank`` (FlashMLA sparse 64, FlashInfer sparse 32)."""
    default = vllm_default_block_size(version)
    if not uses_mla:
        return default, None
    if older_mla_block_size is not None:
        return older_mla_block_size, None
    if sparse_mla:
        backend = sparse_mla_backend(capability, kv_cache_dtype, heads_per_rank, version)
    else:
        backend = mla_backend(capability, kv_cache_dtype, qk_nope_head_dim, version)
    backend_for_hybrids = has_behaviour("hybrid_alignment_from_backend", version)
    if backend is None or vendor != "nvidia" or (hybrid and not backend_for_hybrids):
        return default, None
    return preferred_block_size(backend, version), backend
