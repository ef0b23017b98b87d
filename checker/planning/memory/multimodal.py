"""The vision tower of a multimodal model: its weights per rank and vLLM's encoder profile run.

vLLM V1 profiles a multimodal model by first encoding a batch of maximum-size items that fills
the encoder budget, keeping their embeddings in the encoder cache while the text dummy run and
the sampler run (v1/worker/gpu_model_runner.py GPUModelRunner.profile_run). The budget and item
counts follow multimodal/encoder_budget.py MultiModalBudget and
v1/core/encoder_cache_manager.py compute_mm_encoder_budget; the per-family facts (tokens per
item, tensors alive in one encoder layer) are in checker/data/vllm_multimodal.yaml with their
sources. The encoder peak is a runtime estimate; the item counts and token budgets are exact.
"""

from __future__ import annotations

import math
import re
from dataclasses import field
from fnmatch import fnmatch
from typing import TYPE_CHECKING, Any, NamedTuple

from checker.planning.engine.releases import build_has, has_behaviour
from checker.planning.memo import ByIdentity
from checker.planning.memory.quant_bits import bits_per_weight
from checker.schemas.inputs import EngineInput, PlanRequest
from checker.schemas.lazy_dataclass import lazy_dataclass
from checker.schemas.model_info import ModelInfo, VisionInfo
from checker.schemas.yaml_source import bundled_data

if TYPE_CHECKING:
    from checker.planning.engine.settings import Settings

# config/multimodal.py MultiModalConfig.get_limit_per_prompt: an unset modality allows 999 items
_DEFAULT_LIMIT = 999
_GIB = float(1 << 30)


def family_facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_multimodal.yaml")
    return data


@lazy_dataclass(frozen=True)
class MMSettings:
    """The MultiModalConfig fields the plan reads, after vLLM's defaults."""

    limits: tuple[tuple[str, int], ...] = ()  # limit_mm_per_prompt counts given
    language_model_only: bool = False
    max_pixels: int | None = None  # mm_processor_kwargs max_pixels / size.longest_edge
    kwargs: dict[str, Any] = field(default_factory=dict)  # the other mm_processor_kwargs
    video_io: dict[str, Any] = field(default_factory=dict)  # media_io_kwargs["video"]
    encoder_tp_data: bool = False  # --mm-encoder-tp-mode data, as requested
    skip_profiling: bool = False
    ipc_gpu_bytes: float = 0.0  # --mm-ipc-gpu-memory-gb, carved out of the KV cache
    processor_cache_gib: float = 4.0  # host memory per API / engine process

    def limit(self, modality: str) -> int:
        if self.language_model_only:
            return 0
        return dict(self.limits).get(modality, _DEFAULT_LIMIT)


# per engine input (by identity): a profile's GPU targets and the TP sizes tried share it
_MM_SETTINGS: ByIdentity[MMSettings] = ByIdentity(maxsize=64)


def mm_settings(request: PlanRequest) -> MMSettings:
    eng = request.engine
    return _MM_SETTINGS.get(eng, None, lambda: _mm_settings(eng))


def _mm_settings(eng: EngineInput) -> MMSettings:
    limits = []
    for modality, value in eng.limit_mm_per_prompt.items():
        count = value.get("count", _DEFAULT_LIMIT) if isinstance(value, dict) else value
        limits.append((modality, int(count)))
    kwargs = eng.mm_processor_kwargs
    size = kwargs.get("size")
    pixels = kwargs.get("max_pixels")
    if pixels is None and isinstance(size, dict):
        pixels = size.get("longest_edge")
    return MMSettings(
        limits=tuple(limits),
        language_model_only=eng.language_model_only,
        max_pixels=int(pixels) if isinstance(pixels, int) and pixels > 0 else None,
        kwargs=dict(kwargs),
        video_io=dict(eng.media_io_kwargs.get("video") or {}),
        encoder_tp_data=eng.mm_encoder_tp_mode == "data",
        skip_profiling=eng.skip_mm_profiling,
        ipc_gpu_bytes=eng.mm_ipc_gpu_memory_gb * _GIB,
        processor_cache_gib=eng.mm_processor_cache_gb,
    )


