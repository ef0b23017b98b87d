"""The block size an MLA model runs with on each GPU, as vLLM's CUDA backend selection picks it
(platforms/cuda.py _get_backend_priorities, backends' supported compute capabilities and KV
dtypes, AttentionBackend.get_preferred_block_size; checker/data/attention_backends.yaml)."""

from __future__ import annotations

import pytest

from checker.planning.kvcache.attention import mla_backend, preferred_block_size
from checker.planning.kvcache.kv import size_kv
from tests.planning.plans import catalog_model, plan
from tests.planning.test_hybrid_state import BUDGET, settings_for

DEEPSEEK = "deepseek-ai/DeepSeek-V3"  # qk_nope_head_dim 128


@pytest.mark.parametrize(
    ("gpu", "kv_dtype", "backend", "block"),
    [
        ("H100-80GB", "auto", "FLASH_ATTN_MLA", 16),  # FA3's MLA takes any multiple of 16
        ("H200", "auto", "FLASH_ATTN_MLA", 16),
        ("H100-80GB", "fp8", "FLASHMLA", 64),  # FA MLA has no fp8 cache: FlashMLA's 64
        ("B200", "auto", "FLASHINFER_MLA", 32),  # [32, 64]: 16 refused, the smallest
        ("B300", "fp8", "FLASHINFER_MLA", 32),
        ("A100-80GB", "auto", "TRITON_MLA", 16),
        ("L40S", "fp8", "TRITON_MLA", 16),
        ("RTX-5090", "auto", "TRITON_MLA", 16),
    ],
)
def test_each_gpu_gets_its_backends_block_size(
    gpu: str, kv_dtype: str, backend: str, block: int
) -> None:
    model = catalog_model(DEEPSEEK)
    for version in ("0.19", "0.33"):
        s = settings_for(
            model, DEEPSEEK, gpu=gpu, version=version, max_model_len=8192, kv_cache_dtype=kv_dtype
        )
        assert mla_backend(s.gpu.capability, kv_dtype, 128, s.facts.version) == backend
        assert s.block_size == block
        kv = size_kv(model, s, BUDGET, 0)
        latent = (512 + 64) * (1 if kv_dtype == "fp8" else 2)  # kv_lora_rank + rope dims
        assert kv.layout.page_bytes == block * latent
        assert kv.num_blocks == BUDGET // (block * latent) // 61


def test_blackwell_falls_back_to_cutlass_mla_for_other_head_dims() -> None:
    # FlashInfer MLA's kernel needs qk_nope_head_dim 64, 128 or 192
    backend = mla_backend(100, "auto", 96, "0.33.0")
    assert backend == "CUTLASS_MLA" and preferred_block_size(backend, 16) == 128


def test_releases_before_the_backend_table_keep_their_figure() -> None:
    model = catalog_model(DEEPSEEK)
    s = settings_for(model, DEEPSEEK, gpu="H100-80GB", version="0.10", max_model_len=8192)
    assert s.block_size == 64


def test_an_amd_gpu_is_not_given_a_cuda_backend() -> None:
    model = catalog_model(DEEPSEEK)
    s = settings_for(model, DEEPSEEK, gpu="MI300X", version="0.33", max_model_len=8192)
    assert s.block_size == 16


def test_the_log_shows_the_block_size_the_backend_forced() -> None:
    resp = plan(DEEPSEEK, "B200", gpus=8, version="0.33", max_model_len=8192)
    assert resp.feasibility.log_lines[0] == (
        "Setting kv cache block size to 32 for FLASHINFER_MLA backend(s)."
    )
    lite = "deepseek-ai/DeepSeek-V2-Lite-Chat"
    resp = plan(lite, "H100-80GB", version="0.19", max_model_len=8192, kv_cache_dtype="fp8")
    assert (
        resp.feasibility.log_lines[0] == "Setting kv cache block size to 64 for FLASHMLA backend."
    )
    # no line where 16 stands or the profile sets the block size
    resp = plan(lite, "H100-80GB", version="0.33", max_model_len=8192)
    assert resp.feasibility.log_lines[0].startswith("Model loading took")
    resp = plan(DEEPSEEK, "B200", gpus=8, version="0.33", max_model_len=8192, block_size=64)
    assert resp.feasibility.log_lines[0].startswith("Model loading took")


@pytest.mark.parametrize(
    ("gpu", "kv_dtype", "block"),
    [
        ("H100-80GB", "auto", 64),  # FLASH_ATTN_MLA: any multiple of 16 takes 64
        ("H100-80GB", "fp8", 64),  # FLASHMLA
        ("B200", "auto", 64),  # FLASHINFER_MLA [32, 64]: 64 now, 32 before
        ("A100-80GB", "auto", 64),  # TRITON_MLA
    ],
)
def test_034_starts_every_backend_from_64_token_blocks(gpu: str, kv_dtype: str, block: int) -> None:
    # 0.34.0 config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE = 64: every backend that takes it
    # keeps it (get_preferred_block_size)
    model = catalog_model(DEEPSEEK)
    s = settings_for(
        model, DEEPSEEK, gpu=gpu, version="0.34", max_model_len=8192, kv_cache_dtype=kv_dtype
    )
    assert s.block_size == block
    assert size_kv(model, s, BUDGET, 0).layout.page_bytes == block * (512 + 64) * (
        1 if kv_dtype == "fp8" else 2
    )
    qwen = "Qwen/Qwen3-8B"  # a GQA model on FlashAttention
    assert settings_for(catalog_model(qwen), qwen, version="0.33").block_size == 16
    assert settings_for(catalog_model(qwen), qwen, version="0.34").block_size == 64


def test_034_logs_a_block_size_only_where_the_backend_refuses_64() -> None:
    resp = plan(DEEPSEEK, "B200", gpus=8, version="0.34", max_model_len=8192)
    assert resp.feasibility.log_lines[0].startswith("Model loading took")
    assert preferred_block_size("CUTLASS_MLA", 64) == 128
    assert preferred_block_size("FLASHINFER_MLA_SPARSE", 64) == 64


def test_034_aligns_a_hybrids_block_from_64() -> None:
    # Platform._align_hybrid_block_size: max(smallest kernel block, block size) times the
    # attention pages one state page needs
    jamba = "ai21labs/AI21-Jamba-1.5-Mini"
    model = catalog_model(jamba)
    assert settings_for(model, jamba, version="0.33", max_model_len=8192).block_size == 80
    assert settings_for(model, jamba, version="0.34", max_model_len=8192).block_size == 128
