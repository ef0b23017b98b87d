"""What the V1 engine of 0.8 does not run falls back to V0 (engine/arg_utils.py
EngineArgs._is_v1_supported_oracle): LoRA in 0.8.0 .. 0.8.2 (_warn_or_fallback("LORA"), gone in
0.8.3), with V0's defaults, one set of CUDA graphs and no chunked prefill turned on by itself
for LoRA; and pipeline parallelism before 0.9."""

from __future__ import annotations

from typing import Any

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.settings import Settings
from checker.planning.engine.spec_config import SpecDecode, build_spec
from checker.planning.planner import plan_settings
from tests.planning.plans import catalog_model, make_request, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
FALLBACK = "LORA is experimental on VLLM_USE_V1=1. Falling back to V0 Engine."


def _settings(version: str, **kw: Any) -> Settings:
    kw.setdefault("max_model_len", 8192)
    request = make_request(LLAMA, version=version, **kw)
    return plan_settings(request, catalog_model(LLAMA), find_gpu("H100-80GB"), tp=1)[0]


@pytest.mark.parametrize(
    ("version", "v0"),
    [("0.8.0", True), ("0.8.1", True), ("0.8.2", True), ("0.8.3", False), ("0.8.5", False)],
)
def test_lora_runs_on_v0_until_0_8_3(version: str, v0: bool) -> None:
    s = _settings(version, enable_lora=True)
    assert s.is_v0 is v0
    assert not _settings(version).is_v0  # without LoRA, V1 as the release line runs
    if v0:  # V0's defaults: 256 sequences, graphs captured after the KV cache is sized
        assert s.max_num_seqs == 256 and not s.facts.cudagraph_subtracted
    resp = plan(LLAMA, version=version, max_model_len=8192, enable_lora=True)
    assert (resp.feasibility.log_lines[0] == FALLBACK) is v0
    assert resp.feasibility.verdict.value == "PASS"


def test_v0_captures_one_set_of_graphs_with_lora() -> None:
    """V0's capture_model gives the LoRA layers a mapping of zeros in its one set; V1 captures a
    set without LoRA and one for max_loras + 1 adapters."""
    assert _settings("0.8.2", enable_lora=True).graph_sets == 1
    assert _settings("0.7.3", enable_lora=True).graph_sets == 1
    assert _settings("0.8.3", enable_lora=True).graph_sets == 2
    resp = plan(LLAMA, version="0.8.2", max_model_len=8192, enable_lora=True, explain=True)
    assert "no extra CUDA graphs" in resp.config.explanations["--enable-lora"]


@pytest.mark.parametrize("version", ["0.7.3", "0.8.2"])
def test_v0_turns_no_chunked_prefill_on_for_lora(version: str) -> None:
    """Above 32K tokens V0 chunks prefill by itself (2,048 tokens a step), except with LoRA:
    its profile run then takes the whole max_model_len."""
    assert _settings("0.7.3", max_model_len=65536).max_num_batched_tokens == 2048
    lora = _settings(version, max_model_len=65536, enable_lora=True)
    assert lora.max_num_batched_tokens == 65536


def test_multi_step_is_named_before_lora() -> None:
    """The oracle checks --num-scheduler-steps before LoRA and logs the first reason only."""
    resp = plan(LLAMA, version="0.8.2", max_model_len=8192, enable_lora=True, num_scheduler_steps=8)
    assert resp.feasibility.log_lines[0].startswith("--num-scheduler-steps is not supported")
    assert FALLBACK not in resp.feasibility.log_lines


def test_an_ngram_config_beside_lora_runs_on_v0_for_lora() -> None:
    """V1 takes n-gram drafting, not LoRA (0.8.2): the whole engine is V0, its n-gram worker
    included, and vLLM names LoRA as the reason."""
    ngram = {"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}

    def spec(version: str) -> SpecDecode | None:
        request = make_request(LLAMA, version=version, enable_lora=True, speculative_config=ngram)
        return build_spec(request.engine, catalog_model(LLAMA), None, version)

    assert (s := spec("0.8.2")) is not None and s.v0
    assert (s := spec("0.8.5")) is not None and not s.v0
    resp = plan(
        LLAMA, version="0.8.2", max_model_len=8192, enable_lora=True, speculative_config=ngram
    )
    assert resp.feasibility.log_lines[0] == FALLBACK


@pytest.mark.parametrize(
    ("version", "backend", "line"),
    [
        ("0.8.2", None, "PP is experimental on VLLM_USE_V1=1. Falling back to V0 Engine."),
        ("0.8.2", "ray", "PP is experimental on VLLM_USE_V1=1. Falling back to V0 Engine."),
        ("0.8.5", None, "Pipeline Parallelism without Ray distributed executor is not supported"),
        ("0.8.5", "ray", None),
        ("0.9.0", None, None),
    ],
)
def test_pipeline_parallel_runs_on_v0_before_0_9(
    version: str, backend: str | None, line: str | None
) -> None:
    """The same oracle: PP > 1 falls back in 0.8.0 .. 0.8.2, and from 0.8.3 to 0.8.5 unless
    the Ray executor runs it (a v0.8.5 log of PP 2 reads "Initializing a V0 LLM engine")."""
    kw: dict[str, Any] = {"gpus": 2, "pp": 2, "distributed_executor_backend": backend}
    assert _settings(version, **kw).is_v0 is (line is not None)
    resp = plan(LLAMA, version=version, max_model_len=8192, **kw)
    assert (
        resp.feasibility.log_lines[0].startswith(line)
        if line
        else ("Falling back" not in resp.feasibility.log_lines[0])
    )
