"""Which GPU model runner vLLM starts a plan on (data/vllm_model_runner.yaml,
planning/engine/runner.py) and what Model Runner V2's profile run costs: the model-dtype logits
alone before 0.33, and no CUDA-graph estimate before 0.29."""

from __future__ import annotations

import pytest

from checker.hardware.catalog import find_gpu
from checker.planning.engine.runner import first_v2_release, model_runner
from checker.planning.engine.settings import Settings, resolve_settings
from checker.planning.engine.spec_config import SpecDecode
from checker.planning.memory.activation import sampler_bytes_per_logit, sampler_warmup_bytes
from checker.planning.memory.memory import plan_memory
from tests.planning.plans import catalog_model, make_request, plan

H100 = find_gpu("H100-80GB")
QWEN3 = "Qwen/Qwen3-8B"  # Qwen3ForCausalLM: dense, on 0.24.0's list
QWEN25 = "Qwen/Qwen2.5-7B-Instruct"  # Qwen2ForCausalLM: dense, not on it
MOE = "Qwen/Qwen3-30B-A3B"  # Qwen3MoeForCausalLM: MoE, never listed
HYBRID = "Qwen/Qwen3-Next-80B-A3B-Thinking"  # gated delta net + attention, MoE
MAMBA = "state-spaces/mamba-130m-hf"  # attention-free


@pytest.mark.parametrize(
    ("model_id", "version", "v2"),
    [
        (QWEN3, "0.21.0", False),  # no default V2 model
        (QWEN3, "0.24.0", True),  # listed architecture
        (QWEN25, "0.24.0", False),
        (QWEN25, "0.25.0", True),  # dense models from 0.25.0
        (QWEN25, "0.27.1", True),
        (MOE, "0.27.1", False),  # MoE outside the list
        (MOE, "0.29.0", True),  # every generate model
        (HYBRID, "0.28.0", False),
        (HYBRID, "0.29.0", True),
        (MAMBA, "0.27.0", False),
        (MAMBA, "0.34.0", True),  # the only runner left
    ],
)
def test_the_runner_follows_release_and_architecture(model_id: str, version: str, v2: bool) -> None:
    runner = model_runner(catalog_model(model_id), version, None)
    assert runner.v2 is v2
    assert version in runner.reason


def _settings(model_id: str, version: str, **fields: object) -> Settings:
    request = make_request(model_id, version=version, max_model_len=4096, **fields)
    return resolve_settings(request, catalog_model(model_id), H100, tp=1)


def _runner_words(model_id: str, version: str, **fields: object) -> str:
    explained = plan(model_id, explain=True, version=version, max_model_len=4096, **fields)
    return explained.config.explanations["model runner"]


def test_an_unsupported_speculative_method_keeps_v1() -> None:
    """ngram drafts keep a dense model on V1 until 0.32.0 runs them on V2."""
    ngram = {"speculative_config": {"method": "ngram", "num_speculative_tokens": 3}}
    assert "does not run speculative method 'ngram'" in _runner_words(QWEN25, "0.27.1", **ngram)
    assert _runner_words(QWEN25, "0.32.0", **ngram).startswith("Model Runner V2")
    assert _runner_words(QWEN25, "0.27.1").startswith("Model Runner V2")


def test_first_v2_release_is_where_the_plan_moves() -> None:
    moe = catalog_model(MOE)
    assert first_v2_release(moe, "0.24.0", None) == "0.29.0"
    assert first_v2_release(catalog_model(QWEN25), "0.24.0", None) == "0.25.0"


@pytest.mark.parametrize(
    ("model_id", "version", "fields", "v2"),
    [
        (QWEN25, "0.27.1", {"vllm_args": {"enable-prompt-embeds": True}}, False),
        (QWEN25, "0.29.0", {"vllm_args": {"enable-prompt-embeds": True}}, True),  # check gone
        (QWEN25, "0.27.1", {"vllm_args": {"enable-prompt-embeds": False}}, True),
        (QWEN25, "0.33.0", {"vllm_args": {"enable-dbo": True}}, False),  # every release
        (QWEN25, "0.30.0", {"vllm_args": {"logits-processors": ["my.Processor"]}}, False),
        (QWEN25, "0.31.0", {"vllm_args": {"logits-processors": ["my.Processor"]}}, True),
        (QWEN3, "0.24.0", {"vllm_args": {"logprobs-mode": "raw_logits"}}, False),
        (QWEN3, "0.24.0", {"vllm_args": {"logprobs-mode": "raw_logprobs"}}, True),
        (QWEN25, "0.26.0", {"vllm_args": {"logprobs-mode": "raw_logits"}}, True),
        (HYBRID, "0.30.0", {"mamba_cache_mode": "all"}, False),  # a modeled engine field
        (HYBRID, "0.30.0", {"mamba_cache_mode": "align"}, True),
        (HYBRID, "0.32.0", {"mamba_cache_mode": "all"}, True),
    ],
)
def test_an_argument_v2_does_not_support_keeps_v1(
    model_id: str, version: str, fields: dict[str, object], v2: bool
) -> None:
    """config/vllm.py _get_v2_model_runner_unsupported_features: a default-V2 model started
    with a feature V2 lacks runs on V1, and --explain names the argument."""
    engine = make_request(model_id, version=version, **fields).engine
    runner = model_runner(catalog_model(model_id), version, None, engine)
    assert runner.v2 is v2
    if not v2:
        args = fields.get("vllm_args", {"mamba-cache-mode": "all"})
        assert isinstance(args, dict)
        assert "does not yet support" in runner.reason and f"--{next(iter(args))}" in runner.reason


