"""VW154: --speculative-config keys a release's SpeculativeConfig has no field for
(vllm_speculative_keys.yaml), and 0.34's parallel_drafting refusal."""

from __future__ import annotations

from typing import Any

import pytest

from checker.schemas.yaml_source import bundled_data
from tests.planning.plans import fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
NGRAM: dict[str, Any] = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4}


def _plan(version: str, **config: Any) -> Any:
    return plan(LLAMA, speculative_config={**NGRAM, **config}, max_model_len=16384, version=version)


def test_a_key_0_34_dropped_is_refused_with_vllms_words() -> None:
    found = only(_plan("0.34.0", use_heterogeneous_vocab=True), "VW154")
    assert "use_heterogeneous_vocab" in found.message
    assert "Unexpected keyword argument" in found.message
    assert found.key == "outputs.vllm_args.speculative-config"
    assert found.fix == ("Drop the key: vLLM 0.33 took it, 0.34.0 has no such setting any more.")
    never = only(_plan("0.34.0", no_such_key=1), "VW154")
    assert never.fix == "Drop the key: vLLM 0.34.0's speculative config has no such setting."


def test_the_same_key_is_accepted_by_0_33() -> None:
    assert not fired(_plan("0.33.0", use_heterogeneous_vocab=True), "VW154")
    assert not fired(_plan("0.33.0", disable_padded_drafter_batch=True), "VW154")


@pytest.mark.parametrize("line", ["0.16", "0.25", "0.33", "0.34"])
def test_every_key_of_the_line_is_accepted(line: str) -> None:
    keys = bundled_data("vllm_speculative_keys.yaml")["lines"][line]["keys"]
    extra = {k: None for k in keys if k not in NGRAM}
    assert not fired(_plan(f"{line}.0", **extra), "VW154")


def test_a_misspelt_key_gets_the_lines_spelling() -> None:
    found = only(_plan("0.34.0", prompt_lookup_mn=2), "VW154")
    assert found.fix == "Did you mean prompt_lookup_min? Otherwise drop the key."


def test_dashes_are_read_as_underscores_from_0_26_only() -> None:
    dashed = {"method": "ngram", "num-speculative-tokens": 4, "prompt-lookup-max": 4}
    late = plan(LLAMA, speculative_config=dashed, max_model_len=16384, version="0.26.0")
    assert not fired(late, "VW154")
    early = plan(LLAMA, speculative_config=dashed, max_model_len=16384, version="0.25.1")
    fixes = sorted(f.fix or "" for f in fired(early, "VW154"))
    assert fixes[0].startswith("Spell the key num_speculative_tokens")
    assert fixes[1].startswith("Spell the key prompt_lookup_max")


def test_lines_before_0_16_are_not_checked() -> None:
    # pydantic dropped unknown keys silently there
    assert not fired(_plan("0.15.1", no_such_key=True), "VW154")


def test_parallel_drafting_needs_dflash_or_dspark_from_0_34() -> None:
    found = only(_plan("0.34.0", parallel_drafting=True), "VW154")
    assert "'ngram'" in found.message and "parallel_drafting" in found.message
    assert not fired(_plan("0.34.0", parallel_drafting=False), "VW154")
    assert not fired(_plan("0.33.0", parallel_drafting=True), "VW154")
