"""benchmarks/accuracy.py on the held-out planner corpus shipped beside it."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO, load_benchmark

HELDOUT = REPO / "benchmarks" / "corpora" / "planner_v019_heldout.yaml"
CONFIGS = REPO / "tests" / "data" / "configs"


def _accuracy() -> ModuleType:
    return load_benchmark("accuracy")


def test_heldout_corpus_plans_and_catches_the_vocabulary_split_failure() -> None:
    result = _accuracy().evaluate(HELDOUT, CONFIGS)
    by_id = {case["id"]: case for case in result["cases"]}
    assert len(by_id) >= 12
    qwen = by_id["planner-heldout-qwen-qwen3-14b--h100-80gb--tp5pp1dp1--8192-failed"]
    assert qwen["predicted"]["status"] == "failed" and "VW119" in qwen["predicted"]["findings"]
    assert result["fields"]["kv_cache_gib"]["median_abs_pct"] < 3


def test_a_corpus_without_cases_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "corpus.yaml"
    bad.write_text("- just a list\n")
    with pytest.raises(SystemExit, match="expected a mapping with a 'cases' list"):
        _accuracy().evaluate(bad, CONFIGS)


def test_a_partial_vendored_config_keeps_the_catalogs_nested_fields(tmp_path: Path) -> None:
    """shared/validation/configs copies Mistral-Small-3.1's vision_config with hidden_size only:
    the catalog's other vision fields still apply, so the tower is counted as in the catalog."""
    model = "mistralai/Mistral-Small-3.1-24B-Instruct-2503"
    partial = {"architectures": ["MistralForCausalLM"], "vision_config": {"hidden_size": 1024}}
    (tmp_path / (model.replace("/", "__") + ".json")).write_text(json.dumps(partial))
    config, where = _accuracy().case_config({"model": model}, tmp_path)
    assert where.endswith("+ catalog")
    assert config["vision_config"]["num_hidden_layers"] == 24
    assert config["vision_config"]["hidden_size"] == 1024