def test_a_v1_fallback_costs_the_kv_cache_v1_s_profile() -> None:
    """On 0.27.1 V2 samples the model-dtype logits alone and subtracts no CUDA-graph
    estimate; prompt embeds send the server to V1, which does both: less KV cache, and the
    VW128-style first V2 release moves to where the check is gone."""
    base = _settings(QWEN25, "0.27.1")
    embeds = _settings(QWEN25, "0.27.1", vllm_args={"enable-prompt-embeds": True})
    assert base.runner.v2 and not embeds.runner.v2
    model = catalog_model(QWEN25)
    assert plan_memory(model, embeds).binding.kv_budget < plan_memory(model, base).binding.kv_budget
    engine = make_request(QWEN25, vllm_args={"enable-prompt-embeds": True}).engine
    assert first_v2_release(catalog_model(QWEN25), "0.25.0", None, engine) == "0.29.0"


@pytest.mark.parametrize(
    ("version", "method", "config", "kept_by"),
    [
        ("0.27.1", "eagle", {"parallel_drafting": True}, "parallel_drafting"),
        ("0.27.1", "dflash", {"parallel_drafting": True}, ""),  # V2's own parallel drafter
        ("0.27.1", "dspark", {"parallel_drafting": True}, ""),
        ("0.33.0", "draft_model", {"use_heterogeneous_vocab": True}, "use_heterogeneous_vocab"),
        ("0.31.0", "draft_model", {"use_heterogeneous_vocab": True}, ""),  # no check yet
    ],
)
def test_a_speculative_key_v2_does_not_take_keeps_v1(
    version: str, method: str, config: dict[str, object], kept_by: str
) -> None:
    spec = SpecDecode(
        method, "eagle", 3, None, None, None, None, None, {"method": method, **config}
    )
    runner = model_runner(catalog_model(QWEN3), version, spec)
    assert runner.kept_by == kept_by and runner.v2 is not bool(kept_by)


def test_what_keeps_v1_is_named_only_where_dropping_it_gives_v2() -> None:
    """An argument V2 lacks on a model the release keeps on V1 anyway is no reason to drop it."""
    embeds = make_request(MOE, vllm_args={"enable-prompt-embeds": True}).engine
    on_v1 = model_runner(catalog_model(MOE), "0.27.1", None, embeds)  # MoE: V1 by default
    assert not on_v1.v2 and on_v1.kept_by == ""
    dense = model_runner(catalog_model(QWEN25), "0.27.1", None, embeds)
    assert not dense.v2 and dense.kept_by == "--enable-prompt-embeds"


def test_v2_profile_samples_the_logits_alone_before_0_33() -> None:
    """V2's dummy batch has no sampling parameters: no fp32 copy, no top-k/top-p; the V1
    runner's Triton path holds 12 more bytes a logit. The warm-up after the KV cache samples
    with every feature on both runners."""
    v2, v1 = _settings(QWEN25, "0.27.1"), _settings(MOE, "0.27.1")
    assert sampler_bytes_per_logit(v2, 1024) == 0
    assert sampler_bytes_per_logit(v1, 1024) == 12
    assert sampler_bytes_per_logit(v2, 1024, profile=False) == 12
    # 0.33.0's second pass with SamplingParams.for_sampler_warmup() takes V1's path again
    assert sampler_bytes_per_logit(_settings(QWEN25, "0.33.0"), 1024) == 12
    assert sampler_warmup_bytes(catalog_model(QWEN25), v2) > 0


def test_v2_subtracts_no_cudagraph_estimate_before_0_29() -> None:
    """V2's profile_cudagraph_memory returns 0 through 0.28.0: the KV budget keeps the graphs'
    share, which the V1 runner of the same release subtracts."""
    assert not _settings(QWEN25, "0.27.1").cudagraph_subtracted
    assert _settings(MOE, "0.27.1").cudagraph_subtracted
    assert _settings(QWEN25, "0.29.0").cudagraph_subtracted
    model = catalog_model(QWEN25)
    v2 = plan_memory(model, _settings(QWEN25, "0.27.1"))
    v1 = plan_memory(model, _settings(QWEN25, "0.24.0"))
    assert v2.first.kv_budget > v1.first.kv_budget


def test_explain_names_the_runner_and_why() -> None:
    words = plan(QWEN25, explain=True, version="0.27.1", max_model_len=4096).config.explanations
    assert words["model runner"].startswith("Model Runner V2: vLLM 0.27.1 runs dense models")
    assert "no CUDA-graph estimate" in words["model runner"]
    assert "the logits alone" in words["sampler profile run"]
    moe = _runner_words(MOE, "0.27.1")
    assert moe.startswith("the V1 model runner: vLLM 0.27.1 keeps unlisted MoE")
