"""Multimodal models (issue 13 item 6): vLLM's encoder profile run, the vision tower's weights and
the MultiModalConfig flags, checked against vLLM's own arithmetic on real configs (the catalog's
Gemma-3-12B and Qwen2.5-VL-7B config.json). Sources: checker/data/vllm_multimodal.yaml."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.kvcache.kv import GIB
from checker.planning.memory.memory import plan_memory
from checker.planning.memory.multimodal import EncoderProfile, encoder_profile, vision_weight_bytes
from checker.schemas.outputs import PlanResponse
from tests.planning.plans import catalog_model, fired, make_request, only, plan

GEMMA = "google/gemma-3-12b-it"
QWEN = "Qwen/Qwen2.5-VL-7B-Instruct"
# The validation case planner-v0190-google-gemma-3-12b-it (vLLM 0.19.0, H100, 8192 tokens)
GEMMA_CASE = {"max_model_len": 8192, "util": 0.95, "version": "0.19.0"}
QWEN_8K = {"max_model_len": 8192, "version": "0.33.0"}
# Mistral-format params.json served as Pixtral; the planner_v019_heldout case of it (0.19.0, H100,
# 8192 tokens, utilization 0.95) logged "Model loading took 44.76 GiB"
MISTRAL = "mistralai/Mistral-Small-3.1-24B-Instruct-2503"
MISTRAL_CASE = {"max_model_len": 8192, "util": 0.95, "version": "0.19.0"}


def _settings(model_id: str, gpu: str = "H100-80GB", **kw: Any) -> Settings:
    request = make_request(model_id, gpu, **kw)
    tp = request.hardware.tensor_parallel_size or 1
    return resolve_settings(request, catalog_model(model_id), find_gpu(gpu), tp=tp)


def _profile(model_id: str, **kw: Any) -> EncoderProfile:
    profile = encoder_profile(catalog_model(model_id), _settings(model_id, **kw))
    assert profile is not None
    return profile


def _memory(resp: PlanResponse) -> tuple[float, float, float]:
    m = resp.feasibility.memory
    return m.weights_gib, m.activation_gib, m.kv_cache_gib


def test_gemma3_profiles_the_most_256_token_images_the_encoder_budget_holds() -> None:
    """compute_mm_encoder_budget: max(8192, 256) tokens; _get_max_items: 8192 // 256 = 32
    images of 896 x 896 through SigLIP (64 x 64 patches of 14), each 256 embeddings wide 3840."""
    p = _profile(GEMMA, **GEMMA_CASE)
    assert (p.modality, p.tokens_per_item, p.budget, p.items) == ("image", 256, 8192, 32)
    assert p.inputs == 32 * 3 * 896 * 896 * 2  # pixel values cast to bf16
    # SiglipMLP at the activation: residual + layer_norm2 output + fc1 + gelu (width 1152, 4304)
    assert p.layer_peak == 32 * 64 * 64 * (2 * 1152 + 2 * 4304) * 2
    assert p.outputs == 32 * 256 * 3840 * 2


def test_gemma3_profile_peak_holds_the_encoder_cache_over_the_text_run() -> None:
    """The text run and sampler profile on top of the cached embeddings and (V1 runner of
    0.19) the batched pixel values: the peak grows by exactly those bytes; the 0.19 log of this
    case printed 3.94 GiB, 3.56 GiB before the encoder was modeled."""
    p = _profile(GEMMA, **GEMMA_CASE)
    text = plan(GEMMA, skip_mm_profiling=True, **GEMMA_CASE).feasibility.memory.activation_gib
    with_encoder = plan(GEMMA, **GEMMA_CASE).feasibility.memory.activation_gib
    assert text == pytest.approx(3.56, abs=0.01)
    assert with_encoder == pytest.approx(text + (p.outputs + p.inputs) / GIB, abs=0.01)
    assert p.encoder_peak / GIB < with_encoder


def test_qwen25_vl_profiles_one_16384_token_item_through_the_vit() -> None:
    """max_pixels 12845056 // (14 x 2)^2 = 16384 tokens per image; a one-frame video padded to
    the temporal patch of 2 is as large and wins the tie by name (get_modality_with_max_tokens);
    the budget max(8192, 16384) holds one item of 65536 patches of 3 x 2 x 14 x 14 pixels."""
    p = _profile(QWEN, gpu="L4", **QWEN_8K)
    assert (p.modality, p.tokens_per_item, p.budget, p.items) == ("video", 16384, 16384, 1)
    assert p.inputs == 65536 * 1176 * 2
    # Qwen2_5_VisionBlock / Qwen2_5_VisionMLP: 3 x 1280 + 3 x 3420 alive per patch
    assert p.layer_peak == 65536 * (3 * 1280 + 3 * 3420) * 2
    assert p.outputs == 16384 * 3584 * 2


def test_qwen25_vl_image_profiling_raises_the_activation_peak_on_an_l4() -> None:
    """The research probe: 0.52 GiB (text only) before; now the ViT's peak binds."""
    p = _profile(QWEN, gpu="L4", **QWEN_8K)
    resp = plan(QWEN, "L4", **QWEN_8K)
    text = plan(QWEN, "L4", skip_mm_profiling=True, **QWEN_8K).feasibility.memory
    assert text.activation_gib == pytest.approx(0.52, abs=0.01)
    assert resp.feasibility.memory.activation_gib == pytest.approx(p.encoder_peak / GIB, abs=0.01)
    assert resp.feasibility.memory.kv_cache_gib < text.kv_cache_gib


