"""The held-out corpus of feature start-up logs (issues 13 and 14) parses and every case plans."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from tests.conftest import REPO, load_benchmark

CORPUS = REPO / "benchmarks" / "corpora" / "features_heldout.yaml"
CONFIGS = REPO / "tests" / "data" / "configs"


def _accuracy() -> ModuleType:
    return load_benchmark("accuracy")


def test_every_case_names_its_source_and_quotes_its_lines() -> None:
    cases: list[dict[str, Any]] = _accuracy().corpus_cases(CORPUS)
    assert cases
    assert len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        assert str(case["source"]).startswith("https://"), case["id"]
        assert case["raw_excerpt"] and case["observed"], case["id"]


def test_every_case_plans_with_its_engine_args() -> None:
    result = _accuracy().evaluate(CORPUS, CONFIGS)
    assert result["skipped"] == []
    assert len(result["cases"]) == len(_accuracy().corpus_cases(CORPUS))


def test_engine_args_reach_the_plan() -> None:
    accuracy = _accuracy()
    (lmcache,) = [c for c in accuracy.corpus_cases(CORPUS) if "lmcache" in c["id"]]
    request, _ = accuracy.case_request(lmcache)
    assert request.engine.kv_transfer_config["kv_connector"] == "LMCacheConnectorV1"
    request, _ = accuracy.case_request({**lmcache, "engine_args": {"data_parallel_size": 2}})
    assert request.hardware.gpus == 8  # DP 2 x TP 4


def test_bad_engine_args_skip_the_case_with_the_reason() -> None:
    accuracy = _accuracy()
    (case,) = [c for c in accuracy.corpus_cases(CORPUS) if "lmcache" in c["id"]]
    result = accuracy.evaluate_cases(
        [{**case, "engine_args": {"no_such_flag": 1}}, {**case, "id": "x", "engine_args": [1]}],
        CONFIGS,
    )
    reasons = [s["reason"] for s in result["skipped"]]
    assert len(reasons) == 2 and all("engine_args" in r for r in reasons)
    assert "no_such_flag" in reasons[0]
