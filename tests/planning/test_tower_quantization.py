"""How vLLM stores a vision tower under quantization (issue 13, tower quantization): online fp8
quantizes every linear layer the tower builds with the quant_config; pre-quantized checkpoints
keep the layers their skip list names, matched the way each method's get_quant_method does.
Real configs from the catalog (Qwen2.5-VL-7B-Instruct, Gemma-3-12B, LFM2.5-VL-1.6B); the rules
and their vLLM sources are in checker/data/vllm_multimodal.yaml tower_quantization."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.kvcache.kv import GIB
from checker.planning.memory.memory import plan_memory
from checker.planning.memory.multimodal import TowerStorage, tower_storage, vision_weight_bytes
from checker.planning.memory.weights import checkpoint_bytes
from checker.schemas.model_info import ModelInfo
from tests.planning.plans import catalog_model, make_request, plan

QWEN = "Qwen/Qwen2.5-VL-7B-Instruct"
GEMMA = "google/gemma-3-12b-it"
LFM = "LiquidAI/LFM2.5-VL-1.6B"
# Qwen2_5_VisionTransformer: 32 blocks of width 1280 (qkv 3 x 1280^2, proj 1280^2), gated MLP
# of 3420 (gate_up 2 x 1280 x 3420, down 3420 x 1280), the merger's 5120^2 and 5120 x 3584
QWEN_ATTENTION = 32 * 4 * 1280 * 1280
QWEN_MLP = 32 * 3 * 1280 * 3420
QWEN_MERGER = 5120 * 5120 + 5120 * 3584
QWEN_LINEAR = QWEN_ATTENTION + QWEN_MLP + QWEN_MERGER
# The config of Qwen/Qwen2.5-VL-7B-Instruct-AWQ on the Hub
QWEN_AWQ = {
    "bits": 4,
    "group_size": 128,
    "modules_to_not_convert": ["visual"],
    "quant_method": "awq",
    "version": "gemm",
    "zero_point": True,
}
AWQ_BITS = 4 + 16 / 128 + 4 / 128  # fp16 scale and 4-bit zero point per group of 128


def _settings(model: ModelInfo, version: str = "0.33.0", **kw: Any) -> Settings:
    request = make_request(model.model_id, max_model_len=8192, version=version, **kw)
    return resolve_settings(request, model, find_gpu("H100-80GB"), tp=1)


def _storage(model: ModelInfo, **kw: Any) -> TowerStorage:
    settings = _settings(model, **kw)
    return tower_storage(model, settings.quantization, settings.dtype)


def _quantized(quant: dict[str, Any], model_id: str = QWEN) -> ModelInfo:
    return catalog_model(model_id, quantization_config=quant, torch_dtype="float16")


@pytest.mark.parametrize("version", ["0.19.0", "0.33.0"])
def test_online_fp8_quantizes_the_qwen25_vl_towers_linear_layers(version: str) -> None:
    """0.19 Fp8Config(ignored_layers=[]) / 0.33 OnlineQuantizationConfig(ignore=[]): every
    LinearBase of the tower and merger at one byte; the Conv3d patch embedding, norms and
    biases stay bf16. The tower drops from 1.26 to 0.63 GiB."""
    model = catalog_model(QWEN)
    vision = model.params.vision
    fp8 = vision_weight_bytes(model, _settings(model, version, quantization="fp8"))
    assert fp8 == pytest.approx(QWEN_LINEAR + 2 * (vision - QWEN_LINEAR))
    bf16 = vision_weight_bytes(model, _settings(model, version))
    assert bf16 == 2 * vision
    assert (bf16 - fp8) / GIB == pytest.approx(0.63, abs=0.01)


def test_the_plan_with_online_fp8_counts_the_tower_at_its_quantized_size() -> None:
    """The weights the plan reports shrink by the tower's linear weights as well."""
    kw = {"max_model_len": 8192, "version": "0.33.0", "quantization": "fp8"}
    whole = plan(QWEN, **kw).feasibility.memory.weights_gib
    text = plan(QWEN, language_model_only=True, **kw).feasibility.memory.weights_gib
    tower = (QWEN_LINEAR + 2 * (catalog_model(QWEN).params.vision - QWEN_LINEAR)) / GIB
    assert whole - text == pytest.approx(tower, abs=0.01)


def test_language_model_only_still_skips_the_quantized_tower() -> None:
    model = catalog_model(QWEN)
    settings = _settings(model, quantization="fp8", language_model_only=True)
    assert vision_weight_bytes(model, settings) == 0
    full = plan_memory(model, _settings(model, quantization="fp8"))
    text = plan_memory(model, settings)
    assert full.stages[0].weights - text.stages[0].weights == pytest.approx(
        QWEN_LINEAR + 2 * (model.params.vision - QWEN_LINEAR)
    )


def test_gemma3_online_fp8_quantizes_siglip_attention_only() -> None:
    """siglip.py SiglipMLP builds fc1/fc2 without the quant_config unless both sizes are
    multiples of 64 (4304 is not); Gemma3MultiModalProjector's weight is an nn.Parameter."""
    model = catalog_model(GEMMA)
    attention = 27 * 4 * 1152 * 1152
    storage = _storage(model, quantization="fp8")
    assert (storage.quantized, storage.bits) == (attention, 8.0)
    assert storage.kept == model.params.vision - attention
    bnb = _storage(model, quantization="bitsandbytes")
    assert bnb.quantized == attention + 27 * 2 * 1152 * 4304  # bitsandbytes takes the MLP too