def test_qwen25_vl_video_grows_with_max_model_len() -> None:
    """_get_max_video_frames: the most frames whose tokens fit max_model_len (4 frames, 2
    temporal patches, 32768 tokens at 32k), at most 14 (_MAX_FRAMES_PER_VIDEO: 7 x 16384 at
    128k); the encoder budget follows the largest item."""
    p32 = _profile(QWEN, max_model_len=32768, version="0.33.0")
    assert (p32.modality, p32.tokens_per_item, p32.budget, p32.items) == ("video", 32768, 32768, 1)
    p128 = _profile(QWEN, max_model_len=128000, version="0.33.0")
    assert (p128.tokens_per_item, p128.items) == (7 * 16384, 1)
    image_only = _profile(QWEN, max_model_len=128000, version="0.33.0", **_limit(video=0))
    assert (image_only.modality, image_only.tokens_per_item) == ("image", 16384)


def _limit(**counts: int) -> dict[str, Any]:
    return {"limit_mm_per_prompt": counts}


def test_max_pixels_sets_the_largest_item() -> None:
    """--mm-processor-kwargs max_pixels 1003520: 1280 tokens per image of 28 x 28 pixel units,
    so a video of 12 frames (6 temporal patches, 7680 tokens) is the largest item within 8192;
    with videos off, 8192 // 1280 = 6 images per batch."""
    kw = {"mm_processor_kwargs": {"max_pixels": 1003520}, **QWEN_8K}
    video = _profile(QWEN, **kw)
    assert (video.modality, video.tokens_per_item, video.items) == ("video", 6 * 1280, 1)
    p = _profile(QWEN, **kw, **_limit(video=0))
    assert (p.modality, p.tokens_per_item, p.budget, p.items) == ("image", 1280, 8192, 6)
    assert p.layer_peak == 6 * 1280 * 4 * (3 * 1280 + 3 * 3420) * 2
    size = {"mm_processor_kwargs": {"size": {"longest_edge": 1003520}}, **QWEN_8K}
    assert _profile(QWEN, **size, **_limit(video=0)) == p


def test_limits_cap_items_per_prompt() -> None:
    """_get_max_items: items per prompt min(limit, max_model_len // tokens), times max_num_seqs."""
    gemma = {**GEMMA_CASE, "max_num_seqs": 2}
    assert _profile(GEMMA, **gemma, **_limit(image=3)).items == 6
    assert _profile(GEMMA, **gemma).items == 32  # 2 requests x 32 images
    count = _profile(GEMMA, **gemma, limit_mm_per_prompt={"image": {"count": 1, "width": 64}})
    assert count.items == 2


def test_all_zero_limits_or_language_model_only_skip_the_tower() -> None:
    """_mark_tower_model: no tower without a modality left; one of two zeroed keeps it."""
    model = catalog_model(QWEN)
    tower = model.params.vision * 2 / GIB
    base = _memory(plan(QWEN, **QWEN_8K))
    kept = _memory(plan(QWEN, **QWEN_8K, **_limit(image=0)))
    zero = _memory(plan(QWEN, **QWEN_8K, **_limit(image=0, video=0)))
    text_only = _memory(plan(QWEN, language_model_only=True, **QWEN_8K))
    assert kept == base
    assert base[0] - zero[0] == pytest.approx(tower, abs=0.01)
    assert zero == text_only
    assert encoder_profile(model, _settings(QWEN, language_model_only=True, **QWEN_8K)) is None


