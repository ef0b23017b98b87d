"""Sparse MLA's indexer key cache (models/deepseek_v2.py DeepseekV32IndexerCache: 128 fp8
values and a float32 scale, 132 bytes a token) lives in the indexer: from 0.33.0 the layers that
reuse a preceding layer's top-k build no indexer (models/deepseek_v32/attention.py
DeepseekV32Attention), so register no cache; 0.19.0 builds one in every layer."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import resolve_settings
from checker.planning.kvcache.kv import indexer_costs, size_kv
from checker.planning.kvcache.kv_groups import _target_specs
from tests.planning.conftest import request
from tests.planning.plans import catalog_model

GLM = "zai-org/GLM-5.2"  # 78 MLA layers; indexer_types: 21 "full", 57 "shared"
EVERY_LAYER = {"indexer_types": None, "index_topk_freq": 1}  # GLM-5's indexer in every layer
BUDGET = 40e9


def kv(version: str, **overrides: Any) -> tuple[int, int]:
    """(KV bytes a token, tokens the budget holds) on one of 8 H200 ranks."""
    m = catalog_model(GLM, **overrides)
    s = resolve_settings(request(GLM, tp=8, version=version), m, find_gpu("H200"), tp=8)
    sized = size_kv(m, s, BUDGET, 0)
    return sized.layout.bytes_per_token, sized.tokens


@pytest.mark.parametrize("version", ["0.33", "0.34"])
def test_layers_sharing_the_top_k_hold_no_indexer_cache_from_0_33(version: str) -> None:
    shared, every = kv(version), kv(version, **EVERY_LAYER)
    assert every[0] - shared[0] == 57 * 132
    # the budget holds more tokens by the same ratio (one group: blocks of the summed pages)
    assert shared[1] / every[1] == pytest.approx(every[0] / shared[0], rel=1e-3)


def test_every_layer_holds_an_indexer_cache_in_0_19() -> None:
    assert kv("0.19") == kv("0.19", **EVERY_LAYER)
    assert kv("0.19")[0] - kv("0.33")[0] == 57 * 132


def test_the_drafter_groups_and_explain_count_only_the_built_indexers() -> None:
    m = catalog_model(GLM)
    s = resolve_settings(request(GLM, tp=8, version="0.33"), m, find_gpu("H200"), tp=8)
    indexer_page = s.block_size * 132
    assert [page for _, page in _target_specs(m, s)].count(indexer_page) == 21
    assert (
        "in 21 of the 78 MLA layers (the other 57 reuse"
        in indexer_costs(m, s)["sparse attention indexer"]
    )
