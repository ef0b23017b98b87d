"""Engine arguments the plan honours like vLLM: max_model_len auto-fit, --cpu-offload-gb,
--num-gpu-blocks-override, and the compilation settings that decide CUDA-graph memory."""

from __future__ import annotations

import dataclasses

import pytest

from checker.hardware.catalog import find_gpu
from checker.models.config_parser import parse_config
from checker.planning.engine.settings import capture_sizes, evolve, resolve_settings
from checker.schemas.enums import Verdict
from checker.schemas.inputs import ModelInput
from checker.schemas.model_info import ModelInfo
from tests.planning.plans import catalog_model, fired, make_request, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"  # 14.99 GiB of bf16 weights, 131072 positions


def test_auto_and_minus_one_are_one_spelling() -> None:
    for value in ("auto", "AUTO", -1, "-1"):
        assert ModelInput(model="m", max_model_len=value).max_model_len == "auto"
    with pytest.raises(ValueError, match="max_model_len"):
        ModelInput(model="m", max_model_len=-2)


def test_auto_fit_reports_the_length_vllm_chooses_with_the_null_block_from_033() -> None:
    new = plan(LLAMA, "L4", max_model_len="auto", version="0.33")
    old = plan(LLAMA, "L4", max_model_len="auto", version="0.24")
    # one 16-token block is held back for the null block from 0.33
    assert old.feasibility.max_model_len - new.feasibility.max_model_len == 16
    assert 0 < new.feasibility.max_model_len < 131072
    assert new.config.max_model_len == new.feasibility.max_model_len
    assert not fired(new, "VW203") and new.feasibility.verdict is not Verdict.FAIL
    assert (
        f"Auto-fit max_model_len: reduced from 131072 to {new.feasibility.max_model_len} to fit "
        "in available KV cache memory (" in "\n".join(new.feasibility.log_lines)
    )
    assert "to fit in available GPU memory (" in "\n".join(old.feasibility.log_lines)
    # the chosen length is the longest one: one block more no longer fits
    longer = plan(LLAMA, "L4", max_model_len=new.feasibility.max_model_len + 16, version="0.33")
    assert fired(longer, "VW203")
    same = plan(LLAMA, "L4", max_model_len=new.feasibility.max_model_len, version="0.33")
    assert not fired(same, "VW203")


def test_auto_fit_keeps_the_full_length_when_it_fits_and_refuses_when_nothing_does() -> None:
    full = plan(LLAMA, "H100-80GB", max_model_len="auto")
    assert full.feasibility.max_model_len == 131072
    assert any("full model context length 131072 fits" in x for x in full.feasibility.log_lines)
    starved = plan(LLAMA, "L4", max_model_len="auto", util=0.6)
    found = only(starved, "VW206")
    assert found.message.startswith("Cannot auto-fit max_model_len: not enough GPU memory")
    assert not fired(starved, "VW202") and starved.feasibility.verdict is Verdict.FAIL


def test_cpu_offload_moves_decoder_weights_off_a_16_gb_card() -> None:
    card = "RTX-4060-Ti-16GB"
    without = plan(LLAMA, card, max_model_len=8192)
    offloaded = plan(LLAMA, card, max_model_len=8192, cpu_offload_gb=8)
    assert without.feasibility.verdict is Verdict.FAIL
    assert offloaded.feasibility.memory.weights_gib == pytest.approx(
        without.feasibility.memory.weights_gib - 8, abs=0.01
    )
    assert offloaded.feasibility.verdict is not Verdict.FAIL
    # more than the decoder layers hold: the embedding and LM head stay on the GPU
    everything = plan(LLAMA, card, max_model_len=8192, cpu_offload_gb=100)
    assert 1.5 < everything.feasibility.memory.weights_gib < 2.5  # 2 x 128256 x 4096 x 2 B