def test_qwen25_vl_tower_parameters_follow_vllms_shapes() -> None:
    """Qwen2_5_VisionTransformer: 32 blocks of qkv (+bias), proj, gate_up, down and two norms;
    a Conv3d patch embedding of 3 x 2 x 14 x 14; the merger's norm and 5120-wide MLP to 3584."""
    d, i, out, merged = 1280, 3420, 3584, 1280 * 4
    block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 2 * i + 2 * i) + (i * d + d)
    exact = 32 * block + 3 * 2 * 14 * 14 * d + d + merged * merged + merged + merged * out + out
    assert catalog_model(QWEN).params.vision == pytest.approx(exact, rel=1e-3)


def test_encoder_data_parallel_keeps_the_tower_whole_where_the_model_supports_it() -> None:
    """--mm-encoder-tp-mode data: Qwen2.5-VL (supports_encoder_tp_data) holds the whole tower on
    each TP rank and encodes its share of the items; Gemma-3 falls back to weights."""
    tp2 = {"gpus": 2, "tp": 2}
    qwen = catalog_model(QWEN)
    sharded = _settings(QWEN, **tp2, **QWEN_8K)
    whole = _settings(QWEN, mm_encoder_tp_mode="data", **tp2, **QWEN_8K)
    assert vision_weight_bytes(qwen, sharded) == qwen.params.vision * 2 / 2
    assert vision_weight_bytes(qwen, whole) == qwen.params.vision * 2
    split = encoder_profile(qwen, sharded)
    data = encoder_profile(qwen, whole)
    assert split is not None and data is not None
    assert split.layer_peak == 65536 * (3 * 1280 + 3 * 3420 / 2) * 2
    assert data.layer_peak == 65536 * (3 * 1280 + 3 * 3420) * 2
    gemma = catalog_model(GEMMA)
    g_kw = {**tp2, **GEMMA_CASE}
    assert vision_weight_bytes(gemma, _settings(GEMMA, mm_encoder_tp_mode="data", **g_kw)) == (
        vision_weight_bytes(gemma, _settings(GEMMA, **g_kw))
    )


def test_every_pipeline_stage_loads_the_tower_and_the_v1_runner_profiles_it_on_each() -> None:
    """The tower is built on every stage; the 0.19 V1 runner encodes on every stage, Model
    Runner V2 (0.33) on the first only."""
    model = catalog_model(QWEN)
    for version, encodes_last in (("0.19.0", True), ("0.33.0", False)):
        kw = {"gpus": 2, "pp": 2, "max_model_len": 8192, "version": version}
        full = plan_memory(model, _settings(QWEN, **kw))
        text = plan_memory(model, _settings(QWEN, skip_mm_profiling=True, **kw))
        tower = vision_weight_bytes(model, full.settings)
        assert tower == model.params.vision * 2
        lm_only = plan_memory(model, _settings(QWEN, language_model_only=True, **kw))
        for stage in (0, 1):
            assert full.stages[stage].weights - lm_only.stages[stage].weights == tower
        assert full.stages[0].activation > text.stages[0].activation
        assert (full.stages[1].activation > text.stages[1].activation) is encodes_last


def test_ipc_gpu_memory_comes_out_of_the_kv_cache() -> None:
    """reserve_mm_ipc_gpu_memory (0.33): the frontend's decode budget leaves the KV cache."""
    base = plan(QWEN, **QWEN_8K).feasibility.memory.kv_cache_gib
    held = plan(QWEN, mm_ipc_gpu_memory_gb=2, **QWEN_8K).feasibility.memory.kv_cache_gib
    assert base - held == pytest.approx(2.0, abs=0.01)