def family(model: ModelInfo) -> dict[str, Any] | None:
    """The model's vllm_multimodal.yaml entry (None: a tower the plan has no recipe for)."""
    if model.vision is None:
        return None
    entry = family_facts()["families"].get(model.vision.family)
    return entry if isinstance(entry, dict) else None


def tower_modalities(model: ModelInfo) -> tuple[str, ...]:
    fam = family(model)
    return tuple(fam["modalities"]) if fam else ("image",)  # a vision_config: images at least


def tower_loaded(model: ModelInfo, settings: Settings) -> bool:
    """vLLM builds the tower unless every one of its modalities has limit 0
    (interfaces.py SupportsMultiModal._mark_tower_model, in the releases that have it)."""
    if not model.params.vision:
        return False
    if not has_behaviour("mm_tower_skipped_at_zero_limits", settings.facts.version):
        return True
    return any(settings.mm.limit(m) > 0 for m in tower_modalities(model))


def encoder_data_parallel(model: ModelInfo, settings: Settings) -> bool:
    """--mm-encoder-tp-mode data in effect: the model supports it (else vLLM falls back to
    weights, config/model.py ModelConfig.__post_init__) and there is more than one TP rank."""
    fam = family(model)
    return bool(settings.mm.encoder_tp_data and fam and fam.get("encoder_tp_data")) and (
        settings.tp > 1
    )


class TowerStorage(NamedTuple):
    """How vLLM stores the tower's parameters: ``quantized`` linear weights at the method's
    ``bits``, the other ``kept`` in the model dtype; ``how`` says why, for --explain."""

    quantized: int
    bits: float
    kept: int
    how: str

    def bytes(self, dtype_bytes: int) -> float:
        return self.quantized * self.bits / 8 + self.kept * dtype_bytes


def tower_storage(model: ModelInfo, method: str | None, dtype: str) -> TowerStorage:
    """The tower's linear layers that the quantization method quantizes, per vLLM's rule for
    the method and the checkpoint's skip list (vllm_multimodal.yaml tower_quantization); the
    rest in ``dtype``."""
    total = model.params.vision
    if not method:
        return TowerStorage(0, 16.0, total, f"in {dtype}")
    facts = family_facts()["tower_quantization"]
    rule = facts["methods"].get(method)
    recipe = facts["families"].get(model.vision.family) if model.vision else None
    if rule is None or recipe is None or model.vision is None:
        what = model.vision.family if model.vision else model.model_type
        return TowerStorage(
            0, 16.0, total, f"in {dtype} (not known which layers {method} quantizes in {what!r})"
        )
    # --quantization awq_marlin / gptq_marlin on an AWQ / GPTQ checkpoint reads its config too
    named = method.removesuffix("_marlin")
    quant = model.quant if model.quant and model.quant.method == named else None
    if rule == "none":
        return TowerStorage(0, 16.0, total, f"in {dtype} ({method} quantizes no dense layer)")
    skips: tuple[str, ...] = ()
    if quant is not None:
        if rule == "checkpoint" or (rule == "substring" and not quant.skipped_modules):
            return TowerStorage(
                0,
                16.0,
                total,
                f"in {dtype} (estimated: vLLM takes the {method} layers from the checkpoint's "
                "tensors, and quantization tools leave vision towers unquantized)",
            )
        skips = tuple(_to_vllm_name(s, recipe["hf_to_vllm_prefix"]) for s in quant.skipped_modules)
    # modelopt's fixed names match by substring, as its skip entries do
    always = tuple(facts["always_skipped"].get(method, ()))
    quantized = _quantized_params(model.vision, recipe, method, rule, skips + always)
    count = round(quantized)
    source = "checkpoint" if quant else "online"
    if not count:
        why = "skips it"
        if quant:
            why = f"skip list names it: {', '.join(m[:40] for m in quant.skipped_modules[:3])}"
        return TowerStorage(0, 16.0, total, f"in {dtype} (the {method} {why})")
    return TowerStorage(
        count,
        bits_per_weight(model, method),
        total - count,
        f"{count / 1e9:.2f} B linear weights in {method} ({source}), the rest in {dtype}",
    )


