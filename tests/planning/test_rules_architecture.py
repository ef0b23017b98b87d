"""The architecture gate: vLLM's registry of the pinned release decides whether the model can
be built at all (registry.py _raise_for_unsupported), natively or through the Transformers
backend."""

from __future__ import annotations

from checker.schemas.enums import Severity, Verdict
from tests.planning.plans import catalog_model, fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
SHORT = {"max_model_len": 8192}


def test_a_removed_architecture_fails_with_vllms_words_from_its_release() -> None:
    mllama_like = catalog_model(LLAMA, architectures=["Grok1ForCausalLM"])
    found = only(plan(LLAMA, model=mllama_like, **SHORT), "VW120")
    assert found.message == (
        "Model architecture Grok1ForCausalLM was supported in vLLM until v0.24.0, and is not "
        "supported anymore. Please use an older version of vLLM if you want to use this model "
        "architecture."
    )
    assert plan(LLAMA, model=mllama_like, **SHORT).feasibility.verdict is Verdict.FAIL
    # 0.19.0 still registered it
    assert not fired(plan(LLAMA, model=mllama_like, version="0.19", **SHORT), "VW120")


def test_an_unregistered_architecture_fails_unless_transformers_or_trusted_code_serves_it() -> None:
    unknown = catalog_model(LLAMA, architectures=["TotallyNewForCausalLM"])
    found = only(plan(LLAMA, model=unknown, **SHORT), "VW120")
    assert found.message.startswith(
        "Model architectures ['TotallyNewForCausalLM'] are not supported for now. Supported "
        "architectures: dict_keys([..."
    )
    custom = catalog_model(
        LLAMA, architectures=["TotallyNewForCausalLM"], auto_map={"AutoModel": "x--m.M"}
    )
    assert fired(plan(LLAMA, model=custom, **SHORT), "VW120")  # remote code not trusted
    trusted = plan(LLAMA, model=custom, trust_remote_code=True, **SHORT)
    assert not fired(trusted, "VW120")
    assert only(trusted, "VW121").severity is Severity.INFO


def test_a_removed_architecture_transformers_implements_runs_on_the_transformers_backend() -> None:
    # Mllama left vLLM after 0.10.2; transformers 5.x's class takes the attention interface
    mllama = catalog_model(LLAMA, architectures=["MllamaForConditionalGeneration"])
    resp = plan(LLAMA, model=mllama, **SHORT)
    assert not fired(resp, "VW120") and fired(resp, "VW121")


def test_registered_suffix_variants_and_old_releases_are_not_gated() -> None:
    # _normalize_arch: a sequence-classification head over a registered causal LM
    variant = catalog_model(LLAMA, architectures=["Qwen3ForSequenceClassification"])
    assert not fired(plan(LLAMA, model=variant, **SHORT), "VW120")
    unknown = catalog_model(LLAMA, architectures=["TotallyNewForCausalLM"])
    assert not fired(plan(LLAMA, model=unknown, version="0.10", **SHORT), "VW120")
    assert not fired(plan(LLAMA, **SHORT), "VW120") and not fired(plan(LLAMA, **SHORT), "VW121")


def test_034_registry_drops_keye_and_peagle_and_adds_lfm3() -> None:
    # 0.34.0 registry.py: Keye moved to _PREVIOUSLY_SUPPORTED_MODELS ("0.33.0"), the PEagle
    # drafter names left without an entry there, Lfm3ForCausalLM is new
    keye = catalog_model(LLAMA, architectures=["KeyeForConditionalGeneration"])
    assert only(plan(LLAMA, model=keye, **SHORT), "VW120").message.startswith(
        "Model architecture KeyeForConditionalGeneration was supported in vLLM until v0.33.0,"
    )
    assert not fired(plan(LLAMA, model=keye, version="0.33", **SHORT), "VW120")
    peagle = catalog_model(LLAMA, architectures=["PeagleLlamaForCausalLM"])
    assert only(plan(LLAMA, model=peagle, **SHORT), "VW120").message.startswith(
        "Model architectures ['PeagleLlamaForCausalLM'] are not supported for now."
    )
    assert not fired(plan(LLAMA, model=peagle, version="0.33", **SHORT), "VW120")
    lfm3 = catalog_model(LLAMA, architectures=["Lfm3ForCausalLM"])
    assert not fired(plan(LLAMA, model=lfm3, **SHORT), "VW120")
    assert fired(plan(LLAMA, model=lfm3, version="0.33", **SHORT), "VW120")


def test_034_builds_gemma_through_its_transformers_backend() -> None:
    # 0.34.0 registry.py moved GemmaForCausalLM from _TEXT_GENERATION_MODELS ("gemma") to
    # _TRANSFORMERS_SUPPORTED_MODELS ("transformers", "TransformersForCausalLM")
    gemma = "google/gemma-7b"
    found = only(plan(gemma, **SHORT), "VW121")
    assert found.message.startswith("vLLM 0.34")
    assert "GemmaForCausalLM" in found.message
    assert not fired(plan(gemma, version="0.33", **SHORT), "VW121")