def test_num_gpu_blocks_override_allocates_that_many_blocks_and_checks_them_from_021() -> None:
    old = plan(LLAMA, max_model_len=16384, num_gpu_blocks_override=100, version="0.19")
    assert old.feasibility.kv is not None and old.feasibility.kv.tokens == 1600
    assert not fired(old, "VW203")  # 0.19 checks the profiled memory, then allocates 100
    new = plan(LLAMA, max_model_len=16384, num_gpu_blocks_override=100, version="0.21")
    assert new.feasibility.kv is not None and new.feasibility.kv.tokens == 1600
    assert "estimated maximum model length is 1600" in only(new, "VW203").message
    # 0.33 keeps the null block back: 99 blocks of 16 tokens
    newest = plan(LLAMA, max_model_len=16384, num_gpu_blocks_override=100, version="0.33")
    assert "estimated maximum model length is 1584" in only(newest, "VW203").message


def test_o0_and_cudagraph_mode_none_capture_no_graphs() -> None:
    base = plan(LLAMA, max_model_len=16384)
    assert base.feasibility.memory.cudagraph_gib > 0
    for settings in ({"optimization_level": 0}, {"cudagraph_mode": "NONE"}):
        eager = plan(LLAMA, max_model_len=16384, **settings)
        assert eager.feasibility.memory.cudagraph_gib == 0
        assert eager.feasibility.memory.kv_cache_gib > base.feasibility.memory.kv_cache_gib
    # an explicit mode wins over the level's default
    piecewise = plan(LLAMA, max_model_len=16384, optimization_level=0, cudagraph_mode="PIECEWISE")
    assert piecewise.feasibility.memory.cudagraph_gib == base.feasibility.memory.cudagraph_gib


def test_capture_sizes_default_and_explicit() -> None:
    assert capture_sizes(1024, 8192, None)[-1] == 512
    assert capture_sizes(1024, 8192, None, default_cap=1024)[-1] == 1024  # SM100 in 0.33
    # newer releases add max_num_seqs and max_num_batched_tokens off the stride
    assert 100 not in capture_sizes(100, 8192, None)
    assert 100 in capture_sizes(100, 8192, None, appends=("max_num_seqs",))
    assert 100 not in capture_sizes(100, 8192, 512, appends=("max_num_seqs",))  # explicit cap
    assert capture_sizes(256, 100, None, appends=("max_num_batched_tokens",))[-1] == 100
    assert capture_sizes(256, 100, None)[-1] == 96
    assert capture_sizes(1024, 8192, None, explicit=(4, 1, 4, 9000)) == (1, 4)
    assert capture_sizes(1024, 8192, None, interactivity=True)[:33] == tuple(range(1, 33)) + (40,)


def test_blackwell_captures_to_1024_from_033_and_profiles_honour_explicit_sizes() -> None:
    b200 = plan(LLAMA, "B200", max_model_len=16384)
    h100 = plan(LLAMA, "H100-80GB", max_model_len=16384)
    old = plan(LLAMA, "B200", max_model_len=16384, version="0.24")
    assert b200.feasibility.memory.cudagraph_gib > old.feasibility.memory.cudagraph_gib
    assert h100.feasibility.memory.cudagraph_gib < b200.feasibility.memory.cudagraph_gib
    few = plan(LLAMA, "H100-80GB", max_model_len=16384, cudagraph_capture_sizes=(1, 2, 4, 8))
    capped = plan(LLAMA, "H100-80GB", max_model_len=16384, max_cudagraph_capture_size=64)
    assert few.feasibility.memory.cudagraph_gib < capped.feasibility.memory.cudagraph_gib
    assert capped.feasibility.memory.cudagraph_gib < h100.feasibility.memory.cudagraph_gib


