"""KV bytes per head and token for each --kv-cache-dtype, and the attention backend a packed
dtype needs (checker/data/kv_cache_dtypes.yaml, which cites vLLM's layouts)."""

from __future__ import annotations

from typing import Any

from checker.schemas.model_info import LayerKind, ModelInfo
from checker.schemas.yaml_source import bundled_data

# bytes of one element of each dtype vLLM runs a model in
DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4}


def packed_dtypes() -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = bundled_data("kv_cache_dtypes.yaml")["dtypes"]
    return table


def element_bytes(kv_dtype: str, model_dtype: str) -> float:
    """Bytes of one cached element: the model dtype's at auto, 2 for 16-bit dtypes, else 1
    (fp8 variants, and the per-element part of the packed dtypes' integer layouts)."""
    if kv_dtype == "auto":
        return DTYPE_BYTES[model_dtype]
    return 2 if kv_dtype in ("float16", "bfloat16") else 1


def head_token_bytes(kv_dtype: str, head_dim: int, model_dtype: str) -> int:
    """K and V of one KV head for one token (AttentionSpec.state_content_size_bytes)."""
    packed = packed_dtypes().get(kv_dtype)
    if packed is None or packed["layout"] == "ds_mla":
        return int(2 * head_dim * element_bytes(kv_dtype, model_dtype))
    if packed["layout"] == "nvfp4":
        return 2 * (head_dim // 2 + head_dim // 16)
    return 2 * (head_dim * int(packed["bits"]) // 8 + int(packed["scale_bytes"]))


def mla_token_bytes(kv_dtype: str, latent: int, model_dtype: str) -> int:
    """One MLA layer's bytes per token: the latent (kv_lora_rank + rope dims) in the cache
    dtype, or fp8_ds_mla's fixed layout (MLAAttentionSpec)."""
    packed = packed_dtypes().get(kv_dtype)
    if packed is not None and packed["layout"] == "ds_mla":
        return int(packed["token_bytes"])
    return int(latent * element_bytes(kv_dtype, model_dtype))


def layer_page(
    model: ModelInfo, layer: int, *, kv_dtype: str, dtype: str, tp: int, block_size: int
) -> int:
    """Bytes of one block of one attention layer on one TP rank (AttentionSpec.page_size_bytes):
    the MLA latent, or K and V of the rank's KV heads (at least one: vLLM replicates them)."""
    if model.layer_kinds[layer] is LayerKind.MLA:
        latent = (model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)
        return block_size * mla_token_bytes(kv_dtype, latent, dtype)
    heads = max(1, model.kv_heads_of(layer) // tp)
    return block_size * heads * head_token_bytes(kv_dtype, model.head_dim_of(layer), dtype)


def backend_refusal(
    kv_dtype: str, *, uses_mla: bool, sparse_mla: bool, capability: int, head_dim: int
) -> str | None:
    """Why no attention backend takes a packed ``kv_dtype`` here (None when one does):
    each is listed by one backend family, on some GPUs."""
    packed = packed_dtypes().get(kv_dtype)
    if packed is None:
        return None
    backend, models = packed["backend"], packed["models"]
    if models == "gqa" and uses_mla:
        return f"no MLA backend accepts kv_cache_dtype {kv_dtype} (only {backend} does)"
    if models == "sparse_mla" and not sparse_mla:
        return (
            f"only sparse MLA backends ({backend}) accept kv_cache_dtype {kv_dtype}; "
            "this model has no sparse attention indexer (index_topk)"
        )
    major = capability // 10
    majors = packed["majors"]
    if majors is not None and major not in majors:
        shown = ", ".join(f"{m}.x" for m in majors)
        return f"{backend} takes kv_cache_dtype {kv_dtype} on compute capability {shown} only"
    if head_dim in (packed.get("head_sizes_refused") or {}).get(str(major), ()):
        return f"{backend} refuses kv_cache_dtype {kv_dtype} at head size {head_dim} on this GPU"
    return None


def skipped_layers(model: ModelInfo, entries: tuple[str, ...] | None) -> frozenset[int]:
    """The attention layers --kv-cache-dtype-skip-layers keeps in the model dtype: each layer
    whose index is listed, and every sliding-window layer for "sliding_window"
    (model_executor/layers/attention/attention.py Attention.__init__, and from 0.33.0
    mla_attention.py MLAAttention.__init__: kv_cache_dtype "auto" for them)."""
    if not entries:
        return frozenset()
    wanted = set(entries)
    return frozenset(
        i
        for i in model.kv_layers
        if str(i) in wanted
        or ("sliding_window" in wanted and model.layer_kinds[i] is LayerKind.SLIDING)
    )


def skip_layers_block_size(
    block: int, *, primary_page: int, skip_page: int, smallest_kernel_block: int
) -> int:
    """The block size once skipped layers share the block pool with a quantized KV cache
    (0.33.0 platforms/interface.py Platform._align_heterogeneous_kv_block_size): where a
    skipped layer's per-token page is larger than the primary's, the primary block grows, in
    steps of max(smallest kernel block, block size), until its page covers a skipped layer's
    page of the smallest kernel block."""
    if skip_page <= primary_page:
        return block
    alignment = max(smallest_kernel_block, block)
    required = skip_page * smallest_kernel_block
    return max(block, alignment * -(-required // (alignment * primary_page)))