def _quantized_params(
    vision: VisionInfo, recipe: dict[str, Any], method: str, rule: str, skips: tuple[str, ...]
) -> float:
    """The tower's linear weights ``method`` quantizes: each kind's weights times the share of
    its layers, over the blocks, that no skip entry names."""
    sizes = {
        "attention": vision.attention_linear,
        "mlp": vision.mlp_linear,
        "projector": vision.projector_linear,
    }
    multiple = int(recipe.get("mlp_multiple_of") or 1)
    if (vision.hidden_size % multiple or vision.intermediate_size % multiple) and method not in (
        recipe.get("mlp_always_for") or ()
    ):
        sizes["mlp"] = 0  # siglip.py SiglipMLP: built without the quant_config
    quantized = 0.0
    for kind, layers in recipe["layers"].items():
        blocks = range(vision.depth) if kind != "projector" else range(1)
        for name, weight in layers.items():
            kept = sum(_skipped(name.format(i=i), rule, skips, recipe["fused"]) for i in blocks)
            share = weight / sum(layers.values())
            quantized += sizes[kind] * share * (len(blocks) - kept) / len(blocks)
    return quantized


def _to_vllm_name(name: str, prefixes: dict[str, str]) -> str:
    """WeightsMapper.apply_list for orig_to_new_prefix: each prefix in turn renames the entry."""
    for old, new in prefixes.items():
        if name.startswith(old):
            name = new + name[len(old) :]
    return name


def _matches(name: str, rule: str, skips: tuple[str, ...]) -> bool:
    if rule == "exact":
        return name in skips
    if rule == "substring":
        return any(s in name for s in skips)
    if rule == "regex":
        return any(s == name or (s.startswith("re:") and _re_match(s[3:], name)) for s in skips)
    if rule == "modelopt":
        return any(s in name or fnmatch(name, s) for s in skips)
    # bnb: a component, or a dotted prefix, equal to an entry
    parts = name.split(".")
    heads = {".".join(parts[: i + 1]) for i in range(len(parts))}
    return any(s in parts or s in heads for s in skips)


def _re_match(pattern: str, name: str) -> bool:
    try:
        return re.match(pattern, name) is not None
    except re.error:  # the checkpoint's own typo: vLLM fails on it, the plan names no layer
        return False


def _skipped(name: str, rule: str, skips: tuple[str, ...], fused: dict[str, list[str]]) -> bool:
    """Whether the method leaves one layer unquantized; a fused layer is skipped when its own
    name or every one of its checkpoint shards is (quant_utils.py is_layer_skipped)."""
    if not skips:
        return False
    if _matches(name, rule, skips):
        return True
    head, _, proj = name.rpartition(".")
    shards = fused.get(proj) or []
    return bool(shards) and all(_matches(f"{head}.{s}", rule, skips) for s in shards)


def vision_weight_bytes(model: ModelInfo, settings: Settings) -> float:
    """Tower and projector bytes one rank loads, on every pipeline stage: TP-sharded, or whole
    with --mm-encoder-tp-mode data; nothing when the tower is skipped."""
    if not tower_loaded(model, settings):
        return 0.0
    storage = tower_storage(model, settings.quantization, settings.dtype)
    return storage.bytes(settings.dtype_bytes) / _tower_shards(model, settings)


