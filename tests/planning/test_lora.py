"""LoRA (issue 13 item 5): adapter buffers sized from the layer shapes vLLM allocates
(lora/layers create_lora_weights), the extra CUDA-graph sets and vLLM's LoRA start-up errors."""

from __future__ import annotations

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.kvcache.kv import GIB
from checker.planning.memory.lora import lora_buffer_bytes
from checker.planning.planner import plan_settings
from checker.schemas.enums import Verdict
from checker.schemas.outputs import PlanResponse
from tests.planning.plans import catalog_model, fired, make_request, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-7B-Instruct"
SHORT = {"max_model_len": 16384, "version": "0.33"}


def _weights(resp: PlanResponse) -> float:
    return resp.feasibility.memory.weights_gib


def _llama_elements_per_slot(rank: int) -> int:
    """Llama-3.1-8B's buffers for one adapter slot at TP 1, from its shapes."""
    m = catalog_model(LLAMA)
    h, inter, q, kv = m.hidden_size, m.intermediate_size, 32 * 128, 8 * 128
    qkv = 3 * rank * h + (q + 2 * kv) * rank  # A per slice, B of the merged output
    o = rank * q + h * rank
    gate_up = 2 * rank * h + 2 * inter * rank
    down = rank * inter + h * rank
    layers = m.num_hidden_layers * (qkv + o + gate_up + down)
    embeddings = 2 * rank * (m.vocab_size + h)  # embed_tokens and lm_head (LlamaForCausalLM)
    return layers + embeddings


def test_lora_buffers_count_as_weights_from_the_layer_shapes() -> None:
    plain = plan(LLAMA, **SHORT)
    lora = plan(LLAMA, enable_lora=True, max_lora_rank=64, max_loras=4, **SHORT)
    expected = 4 * _llama_elements_per_slot(64) * 2 / GIB  # bf16 buffers
    assert expected == pytest.approx(1.375, abs=0.01)
    assert _weights(lora) - _weights(plain) == pytest.approx(expected, abs=0.01)
    assert lora.feasibility.log_lines[0] == f"Model loading took {_weights(lora):.2f} GiB memory"
    assert lora.feasibility.memory.kv_cache_gib < plain.feasibility.memory.kv_cache_gib


def test_rank_512_times_32_adapters_does_not_fit_an_h100() -> None:
    resp = plan(LLAMA, enable_lora=True, max_lora_rank=512, max_loras=32, **SHORT)
    buffers = 32 * _llama_elements_per_slot(512) * 2 / GIB
    assert buffers == pytest.approx(88.0, abs=0.1)
    assert not resp.feasibility.weights_fit
    assert resp.feasibility.verdict is Verdict.FAIL


def test_lora_dtype_and_fully_sharded_buffers() -> None:
    half = plan(LLAMA, enable_lora=True, max_lora_rank=64, lora_dtype="float16", **SHORT)
    auto = plan(LLAMA, enable_lora=True, max_lora_rank=64, **SHORT)
    assert _weights(half) == _weights(auto)  # both 2 bytes
    tp2 = {"gpus": 2, "tp": 2, **SHORT}
    shared = plan(LLAMA, enable_lora=True, max_lora_rank=64, max_loras=8, **tp2)
    sharded = plan(
        LLAMA, enable_lora=True, max_lora_rank=64, max_loras=8, fully_sharded_loras=True, **tp2
    )
    assert _weights(sharded) < _weights(shared)


def test_a_model_without_embedding_lora_gets_linear_buffers_only() -> None:
    m = catalog_model(QWEN)
    plain = plan(QWEN, **SHORT)
    lora = plan(QWEN, enable_lora=True, max_lora_rank=16, **SHORT)
    h, layers = m.hidden_size, m.num_hidden_layers
    q, kv = m.num_attention_heads * m.head_dim, m.num_key_value_heads * m.head_dim
    inter = m.intermediate_size
    per_layer = 16 * (3 * h + q + 2 * kv + q + h + 2 * h + 2 * inter + inter + h)
    assert _weights(lora) - _weights(plain) == pytest.approx(layers * per_layer * 2 / GIB, abs=0.01)


def test_lora_captures_a_second_set_of_cuda_graphs() -> None:
    plain = plan(LLAMA, **SHORT).feasibility.memory.cudagraph_gib
    lora = plan(LLAMA, enable_lora=True, **SHORT).feasibility.memory.cudagraph_gib
    special = plan(
        LLAMA, enable_lora=True, max_loras=4, specialize_active_lora=True, **SHORT
    ).feasibility.memory.cudagraph_gib
    assert plain < lora < special  # [0, 2] cases, then [0, 1, 2, 4, 5]


