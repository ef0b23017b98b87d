"""The packed KV cache dtypes of vLLM 0.33 sized as its backends lay them out, and refused where
no backend takes them (checker/data/kv_cache_dtypes.yaml cites the sources):
- per_token_head (Triton attention): K and V each head_size x bits / 8 bytes plus a float32 scale;
- nvfp4 (FlashInfer): K and V each head_size / 2 bytes of fp4 plus head_size / 16 fp8 scales."""

from __future__ import annotations

import pytest

from checker.planning.kvcache.kv import size_kv
from tests.planning.plans import catalog_model, fired, only, plan
from tests.planning.test_hybrid_state import BUDGET, settings_for

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"  # 32 layers, 8 KV heads of 128


@pytest.mark.parametrize(
    ("kv_dtype", "gpu", "per_head_token"),
    [
        ("int8_per_token_head", "H100-80GB", 2 * (128 + 4)),
        ("fp8_per_token_head", "A100-80GB", 2 * (128 + 4)),
        ("int4_per_token_head", "H100-80GB", 2 * (64 + 4)),
        ("nvfp4", "B200", 2 * (64 + 8)),
        ("nvfp4", "H100-80GB", 2 * (64 + 8)),  # FlashInfer's FA2 path on Hopper
        ("nvfp4_4over6", "B200", 2 * (64 + 8)),
    ],
)
def test_packed_dtypes_size_pages_blocks_and_tokens(
    kv_dtype: str, gpu: str, per_head_token: int
) -> None:
    model = catalog_model(LLAMA)
    s = settings_for(
        model, LLAMA, gpu=gpu, version="0.33", max_model_len=8192, kv_cache_dtype=kv_dtype
    )
    kv = size_kv(model, s, BUDGET, 0)
    page = 16 * 8 * per_head_token
    assert kv.layout.page_bytes == page
    assert kv.layout.bytes_per_token == 32 * 8 * per_head_token
    assert kv.num_blocks == BUDGET // page // 32
    assert kv.tokens == int(kv.num_blocks / (8192 // 16) * 8192)
    assert not fired(
        plan(LLAMA, gpu, version="0.33", max_model_len=8192, kv_cache_dtype=kv_dtype), "VW141"
    )


@pytest.mark.parametrize(
    ("model_id", "gpu", "kv_dtype", "words"),
    [
        ("deepseek-ai/DeepSeek-V3", "H100-80GB", "int8_per_token_head", "no MLA backend"),
        (LLAMA, "H100-80GB", "nvfp4_4over6", "compute capability 10.x only"),
        (LLAMA, "T4", "nvfp4", "compute capability 8.x, 9.x, 10.x, 12.x only"),
        ("meta-llama/Llama-3.2-1B", "H100-80GB", "nvfp4", "head size 64"),
    ],
)
def test_a_packed_dtype_without_a_backend_is_an_error(
    model_id: str, gpu: str, kv_dtype: str, words: str
) -> None:
    resp = plan(
        model_id,
        gpu,
        gpus=8 if "DeepSeek" in model_id else 1,
        version="0.33",
        max_model_len=4096,
        kv_cache_dtype=kv_dtype,
    )
    found = only(resp, "VW141")
    assert found.message.startswith("No valid attention backend found for cuda")
    assert words in found.message
    assert found.fix_values == {"model.kv_cache_dtype": "fp8"}


def test_older_releases_refuse_the_new_dtypes() -> None:
    resp = plan(LLAMA, version="0.19", max_model_len=8192, kv_cache_dtype="nvfp4")
    assert "invalid choice: 'nvfp4'" in only(resp, "VW112").message


DEEPSEEK = "deepseek-ai/DeepSeek-V3"


def test_fp8_ds_mla_is_656_bytes_a_token_and_sparse_mla_only() -> None:
    model = catalog_model(DEEPSEEK)
    s = settings_for(
        model, DEEPSEEK, version="0.33", max_model_len=8192, kv_cache_dtype="fp8_ds_mla"
    )
    kv = size_kv(model, s, BUDGET, 0)
    assert kv.layout.page_bytes == s.block_size * 656  # not 576 latent bytes
    assert kv.num_blocks == BUDGET // (s.block_size * 656) // 61
    # DeepSeek-V3 has no indexer (index_topk): only sparse MLA backends take fp8_ds_mla
    resp = plan(DEEPSEEK, gpus=8, version="0.33", max_model_len=8192, kv_cache_dtype="fp8_ds_mla")
    assert "only sparse MLA backends" in only(resp, "VW141").message
    resp = plan(LLAMA, version="0.33", max_model_len=8192, kv_cache_dtype="fp8_ds_mla")
    assert "only sparse MLA backends" in only(resp, "VW141").message


def test_a_sparse_mla_config_is_sized_with_its_indexer_and_takes_fp8_ds_mla() -> None:
    # DeepSeek-V3.2 adds index_topk (and an indexer key cache per layer) to DeepSeek-V3's config;
    # the indexer's pages are sized (tests/planning/test_catalog_families.py), not flagged
    model = catalog_model(DEEPSEEK, index_topk=2048, index_head_dim=128, index_n_heads=64)
    assert model.sparse_mla and model.indexer_token_bytes == 132
    assert model.unmodeled_layer_kinds == ()
    resp = plan(
        DEEPSEEK,
        model=model,
        gpus=8,
        version="0.33",
        max_model_len=8192,
        kv_cache_dtype="fp8_ds_mla",
    )
    assert not fired(resp, "VW141") and not fired(resp, "VW124")


def test_a_16_bit_cache_other_than_the_model_dtype_is_refused_from_0_33() -> None:
    # config/vllm.py VllmConfig._reject_mismatched_float_kv_cache (0.33; 0.19 had no check)
    found = only(plan(LLAMA, version="0.33", max_model_len=8192, kv_cache_dtype="float16"), "VW142")
    assert found.message == (
        'kv_cache_dtype="float16" is incompatible with dtype="bfloat16". '
        "Please set `--kv-cache-dtype` to `auto` or `bfloat16`."
    )
    assert found.fix_values == {"model.kv_cache_dtype": "auto"}
    for version, kv in (("0.33", "bfloat16"), ("0.19", "float16")):
        resp = plan(LLAMA, version=version, max_model_len=8192, kv_cache_dtype=kv)
        assert not fired(resp, "VW142")


def test_glm_5_runs_an_auto_cache_in_fp8_on_blackwell() -> None:
    # models/config.py GlmMoeDsaForCausalLM.verify_and_update_config (0.33.0, 0.34.0): auto
    # becomes fp8_e4m3 on compute capability 10.x, which FlashInfer's sparse MLA kernel takes
    glm = "zai-org/GLM-5"
    model = catalog_model(glm)
    kw = {"tp": 8, "max_model_len": 32768}
    for version in ("0.33", "0.34"):
        blackwell = settings_for(model, glm, gpu="B200", version=version, **kw)
        assert blackwell.kv_cache_dtype == "fp8_e4m3"
        assert blackwell.mla_backend == "FLASHINFER_MLA_SPARSE"
        hopper = settings_for(model, glm, gpu="H200", version=version, **kw)
        assert hopper.kv_cache_dtype == "auto"
    # the MLA latent of each of the 78 layers halves (576 bytes a token, not 1152); the indexer
    # keys do not change
    fp8 = settings_for(model, glm, gpu="B200", version="0.34", **kw)
    bf16 = settings_for(model, glm, gpu="B200", version="0.34", kv_cache_dtype="bfloat16", **kw)
    assert bf16.kv_cache_dtype == "bfloat16"
    page_fp8 = size_kv(model, fp8, BUDGET, 0).layout.page_bytes
    page_bf16 = size_kv(model, bf16, BUDGET, 0).layout.page_bytes
    assert page_bf16 - page_fp8 == fp8.block_size * 576 * 78
    resp = plan(glm, "B200", gpus=8, tp=8, max_model_len=32768)
    assert resp.feasibility.log_lines[0] == "Using fp8 kv-cache for GlmMoeDsaForCausalLM on SM10x"
    chosen = plan(glm, "B200", gpus=8, tp=8, max_model_len=32768, kv_cache_dtype="fp8_e4m3")
    assert chosen.feasibility.log_lines[0].startswith("Model loading took")