def _replicated_tower(model: ModelInfo) -> bool:
    """The family builds its tower from plain torch layers, not tensor-parallel ones, so every
    TP rank holds and runs all of it (vllm_multimodal.yaml tp_sharded: false)."""
    fam = family(model)
    return fam is not None and fam.get("tp_sharded") is False


def _tower_shards(model: ModelInfo, settings: Settings) -> int:
    """The TP ranks the tower's weights and intermediate activations are split over."""
    whole = encoder_data_parallel(model, settings) or _replicated_tower(model)
    return 1 if whole else settings.tp


def frontend_gpu_bytes(model: ModelInfo, settings: Settings) -> float:
    """GPU memory the API servers' media decoding holds back from the KV cache
    (reserve_mm_ipc_gpu_memory): --mm-ipc-gpu-memory-gb, plus each API server's decoder
    surfaces and CUDA context with a GPU video backend. The API servers default to one per
    data-parallel rank (entrypoints/cli/serve.py, internal load balancing)."""
    version = settings.facts.version
    if not model.is_multimodal or not has_behaviour("mm_frontend_gpu_memory_reserved", version):
        return 0.0
    video, facts = settings.mm.video_io, family_facts()["gpu_video_decoder"]
    backend = facts["backend"]
    if backend not in (video.get("video_backend"), video.get("backend")):
        return settings.mm.ipc_gpu_bytes
    width, height = video.get("max_width"), video.get("max_height")
    surface = int(facts["decoder_bytes"])
    if isinstance(width, int) and isinstance(height, int):
        surface = max(surface, width * height * 3 * int(facts["surface_cache"]))
    decoders = video.get("hw_decoders", facts["hw_decoders"])
    per_server = surface * int(decoders) + int(facts["cuda_context_bytes"])
    return settings.mm.ipc_gpu_bytes + settings.dp * per_server


class EncoderProfile(NamedTuple):
    """vLLM's encoder profile run on one rank."""

    modality: str
    tokens_per_item: int
    items: int  # maximum-size items encoded as one batch
    budget: int  # encoder budget in tokens (compute budget = cache size)
    inputs: float  # bytes of the batched pixel values (model dtype)
    layer_peak: float  # bytes of one encoder layer's live tensors on this rank
    outputs: float  # bytes of the items' embeddings held in the encoder cache
    mask: float = 0.0  # a dense attention mask alive through every encoder layer

    @property
    def encoder_peak(self) -> float:
        return self.inputs + self.layer_peak + self.mask