def test_explain_says_what_the_vision_tower_costs() -> None:
    resp = plan(QWEN, "L4", explain=True, **QWEN_8K)
    costs = resp.config.explanations
    model = catalog_model(QWEN)
    assert costs["vision tower"].startswith(
        f"0.68 B parameters, +{model.params.vision * 2 / GIB:.2f} GiB of weights per GPU"
    )
    p = _profile(QWEN, gpu="L4", **QWEN_8K)
    assert "1 video item(s) of 16,384 tokens" in costs["encoder profile run"]
    assert f"peak {p.encoder_peak / GIB:.2f} GiB in the encoder" in costs["encoder profile run"]
    assert "host memory" in costs["--mm-processor-cache-gb"]
    skipped = plan(QWEN, "L4", explain=True, language_model_only=True, **QWEN_8K)
    assert skipped.config.explanations["vision tower"].startswith("not loaded")


def test_text_models_are_unchanged() -> None:
    llama = plan("meta-llama/Llama-3.1-8B-Instruct", max_model_len=8192, explain=True)
    assert "vision tower" not in llama.config.explanations
    assert _memory(llama) == _memory(
        plan("meta-llama/Llama-3.1-8B-Instruct", max_model_len=8192, language_model_only=True)
    )


def test_a_tower_without_a_recipe_is_flagged() -> None:
    """LFM2.5-VL's SigLIP2 tower has no encoder recipe (VW130); serving it text-only, or a
    modeled tower, is not flagged."""
    lfm = "LiquidAI/LFM2.5-VL-1.6B"
    found = only(plan(lfm, max_model_len=8192), "VW130")
    assert found.severity.value == "warning"
    assert "'lfm2_vl' tower" in found.message
    assert not fired(plan(lfm, max_model_len=8192, language_model_only=True), "VW130")
    assert not fired(plan(MISTRAL, max_model_len=8192), "VW130")
    assert not fired(plan(QWEN, **QWEN_8K), "VW130")
    v0 = only(plan(QWEN, max_model_len=8192, version="0.6.6"), "VW130")
    assert "'qwen2_5_vl' tower on the V0 engine" in v0.message


def test_an_item_larger_than_the_batch_without_chunked_mm_input_fails_to_start() -> None:
    """compute_mm_encoder_budget's ValueError: 16384-token items, 8192 batched tokens."""
    resp = plan(QWEN, disable_chunked_mm_input=True, max_num_batched_tokens=8192, **QWEN_8K)
    found = only(resp, "VW131")
    assert found.message == (
        "Chunked MM input disabled but max_tokens_per_mm_item (16384) is larger than "
        "max_num_batched_tokens (8192). Please increase max_num_batched_tokens."
    )
    assert found.fix_values == {"vllm.max_num_batched_tokens": 16384}
    assert resp.feasibility.verdict.value == "FAIL"
    fits = plan(QWEN, disable_chunked_mm_input=True, max_num_batched_tokens=16384, **QWEN_8K)
    assert not fired(fits, "VW131")


def test_older_spellings_and_releases() -> None:
    """Before 0.10 vLLM read image=16,video=2 and JSON text; before 0.19 (the first release read
    that skips it) a zero limit still loads the tower."""
    request = make_request(
        QWEN, limit_mm_per_prompt="image=0, video=2", mm_processor_kwargs='{"max_pixels": 784}'
    )
    assert request.engine.limit_mm_per_prompt == {"image": 0, "video": 2}
    assert request.engine.mm_processor_kwargs == {"max_pixels": 784}
    with pytest.raises(ValueError, match="'image' is not modality=count"):
        make_request(QWEN, limit_mm_per_prompt="image")
    model = catalog_model(GEMMA)
    old = _settings(GEMMA, version="0.10.0", max_model_len=8192, **_limit(image=0))
    new = _settings(GEMMA, version="0.19.0", max_model_len=8192, **_limit(image=0))
    assert vision_weight_bytes(model, old) == model.params.vision * 2
    assert vision_weight_bytes(model, new) == 0


def test_gemma3_pan_and_scan_adds_crops_to_the_largest_image() -> None:
    """Gemma3ProcessingInfo.get_num_crops on the tallest image (896 x 4 crops): 4 crops plus the
    original, 5 x 256 tokens, 8192 // 1280 = 6 items; at most 2 crops: 3 x 256, 10 items."""
    kw = {**GEMMA_CASE, "mm_processor_kwargs": {"do_pan_and_scan": True}}
    p = _profile(GEMMA, **kw)
    assert (p.tokens_per_item, p.items) == (5 * 256, 6)
    assert p.layer_peak == 6 * 5 * 64 * 64 * (2 * 1152 + 2 * 4304) * 2
    two = {"do_pan_and_scan": True, "pan_and_scan_max_num_crops": 2}
    assert _profile(GEMMA, **{**GEMMA_CASE, "mm_processor_kwargs": two}).items == 10


