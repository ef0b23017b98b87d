"""Full-attention layers whose KV pages differ (Nemotron-NAS block_configs) against vLLM's
arithmetic: kv_cache_utils.py get_kv_cache_groups puts them in one UniformTypeKVCacheSpecs
group whose page is the sum of the layers' pages (kv_cache_interface.py), and
get_kv_cache_config_from_groups gives available // that sum blocks; a request needs
cdiv(len, block) of them (get_max_concurrency_for_kv_cache_config)."""

from __future__ import annotations

import copy

from checker.models.catalog import lookup
from checker.planning.kvcache.kv import size_kv
from tests.planning.plans import catalog_model
from tests.planning.test_hybrid_state import BUDGET, cdiv, settings_for

NAS = "nvidia/Llama-3_3-Nemotron-Super-49B-v1"


def test_nemotron_super_uniform_pages_match_the_per_layer_division() -> None:
    # 49 attending layers, all with 64 / 8 = 8 KV heads of 128: one page size
    model = catalog_model(NAS)
    s = settings_for(model, NAS, max_model_len=32768, version="0.19")
    page = 16 * 2 * 8 * 128 * 2
    kv = size_kv(model, s, BUDGET, 0)
    assert kv.num_blocks == BUDGET // page // 49
    assert kv.tokens == kv.num_blocks * 16


def test_layers_with_different_kv_heads_divide_by_the_sum_of_their_pages() -> None:
    base = catalog_model(NAS)
    found = lookup(NAS)
    assert found is not None
    configs = copy.deepcopy(found[0]["block_configs"])
    attending = [i for i, b in enumerate(configs) if not b["attention"]["no_op"]]
    for i in attending[:10]:  # ten layers with 64 / 16 = 4 KV heads
        configs[i]["attention"]["n_heads_in_group"] = 16
    model = catalog_model(NAS, block_configs=configs)
    assert model.kv_heads_of(attending[0]) == 4 and base.kv_heads_of(attending[0]) == 8
    for version in ("0.19", "0.33"):
        s = settings_for(model, NAS, max_model_len=32768, version=version)
        pages = [16 * 2 * model.kv_heads_of(i) * 128 * 2 for i in attending]
        kv = size_kv(model, s, BUDGET, 0)
        blocks = BUDGET // sum(pages)
        assert (kv.layout.page_bytes, kv.layout.group_size, kv.layout.kinds) == (
            sum(pages),
            1,
            (model.layer_kinds[attending[0]],),
        )
        assert kv.num_blocks == blocks
        assert abs(kv.max_concurrency - blocks / cdiv(32768, 16)) < 1e-9
        expected = blocks * 16 if version == "0.19" else int(blocks / cdiv(32768, 16) * 32768)
        assert kv.tokens == expected


def test_layers_sharing_kv_allocate_no_pages() -> None:
    """vLLM's tests/v1/worker/test_gpu_model_runner.py test_init_kv_cache_with_kv_sharing_valid:
    of two layers of 8 KV heads x 64 in 16 bits (a 32 KiB page), one reads the other's cache,
    so 20 GiB holds 20 GiB // 32 KiB = 655360 blocks, twice as many as without sharing.
    Here on Llama-3.2-1B's layers (8 KV heads of 64, bf16), the last half sharing as Gemma-3n's
    num_kv_shared_layers lays it out (models/gemma3n.py: layers >= layers - shared)."""
    llama = "meta-llama/Llama-3.2-1B"
    plain = catalog_model(llama)
    shared = catalog_model(llama, num_kv_shared_layers=8)
    assert shared.kv_shared_layers == (False,) * 8 + (True,) * 8
    budget = 20 * (1 << 30)
    page = 16 * 2 * 8 * 64 * 2
    assert page == 32 * 1024
    blocks = {}
    for name, model in (("plain", plain), ("shared", shared)):
        s = settings_for(model, llama, max_model_len=8192, version="0.33")
        kv = size_kv(model, s, budget, 0)
        assert kv.layout.page_bytes == page
        blocks[name] = kv.num_blocks
    assert blocks == {"plain": budget // page // 16, "shared": budget // page // 8}


def test_per_layer_embeddings_count_as_weights() -> None:
    """Gemma-3n / Gemma-4 per-layer embeddings, with the module shapes of vLLM's
    models/gemma3n.py: embed_tokens_per_layer (vocab_size_per_layer_input x layers * width),
    per_layer_model_projection (hidden x layers * width), and in each layer a
    per_layer_input_gate (hidden x width) and per_layer_projection (width x hidden)."""
    llama = "meta-llama/Llama-3.2-1B"  # 16 layers, hidden 2048
    plain = catalog_model(llama).params
    ple = catalog_model(
        llama, hidden_size_per_layer_input=256, vocab_size_per_layer_input=262144
    ).params
    assert ple.embedding - plain.embedding == 262144 * 16 * 256
    assert ple.mlp_linear - plain.mlp_linear == 2048 * 16 * 256 + 16 * 2 * 2048 * 256