@pytest.mark.parametrize(
    ("engine", "words"),
    [
        (
            {"max_lora_rank": 48},
            "argument --max-lora-rank: invalid choice: 48 (choose from 1, 8, 16, 32, 64, 128, "
            "256, 320, 512)",
        ),
        ({"max_loras": 4, "max_cpu_loras": 2}, "max_cpu_loras (2) must be >= max_loras (4)."),
    ],
)
def test_lora_settings_vllm_refuses(engine: dict[str, object], words: str) -> None:
    assert only(plan(LLAMA, enable_lora=True, **engine, **SHORT), "VW123").message == words


def test_lora_rank_fix_is_the_next_allowed_rank() -> None:
    found = only(plan(LLAMA, enable_lora=True, max_lora_rank=48, **SHORT), "VW123")
    assert found.fix_values == {"outputs.vllm_args.max-lora-rank": 64}


def test_lora_limits_only_apply_with_lora_on() -> None:
    assert not fired(plan(LLAMA, max_lora_rank=48, max_cpu_loras=1, **SHORT), "VW123")


def test_architecture_without_lora_support_is_refused_in_vllm_words() -> None:
    model = catalog_model(LLAMA).model_copy(update={"architectures": ("BloomForCausalLM",)})
    resp = plan(LLAMA, model=model, enable_lora=True, **SHORT)
    assert only(resp, "VW123").message.startswith(
        "LoRA is not supported for BloomForCausalLM (meta-llama/Llama-3.1-8B-Instruct)."
    )
    old = plan(LLAMA, model=model, enable_lora=True, max_model_len=16384, version="0.19")
    assert only(old, "VW123").message == "BloomForCausalLM does not support LoRA yet."


def test_vocabulary_too_large_for_the_lora_lm_head() -> None:
    model = catalog_model(LLAMA).model_copy(update={"vocab_size": 262_208})
    resp = plan(LLAMA, model=model, enable_lora=True, **SHORT)
    assert only(resp, "VW123").message == "When using LoRA, vocab size must be <= 258048"


def test_explain_says_what_lora_costs() -> None:
    resp = plan(LLAMA, enable_lora=True, max_lora_rank=64, max_loras=4, explain=True, **SHORT)
    assert resp.config.explanations["--enable-lora"].startswith(
        "4 adapter slots of rank 64: +1.38 GiB of LoRA buffers per GPU"
    )


# --lora-target-modules: buffers only for the modules named (lora/model_manager.py
# _create_lora_modules; lora/utils.py is_in_target_modules). Llama-3.1-8B, rank 64, 4 slots, bf16,
# per layer and slot: qkv 3 x 64 x 4096 + (4096 + 2 x 1024) x 64 = 1,179,648 elements, o_proj
# 64 x 4096 + 4096 x 64 = 524,288; x 32 layers x 4 slots x 2 bytes.
QKV_GIB = 1_179_648 * 32 * 4 * 2 / GIB  # 0.28125
O_GIB = 524_288 * 32 * 4 * 2 / GIB  # 0.125


@pytest.mark.parametrize(
    ("version", "targets", "expected"),
    [
        ("0.33", ["o_proj"], O_GIB),
        ("0.33", ["qkv_proj", "o_proj"], QKV_GIB + O_GIB),
        # 0.24+: a packed child names its packed parent: q_proj selects the whole qkv buffer
        ("0.33", ["q_proj", "v_proj"], QKV_GIB),
        # a full module name: that layer's module only
        ("0.33", ["model.layers.0.self_attn.o_proj"], O_GIB / 32),
        ("0.33", ["model.layers.0.self_attn.qkv_proj"], QKV_GIB / 32),
        # is_in_target_modules matches a packed child by its short name only: its full name
        # selects no module (the packed parent's full name is qkv_proj's)
        ("0.33", ["model.layers.0.self_attn.q_proj"], 0.0),
        # 0.19 matches the runtime module's own name only: q_proj names no module
        ("0.19", ["q_proj", "v_proj"], 0.0),
        ("0.19", ["qkv_proj"], QKV_GIB),
    ],
)
def test_lora_target_modules_size_buffers_for_those_modules_only(
    version: str, targets: list[str], expected: float
) -> None:
    lora = {"enable_lora": True, "max_lora_rank": 64, "max_loras": 4}
    request = make_request(
        LLAMA, version=version, max_model_len=16384, lora_target_modules=targets, **lora
    )
    model = catalog_model(LLAMA)
    settings = plan_settings(request, model, find_gpu("H100-80GB"), tp=1)[0]
    assert lora_buffer_bytes(model, settings, 0) / GIB == pytest.approx(expected)
    resp = plan(LLAMA, lora_target_modules=targets, explain=True, **lora, **SHORT)
    assert "--lora-target-modules" in resp.config.explanations["--enable-lora"]