def test_gpu_video_decoders_come_out_of_the_kv_cache() -> None:
    """reserve_mm_ipc_gpu_memory (0.33): with the pynvvideocodec backend the API server holds
    hw_decoders x 128 MiB of decoder surfaces plus its 1.8 GiB CUDA context; 0.19 reserves none."""
    base = plan(QWEN, **QWEN_8K).feasibility.memory.kv_cache_gib
    video = {"video": {"video_backend": "pynvvideocodec", "hw_decoders": 4}}
    held = plan(QWEN, media_io_kwargs=video, mm_ipc_gpu_memory_gb=1, **QWEN_8K)
    expected = 1 + (4 * 128 + 1.8 * 1024) / 1024
    assert base - held.feasibility.memory.kv_cache_gib == pytest.approx(expected, abs=0.01)
    cpu = {"video": {"num_frames": 32}}
    assert plan(QWEN, media_io_kwargs=cpu, **QWEN_8K).feasibility.memory.kv_cache_gib == base
    old = {**QWEN_8K, "version": "0.19.0"}
    assert _memory(plan(QWEN, media_io_kwargs=video, **old)) == _memory(plan(QWEN, **old))


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("mm_processor_kwargs", {"max_pixels": 0}, "max_pixels must be an integer from 1"),
        ("mm_processor_kwargs", {"size": {"longest_edge": "big"}}, "size.longest_edge must be"),
        ("mm_processor_kwargs", {"pan_and_scan_min_crop_size": 0}, "min_crop_size must be"),
        ("mm_processor_kwargs", {"pan_and_scan_min_ratio_to_activate": "x"}, "must be > 0"),
        ("media_io_kwargs", {"video": {"hw_decoders": True}}, "hw_decoders must be an integer"),
        ("media_io_kwargs", {"video": {"max_width": 640}}, "must be set together"),
    ],
)
def test_sizes_the_plan_reads_are_checked(field: str, value: Any, words: str) -> None:
    """The plan searches over these sizes and divides by them: a bad one is an input error."""
    with pytest.raises(ValueError, match=words):
        make_request(QWEN, **{field: value})


def test_encoder_cuda_graphs_are_opt_in_and_need_the_tower() -> None:
    """0.33 captures no encoder CUDA graphs unless compilation_config.cudagraph_mm_encoder
    (config/compilation.py: off, no -O level sets it): the default plan has no such memory, the
    opt-in is named as not modeled (VW190), and with --language-model-only vLLM refuses to start
    (config/vllm.py VllmConfig.__post_init__), a check the 0.24.0 wheel does not have."""
    graphs = {"compilation-config": {"cudagraph_mm_encoder": True}}
    default = plan(QWEN, **QWEN_8K)
    opted = plan(QWEN, vllm_args=graphs, **QWEN_8K)
    assert _memory(opted) == _memory(default)
    assert "cudagraph_mm_encoder" in only(opted, "VW190").message
    assert not fired(opted, "VW132")
    refused = only(plan(QWEN, language_model_only=True, vllm_args=graphs, **QWEN_8K), "VW132")
    assert refused.message.startswith(
        "--language-model-only is incompatible with cudagraph_mm_encoder=True"
    )
    assert refused.key == "outputs.vllm_args.compilation-config"
    older = {**QWEN_8K, "version": "0.24.0"}
    assert not fired(plan(QWEN, language_model_only=True, vllm_args=graphs, **older), "VW132")
    text = plan("meta-llama/Llama-3.1-8B-Instruct", language_model_only=True, vllm_args=graphs,
                **QWEN_8K)  # fmt: skip
    assert not fired(text, "VW132")  # no MultiModalConfig on a text model


