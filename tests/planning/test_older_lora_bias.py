"""--enable-lora-bias (0.6 .. 0.10): a bias buffer beside each wrapped linear's LoRA B
(lora/layers.py BaseLinearLayerWithLoRA.create_lora_weights: lora_bias_stacked [max_loras, 1,
out] per slice), allocated with the weights."""

from __future__ import annotations

from typing import Any

from checker.hardware.catalog import find_gpu
from checker.planning.memory.lora import lora_buffer_bytes
from checker.planning.planner import plan_settings
from tests.planning.plans import catalog_model, make_request, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


def _buffers(**kw: Any) -> float:
    request = make_request(LLAMA, version="0.10.2", max_model_len=8192, enable_lora=True, **kw)
    model = catalog_model(LLAMA)
    settings = plan_settings(request, model, find_gpu("H100-80GB"), tp=kw.get("tp") or 1)[0]
    return lora_buffer_bytes(model, settings, 0)


def test_bias_adds_one_element_per_b_output_row() -> None:
    """Llama-3.1-8B per layer: qkv 32 x 128 + 2 x 8 x 128 = 6,144, o 4,096, gate_up 2 x 14,336
    = 28,672, down 4,096: 43,008 x 32 layers = 1,376,256 bf16 elements = 2,752,512 bytes a
    slot; 4 slots: 11,010,048 bytes."""
    added = _buffers(max_loras=4, enable_lora_bias=True) - _buffers(max_loras=4)
    assert added == 4 * 2 * 32 * (6144 + 4096 + 28672 + 4096) == 11_010_048


def test_tensor_parallel_shards_the_column_biases() -> None:
    """TP 2: qkv 3,072 and gate_up 14,336 per rank; o and down keep the full 4,096 (row-parallel
    B is not sharded unless fully_sharded_loras): 25,600 x 32 x 2 bytes."""
    added = _buffers(tp=2, gpus=2, enable_lora_bias=True) - _buffers(tp=2, gpus=2)
    assert added == 32 * 2 * (3072 + 14336 + 4096 + 4096) == 1_638_400


def test_explain_says_what_the_biases_take() -> None:
    resp = plan(
        LLAMA,
        version="0.10.2",
        max_model_len=8192,
        enable_lora=True,
        enable_lora_bias=True,
        explain=True,
    )
    assert "2.6 MiB of them LoRA biases" in resp.config.explanations["--enable-lora"]