def _image_tokens(vision: VisionInfo, max_pixels: int) -> int:
    """Qwen2VLProcessingInfo.get_image_size_with_most_features: the largest patch count with a
    height x width factorisation of aspect ratio <= 200, at the max_pixels size."""
    unit = vision.patch_size * vision.spatial_merge_size
    for seq_len in range(max_pixels // (unit * unit), 0, -1):
        height = next(d for d in range(math.isqrt(seq_len), 0, -1) if seq_len % d == 0)
        if seq_len // height / height <= 200:
            return seq_len
    return 1


def _video_tokens(vision: VisionInfo, image: int, max_model_len: int, max_frames: int) -> int:
    """Qwen2VLProcessingInfo.get_max_video_tokens for one video: the most frames (at most
    max_frames) whose tokens fit max_model_len, frames padded to the temporal patch size."""

    def tokens(frames: int) -> int:
        t = vision.temporal_patch_size
        return max((frames + frames % t) // t, 1) * image

    frames = 1
    while frames < max_frames and tokens(frames + 1) <= max_model_len:
        frames += 1
    return tokens(frames)


def _pan_and_scan_crops(
    vision: VisionInfo, defaults: dict[str, Any] | None, kwargs: dict[str, Any]
) -> int:
    """Gemma3ProcessingInfo.get_num_crops for the tallest image (native size x max crops)."""
    if not defaults or not kwargs.get("do_pan_and_scan"):
        return 0
    prefix = "pan_and_scan_"
    given = {k[len(prefix) :]: v for k, v in kwargs.items() if k.startswith(prefix)}
    facts = {**defaults, **given}
    max_crops, min_crop = int(facts["max_num_crops"]), int(facts["min_crop_size"])
    width, height = vision.image_size, vision.image_size * max_crops
    if not width or height / width < float(facts["min_ratio_to_activate"]):
        return 0
    crops = min(height // min_crop, math.floor(height / width + 0.5))
    crops = min(max_crops, max(2, crops))
    return crops if min(width, math.ceil(height / crops)) >= min_crop else 0


def _max_tokens_per_item(
    model: ModelInfo, settings: Settings, fam: dict[str, Any]
) -> dict[str, tuple[int, int, int]]:
    """Modality -> (tokens per item, tower patches per item, pixel values per item) for the
    modalities whose limit is > 0."""
    vision = model.vision
    assert vision is not None
    found: dict[str, tuple[int, int, int]] = {}
    if fam["tokens"] == "pixtral":
        side = vision.image_size // vision.patch_size
        rows = side // vision.spatial_merge_size
        pixels = vision.num_channels * vision.image_size**2
        found["image"] = (rows * (rows + 1), side * side, pixels)
    elif fam["tokens"] == "fixed":
        per_side = vision.image_size // vision.patch_size
        images = 1 + _pan_and_scan_crops(vision, fam.get("pan_and_scan"), settings.mm.kwargs)
        tokens = vision.tokens_per_image
        if tokens and per_side:
            pixels = vision.num_channels * vision.image_size**2
            found["image"] = (images * tokens, images * per_side**2, images * pixels)
    else:
        image = _image_tokens(vision, settings.mm.max_pixels or int(fam["max_pixels"]))
        merge = vision.spatial_merge_size**2
        patch = vision.num_channels * vision.temporal_patch_size * vision.patch_size**2
        video = _video_tokens(vision, image, settings.max_model_len, int(fam["max_frames"]))
        for modality, tokens in (("image", image), ("video", video)):
            found[modality] = (tokens, tokens * merge, tokens * merge * patch)
    return {m: v for m, v in found.items() if settings.mm.limit(m) > 0}


def _active_items(model: ModelInfo, settings: Settings) -> dict[str, tuple[int, int, int]]:
    """_max_tokens_per_item for a V1 engine with a tower recipe and the tower loaded; else {}."""
    fam = family(model)
    if fam is None or settings.is_v0 or not tower_loaded(model, settings):
        return {}
    return _max_tokens_per_item(model, settings, fam)


def largest_item_tokens(model: ModelInfo, settings: Settings) -> int | None:
    """compute_mm_encoder_budget's max_tokens_per_mm_item (None: not modeled or no tower)."""
    return max((v[0] for v in _active_items(model, settings).values()), default=None)


def _xformers_attention(settings: Settings) -> bool:
    """Whether the encoder attends through xformers: the build holds it and the GPU is below
    compute capability 10.0 (pixtral.py USE_XFORMERS_OPS)."""
    held = build_has("xformers", settings.facts.version, settings.install)
    return held and settings.gpu.capability < 100


def encoder_profile(model: ModelInfo, settings: Settings) -> EncoderProfile | None:
    """The encoder profile run, or None: no tower recipe, a V0 engine, the tower skipped, or
    --skip-mm-profiling."""
    vision = model.vision
    if vision is None:  # most models: no tower, nothing more to read
        return None
    fam = family(model)
    per_item = _active_items(model, settings)
    if fam is None or not per_item or settings.mm.skip_profiling:
        return None
    modality = max(per_item, key=lambda m: (per_item[m][0], m))
    tokens, patches, pixels = per_item[modality]
    budget = max(settings.max_num_batched_tokens, max(v[0] for v in per_item.values()))
    per_prompt = max(1, min(settings.mm.limit(modality), settings.max_model_len // tokens))
    # (without chunked prefill vLLM cuts max_num_seqs to max_num_batched_tokens // tokens,
    # which never binds below budget // tokens)
    items = max(1, min(budget // tokens, settings.max_num_seqs * per_prompt))
    on_rank = items
    if encoder_data_parallel(model, settings):
        on_rank = -(-items // settings.tp)  # the batch is split over the TP ranks
    shards = _tower_shards(model, settings)
    peak = fam["layer_peak"]
    per_patch = peak["hidden"] * vision.hidden_size + (
        peak["intermediate"] * vision.intermediate_size / shards
    )
    b = settings.dtype_bytes
    mask = 0.0
    if fam.get("dense_mask_without_xformers") and not _xformers_attention(settings):
        mask = float((on_rank * patches) ** 2 * b)
    return EncoderProfile(
        modality=modality,
        tokens_per_item=tokens,
        items=items,
        budget=budget,
        inputs=items * pixels * b,
        layer_peak=on_rank * patches * per_patch * b,
        outputs=items * tokens * model.hidden_size * b,
        mask=mask,
    )


def multimodal_costs(model: ModelInfo, settings: Settings) -> dict[str, str]:
    """What the vision tower costs, for --explain (subject -> words)."""
    if not model.params.vision:
        return {}
    costs: dict[str, str] = {}
    weights = vision_weight_bytes(model, settings)
    storage = tower_storage(model, settings.quantization, settings.dtype)
    if not weights:
        costs["vision tower"] = (
            "not loaded: every modality it serves has limit 0 (--limit-mm-per-prompt / "
            f"--language-model-only), -{storage.bytes(settings.dtype_bytes) / _GIB:.2f} "
            "GiB of weights"
        )
        return costs
    how = "whole on every rank (--mm-encoder-tp-mode data)"
    if settings.tp == 1:
        how = "on the GPU"
    elif _replicated_tower(model):
        how = "whole on every rank: its layers are not tensor-parallel"
    elif not encoder_data_parallel(model, settings):
        how = f"sharded over {settings.tp} TP ranks"
    costs["vision tower"] = (
        f"{model.params.vision / 1e9:.2f} B parameters, +{weights / _GIB:.2f} GiB of weights "
        f"per GPU ({how}), stored {storage.how}"
    )
    profile = encoder_profile(model, settings)
    if profile is not None:
        costs["encoder profile run"] = (
            f"{profile.items} {profile.modality} item(s) of {profile.tokens_per_item:,} tokens "
            f"(encoder budget {profile.budget:,} tokens): peak {profile.encoder_peak / _GIB:.2f} "
            f"GiB in the encoder, then {profile.outputs / _GIB:.2f} GiB of embeddings held in "
            "the encoder cache during the text profile run (estimated)"
        )
        if profile.mask:
            costs["encoder profile run"] += (
                f"; of the peak, {profile.mask / _GIB:.2f} GiB is a dense attention mask over "
                "the batch's patches (this build attends without xformers)"
            )
    elif settings.mm.skip_profiling:
        costs["encoder profile run"] = (
            "skipped (--skip-mm-profiling): the encoder's activations and cache are not in the "
            "profile, so the KV cache is sized without them"
        )
    held = frontend_gpu_bytes(model, settings)
    if held:
        costs["API-server GPU media decoding"] = (
            f"-{held / _GIB:.2f} GiB of KV cache (--mm-ipc-gpu-memory-gb and GPU video "
            "decoders of --media-io-kwargs)"
        )
    # config/multimodal.py: mm_processor_cache_gb x (api_server_count + data_parallel_size);
    # the API servers default to one per DP rank (entrypoints/cli/serve.py, internal balancing)
    gib = settings.mm.processor_cache_gib
    costs["--mm-processor-cache-gb"] = (
        f"{gib:g} GiB of host memory (not GPU memory) in each API-server and engine process: "
        f"{gib * 2 * settings.dp:g} GiB with {settings.dp} of each"
    )
    return costs