def test_mistral_format_vision_encoder_is_pixtral_and_counted() -> None:
    """pixtral.py: 24 blocks of 4 x 1024^2 attention and 3 x 1024 x 4096 gated feed-forward
    weights, the patch merger (4 x 1024 -> 1024), the adapter (1024 -> 5120 -> 5120, no biases),
    patch_conv (3 x 14^2 x 1024) and the RMSNorms: 0.82 GiB in bf16, which brings the plan to
    the 44.76 GiB the 0.19.0 log printed (43.94 before the tower was counted)."""
    model = catalog_model(MISTRAL)
    assert model.vision is not None and model.vision.family == "pixtral"
    attention, mlp = 24 * 4 * 1024**2, 24 * 3 * 1024 * 4096
    projector = 4 * 1024 * 1024 + 1024 * 5120 + 5120 * 5120
    other = 24 * 2 * 1024 + 2 * 1024 + 3 * 14 * 14 * 1024
    assert model.params.vision == attention + mlp + projector + other
    assert plan(MISTRAL, **MISTRAL_CASE).feasibility.memory.weights_gib == 44.76


def test_pixtral_profiles_two_1540_pixel_images_and_a_dense_mask_without_xformers() -> None:
    """PixtralMultiModalProcessor: a 1540-pixel image is 55 rows of 55 merged patches and a
    break token, 3,080 tokens, so 8192 // 3080 = 2 images (the 0.19.0 log: "profiled with 2
    image items"), 2 x 110^2 patches through the tower as one sequence. 0.19.0 ships no
    xformers, so the block-diagonal mask is dense: 24,200^2 bf16 values; 0.11.0's wheel
    requires xformers, which pixtral.py uses below compute capability 10.0."""
    p = _profile(MISTRAL, **MISTRAL_CASE)
    assert (p.modality, p.tokens_per_item, p.budget, p.items) == ("image", 3080, 8192, 2)
    assert p.inputs == 2 * 3 * 1540 * 1540 * 2
    assert p.layer_peak == 2 * 110 * 110 * (3 * 1024 + 3 * 4096) * 2
    assert p.mask == (2 * 110 * 110) ** 2 * 2
    assert p.outputs == 2 * 3080 * 5120 * 2
    older = {**MISTRAL_CASE, "version": "0.11.0"}
    assert _profile(MISTRAL, **older).mask == 0
    assert _profile(MISTRAL, gpu="B200", **older).mask == p.mask
    costs = plan(MISTRAL, explain=True, **MISTRAL_CASE).config.explanations
    assert "1.09 GiB is a dense attention mask" in costs["encoder profile run"]


def test_pixtral_tower_is_whole_on_every_tensor_parallel_rank() -> None:
    """pixtral.py builds VisionTransformer, PatchMerger and VisionLanguageAdapter from nn.Linear,
    not tensor-parallel layers: at TP 2 each rank holds the whole tower and encodes the whole
    batch (its feed-forward not split), while the language model halves."""
    one = _settings(MISTRAL, **MISTRAL_CASE)
    two = _settings(MISTRAL, gpus=2, tp=2, **MISTRAL_CASE)
    model = catalog_model(MISTRAL)
    assert vision_weight_bytes(model, two) == vision_weight_bytes(model, one)
    assert vision_weight_bytes(model, one) == model.params.vision * 2
    assert _profile(MISTRAL, gpus=2, tp=2, **MISTRAL_CASE) == _profile(MISTRAL, **MISTRAL_CASE)
    costs = plan(MISTRAL, gpus=2, tp=2, explain=True, **MISTRAL_CASE).config.explanations
    assert "whole on every rank: its layers are not tensor-parallel" in costs["vision tower"]


def test_an_engines_multimodal_settings_are_read_once_and_its_own() -> None:
    # kept per engine input (a profile's GPU targets share it): another engine, equal or
    # not, reads its own options
    from checker.planning.memory.multimodal import _mm_settings, mm_settings
    from checker.schemas.inputs import EngineInput

    qwen = "Qwen/Qwen2.5-VL-7B-Instruct"
    plain, limited = make_request(qwen), make_request(qwen)
    limited = limited.model_copy(
        update={
            "engine": EngineInput(
                limit_mm_per_prompt={"image": 0}, mm_processor_kwargs={"max_pixels": 1024}
            )
        }
    )
    first = mm_settings(plain)
    assert mm_settings(plain.model_copy(update={"explain": True})) is first
    assert first == _mm_settings(plain.engine)
    other = mm_settings(limited)
    assert other == _mm_settings(limited.engine) and other != first
    assert other.limit("image") == 0 and other.max_pixels == 1024
