"""The held-out corpus of hybrid-architecture start-up logs (issue 14) parses, every case plans,
and the engine meets its accuracy targets on it (KV median <= 3 %, max <= 10 %)."""

from __future__ import annotations

from types import ModuleType

from tests.conftest import REPO, load_benchmark

CORPUS = REPO / "benchmarks" / "corpora" / "hybrid_heldout.yaml"
CONFIGS = REPO / "tests" / "data" / "configs"


def _accuracy() -> ModuleType:
    return load_benchmark("accuracy")


def test_config_model_names_the_config_planned() -> None:
    accuracy = _accuracy()
    (case,) = [c for c in accuracy.corpus_cases(CORPUS) if c.get("config_model")]
    config, where = accuracy.case_config(case, CONFIGS)
    assert config is not None and "Thinking" in where
    _, where = accuracy.case_config({**case, "config_model": None}, CONFIGS)
    assert "Instruct" in where  # the logged checkpoint itself is not in the catalog


def test_the_engine_meets_its_targets_on_every_case() -> None:
    result = _accuracy().evaluate(CORPUS, CONFIGS)
    assert result["skipped"] == []
    assert result["status"]["agree"] == result["status"]["n"] == len(result["cases"])
    kv = result["fields"]["kv_cache_gib"]
    assert kv["n"] == len(result["cases"])
    assert kv["median_abs_pct"] <= 3 and kv["max_abs_pct"] <= 10
