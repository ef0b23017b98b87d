"""Full-attention layers whose KV pages differ (Nemotron-NAS block_configs) against vLLM's
arithmetic: kv_cache_utils.py get_kv_cache_groups puts them in one UniformTypeKVCacheSpecs
group whose page is the sum of the layers' pages (kv_cache_interface.py), and
get_kv_cache_config_from_groups gives available // that sum blocks; a request needs
cdiv(len, block) of them (get_max_concurrency_for_kv_cache_config)."""

from __future__ import annotations

import copy

from checker.models.catalog import lookup
from checker.planning.kv import size_kv
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