def test_throughput_mode_doubles_the_batch_defaults_only() -> None:
    base = plan(LLAMA, max_model_len=16384).config
    fast = plan(LLAMA, max_model_len=16384, performance_mode="throughput").config
    assert (fast.max_num_batched_tokens, fast.max_num_seqs) == (
        2 * base.max_num_batched_tokens,
        2 * base.max_num_seqs,
    )
    pinned = plan(LLAMA, max_model_len=16384, performance_mode="throughput", max_num_seqs=64)
    assert pinned.config.max_num_seqs == 64


def _vector_model(layers: int) -> ModelInfo:
    """The KV spec of vLLM's tests/v1/core/test_kv_cache_utils.py vectors: full attention,
    block 16, 2 KV heads of 64, float32 (16 KiB per block and layer)."""
    config = {
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "num_hidden_layers": layers,
        "intermediate_size": 256,
        "vocab_size": 1024,
        "max_position_embeddings": 16384,
        "torch_dtype": "float32",
    }
    return parse_config(config, model_id="vector", source="local")


@pytest.mark.parametrize(
    ("memory", "version", "refused"),
    [
        (524288, "0.33", True),  # err-check-enough-null-block-32: 32 blocks leave 31 usable
        (540672, "0.33", False),  # err-check-enough-null-block-33
        (524288, "0.24", False),  # before the null block was held back
    ],
)
def test_the_shared_null_block_vectors(memory: int, version: str, refused: bool) -> None:
    resp = plan(
        "vector",
        model=_vector_model(1),
        max_model_len=512,
        dtype="float32",
        kv_cache_memory_bytes=memory,
        version=version,
    )
    assert bool(fired(resp, "VW203")) is refused


def test_the_shared_override_vector_admits_against_the_override() -> None:
    # err-check-enough-respects-override (0.33, 16-token blocks): 32 MiB holds 1024 blocks,
    # the override allows 32
    resp = plan(
        "vector",
        model=_vector_model(2),
        max_model_len=16384,
        dtype="float32",
        kv_cache_memory_bytes=33554432,
        num_gpu_blocks_override=32,
        version="0.33",
    )
    assert fired(resp, "VW203")

    def one_block_more(version: str) -> bool:
        return bool(
            fired(
                plan(
                    "vector",
                    model=_vector_model(2),
                    max_model_len=16384,
                    dtype="float32",
                    kv_cache_memory_bytes=33554432 + 32768,
                    version=version,
                ),
                "VW203",
            )
        )

    assert not one_block_more("0.33")  # 1025 blocks: 1024 after the null block
    # 0.34's 64-token blocks are four times the page: 256 blocks, 255 after the null block
    assert one_block_more("0.34")


def test_capture_sizes_and_a_different_maximum_are_refused_together() -> None:
    both = plan(
        LLAMA,
        max_model_len=16384,
        cudagraph_capture_sizes=(1, 8, 64),
        max_cudagraph_capture_size=32,
    )
    assert only(both, "VW122").message == (
        "customized max_cudagraph_capture_size(=32) should be consistent with the max value of "
        "cudagraph_capture_sizes(=64)"
    )
    sizes = (1, 8, 64)
    agreeing = plan(
        LLAMA, max_model_len=16384, cudagraph_capture_sizes=sizes, max_cudagraph_capture_size=64
    )
    assert not fired(agreeing, "VW122")
    eager = plan(
        LLAMA,
        max_model_len=16384,
        enforce_eager=True,
        cudagraph_capture_sizes=sizes,
        max_cudagraph_capture_size=32,
    )
    assert not fired(eager, "VW122")


def test_evolve_is_replace_and_refuses_unknown_fields() -> None:
    settings = resolve_settings(
        make_request(LLAMA, "L4"), catalog_model(LLAMA), find_gpu("L4"), tp=1
    )
    changed = evolve(settings, tp=2, max_model_len=4096)
    assert changed == dataclasses.replace(settings, tp=2, max_model_len=4096)
    assert (settings.tp, settings.max_model_len) != (2, 4096)  # the original is kept
    with pytest.raises(TypeError, match="tensor_parallel_size"):
        evolve(settings, tensor_parallel_size=2)
