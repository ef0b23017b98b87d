"""The held-out corpus of feature start-up logs (issues 13 and 14) parses and every case plans."""

from __future__ import annotations

from types import ModuleType

from checker.schemas.enums import Interconnect
from tests.conftest import REPO, load_benchmark

CORPUS = REPO / "benchmarks" / "corpora" / "features_heldout.yaml"
CONFIGS = REPO / "tests" / "data" / "configs"


def _accuracy() -> ModuleType:
    return load_benchmark("accuracy")


def test_every_case_plans_with_its_engine_args() -> None:
    result = _accuracy().evaluate(CORPUS, CONFIGS)
    assert result["skipped"] == []
    planned = [c for c in _accuracy().corpus_cases(CORPUS) if not c.get("out_of_scope")]
    assert len(result["cases"]) == len(planned)


def test_engine_args_reach_the_plan() -> None:
    accuracy = _accuracy()
    (lmcache,) = [c for c in accuracy.corpus_cases(CORPUS) if "lmcache" in c["id"]]
    request, _ = accuracy.case_request(lmcache)
    assert request.engine.kv_transfer_config["kv_connector"] == "LMCacheConnectorV1"
    unstated = {k: v for k, v in lmcache.items() if k != "num_gpus"}
    request, _ = accuracy.case_request({**unstated, "engine_args": {"data_parallel_size": 2}})
    assert request.hardware.gpus == 8  # DP 2 x TP 4 where the case states no GPU count
    request, _ = accuracy.case_request({**lmcache, "engine_args": {"data_parallel_size": 2}})
    assert request.hardware.gpus == 4  # the machine's GPUs, as the case states them


def test_data_parallel_on_too_few_gpus_fails_as_in_the_log() -> None:
    # llm-d-planner's v0.19.0 sweep gave --data-parallel-size 2 one H100: vLLM failed with "DP
    # adjusted local rank 1 is out of bounds" after DP rank 0 loaded 14.99 GiB of weights
    result = _accuracy().evaluate(CORPUS, CONFIGS)
    (row,) = [r for r in result["cases"] if "dp2-on-one-gpu" in r["id"]]
    assert row["predicted"]["status"] == row["observed"]["status"] == "failed"
    assert "VW301" in row["predicted"]["findings"]
    assert abs(row["predicted"]["weights_gib"] / row["observed"]["weights_gib"] - 1) < 0.01


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


def test_out_of_scope_cases_are_listed_with_their_reason_outside_the_figures() -> None:
    accuracy = _accuracy()
    cases = accuracy.corpus_cases(CORPUS)
    (lmcache,) = [c for c in cases if "lmcache" in c["id"]]
    result = accuracy.evaluate_cases(
        [lmcache, {**lmcache, "id": "dsv4", "out_of_scope": "DeepseekV4ForCausalLM not modeled"}],
        CONFIGS,
    )
    assert [c["id"] for c in result["cases"]] == [lmcache["id"]]
    assert result["out_of_scope"] == [{"id": "dsv4", "reason": "DeepseekV4ForCausalLM not modeled"}]
    assert result["fields"]["kv_cache_gib"]["n"] == 1


def test_a_negative_available_kv_memory_is_predicted_signed() -> None:
    # vllm#23278 logs "Available KV cache memory: -2.14 GiB" (gpt-oss-120b, H100, 0.10.1): the
    # plan clamps its KV memory at 0, the benchmark compares vLLM's signed figure
    accuracy = _accuracy()
    result = accuracy.evaluate(CORPUS, CONFIGS)
    (row,) = [r for r in result["cases"] if r["id"].startswith("vllm-23278")]
    assert row["predicted"]["status"] == "failed"
    assert -2.5 < row["predicted"]["kv_cache_gib"] < -1.9


def test_a_case_states_the_interconnect_its_log_proves() -> None:
    accuracy = _accuracy()
    (l40s,) = [c for c in accuracy.corpus_cases(CORPUS) if "tp8-ep-l40s" in c["id"]]
    request, _ = accuracy.case_request(l40s)
    assert request.hardware.interconnect is Interconnect.PCIE
    unstated = {k: v for k, v in l40s.items() if k != "interconnect"}
    request, _ = accuracy.case_request(unstated)
    assert request.hardware.interconnect is Interconnect.UNKNOWN