def test_lfm25_vl_online_fp8_quantizes_the_siglip2_blocks() -> None:
    """lfm2_siglip2.py builds attention and MLP with the quant_config; the patch embedding and
    the projector's linear_1 / linear_2 are built without it."""
    model = catalog_model(LFM)
    storage = _storage(model, quantization="fp8")
    assert storage.quantized == 27 * (4 * 1152 * 1152 + 2 * 1152 * 4304)


def test_awq_that_skips_visual_keeps_the_tower_whole() -> None:
    """Qwen2.5-VL-7B-Instruct-AWQ: modules_to_not_convert ["visual"] matches every tower layer
    by substring (awq_marlin.py / auto_awq.py is_layer_skipped), so it loads in fp16."""
    model = _quantized(QWEN_AWQ)
    settings = _settings(model)
    assert settings.quantization == "awq"
    assert vision_weight_bytes(model, settings) == 2 * model.params.vision
    assert "skip list names it: visual" in _storage(model).how
    assert _storage(model, quantization="awq_marlin").quantized == 0


def test_awq_whose_skip_list_leaves_the_tower_out_quantizes_it() -> None:
    model = _quantized({**QWEN_AWQ, "modules_to_not_convert": ["lm_head"]})
    storage = _storage(model)
    assert storage.quantized == pytest.approx(QWEN_LINEAR, abs=1)
    assert storage.bits == pytest.approx(AWQ_BITS)
    # without a list vLLM reads the quantized layers from the checkpoint's tensors
    bare = _quantized({k: v for k, v in QWEN_AWQ.items() if k != "modules_to_not_convert"})
    assert _storage(bare).quantized == 0


def test_compressed_tensors_ignore_is_exact_or_regex() -> None:
    """should_ignore_layer: an equal name or re.match of an "re:" entry, after the model's
    hf_to_vllm_mapper ("model.visual." -> "visual.")."""
    w8a8 = {
        "quant_method": "compressed-tensors",
        "format": "int-quantized",
        "config_groups": {
            "group_0": {
                "targets": ["Linear"],
                "weights": {"num_bits": 8, "type": "int", "strategy": "channel"},
                "input_activations": {"num_bits": 8, "type": "int", "dynamic": True},
            }
        },
    }
    kept = _quantized({**w8a8, "ignore": ["lm_head", "re:visual.*"]})
    assert _storage(kept).quantized == 0
    merger = ["lm_head", "model.visual.merger.mlp.0", "model.visual.merger.mlp.2"]
    kept = _quantized({**w8a8, "ignore": merger})
    assert _storage(kept).quantized == QWEN_LINEAR - QWEN_MERGER
    # a name without "re:" is compared whole, and apply_vllm_mapper leaves "re:" entries as
    # written, so neither names a tower layer
    for ignore in (["lm_head"], ["lm_head", "visual"], ["lm_head", "re:model[.]visual.*"]):
        model = _quantized({**w8a8, "ignore": ignore})
        assert _storage(model).quantized == pytest.approx(QWEN_LINEAR, 1)


def test_fp8_checkpoint_skips_only_the_layers_it_names() -> None:
    """Fp8Config matches modules_to_not_convert exactly (ignored_layers_match_mode "exact"):
    fp8 VL checkpoints list each tower layer; the merger alone left unlisted is quantized."""
    layers = [
        f"model.visual.blocks.{i}.{name}"
        for i in range(32)
        for name in ("attn.qkv", "attn.proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
    ]
    fp8 = {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}
    model = _quantized({**fp8, "modules_to_not_convert": layers})
    assert _storage(model).quantized == QWEN_MERGER
    everything = _quantized(
        {**fp8, "modules_to_not_convert": [*layers, "visual.merger.mlp.0", "visual.merger.mlp.2"]}
    )
    assert _storage(everything).quantized == 0


def test_modelopt_never_quantizes_a_vision_tower_module() -> None:
    """ModelOptQuantConfigBase.get_quant_method leaves names with vision_tower / vision_model
    unquantized (Gemma-3); Qwen's "visual" needs an exclude_modules wildcard."""
    modelopt = {"quant_method": "modelopt", "quant_algo": "FP8"}
    gemma = _quantized({**modelopt, "ignore": ["lm_head"]}, GEMMA)
    assert _storage(gemma).quantized == 0
    qwen = _quantized({**modelopt, "ignore": ["lm_head"]})
    assert _storage(qwen).quantized == pytest.approx(QWEN_LINEAR, abs=1)
    excluded = _quantized({**modelopt, "ignore": ["lm_head", "visual*"]})
    assert _storage(excluded).quantized == 0


def test_explain_says_how_the_tower_is_stored() -> None:
    kw = {"max_model_len": 8192, "version": "0.33.0", "explain": True}
    fp8 = plan(QWEN, quantization="fp8", **kw).config.explanations["vision tower"]
    assert fp8.endswith("stored 0.67 B linear weights in fp8 (online), the rest in bfloat16")
    bf16 = plan(QWEN, **kw).config.explanations["vision tower"]
    assert bf16.endswith("stored in bfloat16")


def test_the_checkpoint_size_counts_a_quantized_tower_at_the_methods_bits() -> None:
    """What the config describes (held against the safetensors headers, VW213) follows the
    same rule: an AWQ tower outside the skip list is 4-bit in the checkpoint too."""
    whole = checkpoint_bytes(_quantized(QWEN_AWQ))
    quantized = checkpoint_bytes(_quantized({**QWEN_AWQ, "modules_to_not_convert": ["lm_head"]}))
    assert whole - quantized == pytest.approx(QWEN_LINEAR * (2 - AWQ_BITS / 8), rel=1e-6)
