"""The drafter of speculative decoding on the GPU: its weights, its KV cache layers and its
profile-run activations, on the last pipeline rank where vLLM builds it
(v1/worker/gpu_model_runner.py GPUModelRunner.__init__: the drafter exists only where
get_pp_group().is_last_rank)."""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour
from checker.planning.engine.settings import Settings, evolve
from checker.planning.kvcache.deepseek_v4 import mtp_weight_bytes
from checker.planning.kvcache.kv_dtypes import element_bytes, layer_page
from checker.planning.memory.weights import expert_share, stage_weight_bytes
from checker.schemas.model_info import LayerKind, ModelInfo

_NO_CACHE = (LayerKind.NONE, LayerKind.LINEAR)


def drafter(settings: Settings, stage: int) -> ModelInfo | None:
    """The drafter this rank holds (None off the last stage, for n-gram and unsized methods)."""
    spec = settings.spec
    if spec is None or spec.draft is None or stage != settings.pp - 1:
        return None
    return spec.draft


def draft_settings(settings: Settings) -> Settings:
    """The settings the drafter loads and runs with: its own TP (1 or the target's), no pipeline
    split, its own quantization (MTP layers follow the target's: SpeculativeConfig aligns
    them), expert parallel only if it has experts (create_draft_parallel_config), no offload,
    no LoRA, its KV dtype the target's unless the config names one."""
    spec = settings.spec
    assert spec is not None and spec.draft is not None
    quant = spec.quantization
    if spec.kind == "mtp" and quant is None:
        quant = settings.quantization
    kv_dtype = spec.config.get("kv_cache_dtype")
    kv_dtype = kv_dtype if isinstance(kv_dtype, str) else settings.kv_cache_dtype
    # a draft TP vLLM refuses (VW125) is sized at the target's
    tp = spec.draft_tp if spec.draft_tp in (1, settings.tp) else settings.tp
    return evolve(
        settings,
        tp=tp,
        pp=1,
        quantization=quant,
        cpu_offload_bytes=0.0,
        lora_slots=0,
        expert_parallel=settings.expert_parallel and spec.draft.is_moe,
        kv_cache_dtype=kv_dtype,
        kv_bytes=element_bytes(kv_dtype, settings.dtype),
        spec=None,
    )


def draft_weight_bytes(settings: Settings, stage: int) -> float:
    """Bytes of drafter weights one rank of ``stage`` loads: counted in "Model loading took"
    (the drafter loads inside the same DeviceMemoryProfiler as the target)."""
    model = drafter(settings, stage)
    if model is None:
        return 0.0
    ds = draft_settings(settings)
    if model.compressed_attention is not None:  # DeepSeek-V4's MTP layers
        return mtp_weight_bytes(
            model,
            model.num_hidden_layers,
            tp=ds.tp,
            local_experts=model.num_experts * expert_share(model, ds),
            dtype_bytes=ds.dtype_bytes,
        )
    return stage_weight_bytes(model, ds, 0)


def draft_layer_specs(settings: Settings, stage: int) -> list[tuple[LayerKind, int]]:
    """(kind, page bytes) of each drafter attention layer on this rank, each of its own kind
    (a Gemma-3 draft's sliding-window layers stay SLIDING); an indexer's key cache is one
    more MLA page. DeepSeek-V4's MTP caches join its packed layout instead (kv.py)."""
    model = drafter(settings, stage)
    if model is None or model.compressed_attention is not None:
        return []
    ds = draft_settings(settings)
    # the target's cache format (sparse FlashMLA's fp8_ds_mla) when the drafter keeps its dtype
    same = ds.kv_cache_dtype == settings.kv_cache_dtype
    kv_dtype = (settings.kv_storage_dtype if same else "") or ds.kv_cache_dtype
    pages: list[tuple[LayerKind, int]] = []
    for layer, kind in enumerate(model.layer_kinds):
        if kind in _NO_CACHE:
            continue
        page = layer_page(
            model,
            layer,
            kv_dtype=kv_dtype,
            dtype=ds.dtype,
            tp=ds.tp,
            block_size=settings.block_size,
        )
        pages.append((kind, page))
        if kind is LayerKind.MLA and model.indexer_token_bytes:
            # DeepSeek-V3.2's MTP layer is a DeepseekV2DecoderLayer with its own indexer
            # (deepseek_mtp.py DeepSeekMultiTokenPredictorLayer)
            pages.append((LayerKind.MLA, settings.block_size * model.indexer_token_bytes))
    return pages


def draft_pages(settings: Settings, stage: int) -> list[tuple[LayerKind, int, int]]:
    """(kind, page bytes, window) of each drafter attention layer on this rank as the KV sizing
    counts them. They join the KV cache groups of the target (SpecDecodeBaseProposer.load_model
    marks them draft layers; their KV cache specs are allocated with the target's), each with
    the spec its attention layer gives (Attention.get_kv_cache_spec, read for the drafter as
    for the target: GPUModelRunner.get_kv_cache_spec in 0.19.0, v1/worker/gpu/attn_utils.py
    get_kv_cache_spec in Model Runner V2 of 0.33.0): a sliding-window layer is a
    SlidingWindowSpec of the drafter's own window, a chunked one a ChunkedLocalAttentionSpec.
    Without the hybrid KV cache manager every layer is full attention
    (unify_hybrid_kv_cache_specs). Window 0: none (full attention or MLA)."""
    model = drafter(settings, stage)
    if model is None:
        return []
    windows = {
        LayerKind.SLIDING: model.sliding_window or 0,
        LayerKind.CHUNKED: model.attention_chunk_size or 0,
    }
    pages: list[tuple[LayerKind, int, int]] = []
    for kind, page in draft_layer_specs(settings, stage):
        window = windows.get(kind, 0) if settings.hybrid_kv else 0
        if kind is LayerKind.MLA:
            pages.append((kind, page, 0))
        else:
            pages.append((kind if window else LayerKind.FULL, page, window))
    return pages


def draft_layer_count(settings: Settings, stage: int) -> int:
    model = drafter(settings, stage)
    return model.num_hidden_layers if model is not None else 0


def draft_outside_budget(settings: Settings, stage: int) -> float:
    """Drafter weights on this rank that vLLM's KV budget does not subtract: the V0 engine's
    from 0.7.0 (vllm_messages.yaml behaviour v0_draft_weights_outside_budget), which the
    device then holds beside utilization x total."""
    if not settings.is_v0 or not has_behaviour(
        "v0_draft_weights_outside_budget", settings.facts.version
    ):
        return 0.0
    return draft_weight_bytes(settings, stage)
