"""Per-release facts: version arithmetic and the integrity of the two data files behind it."""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from typing import Any

import pytest
import yaml

from checker.planning.engine.releases import (
    float16_refused_models,
    has_behaviour,
    message,
    method_facts,
    pick,
    release,
)
from checker.schemas.enums import DType, Quantization

DTYPES = {d.value for d in DType} - {"auto"}


def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        resources.files("checker.data").joinpath(name).read_text("utf-8")
    )
    return loaded


def test_release_reads_patch_versions_and_pick_takes_the_newest_at_or_below() -> None:
    assert release("0.9") == (0, 9, 0)
    assert release("0.10.1.1") == (0, 10, 1)
    table = {"0.4.3": "a", "0.9.1": "b", "0.10.2": "c"}
    assert pick(table, "0.9.0") == "a"
    assert pick(table, "0.9.1") == "b"
    assert pick(table, "0.10") == "b"  # 0.10.0 predates 0.10.2
    assert pick(table, "0.24") == "c"
    assert pick(table, "0.3") is None


def test_behaviours_switch_on_at_their_release() -> None:
    assert not has_behaviour("startup_free_memory_check", "0.9.0")
    assert has_behaviour("startup_free_memory_check", "0.9.1")
    assert float16_refused_models("0.8") == ()
    assert "gemma3_text" not in float16_refused_models("0.10.1")
    assert "gemma3_text" in float16_refused_models("0.10.2")


def test_every_message_variant_formats_and_variants_are_in_release_order() -> None:
    fields: defaultdict[str, str] = defaultdict(lambda: "X")
    for message_id, variants in data("vllm_messages.yaml")["messages"].items():
        releases = [release(str(v["since"])) for v in variants]
        assert releases == sorted(releases), message_id
        for variant in variants:
            assert str(variant["text"]).format_map(fields), message_id


def test_message_before_its_first_variant_uses_the_oldest_wording() -> None:
    assert message("free-memory", "0.6", device="d", free=1, total=2, util=0.5, requested=1)
    assert message("tp-heads", "0.24", heads=7, tp=2) == (
        "Total number of attention heads (7) must be divisible by tensor parallel size (2)."
    )


@pytest.mark.parametrize("method", [q.value for q in Quantization if q is not Quantization.NONE])
def test_every_quantization_method_has_well_formed_facts(method: str) -> None:
    entry = data("quantization_methods.yaml")["methods"][method]
    assert entry["checkpoints"]
    upgrade = entry.get("upgrades_to")
    assert upgrade is None or upgrade in data("quantization_methods.yaml")["methods"]
    for key, facts in entry["by_version"].items():
        release(key)
        assert set(facts["act_dtypes"]) <= DTYPES
        assert 30 <= facts["min_capability"] <= 120


def test_method_facts_follow_the_release() -> None:
    old, new = method_facts("awq", "0.23.0"), method_facts("awq", "0.24.0")
    assert old is not None and old.act_dtypes == ("float16",)
    assert new is not None and "bfloat16" in new.act_dtypes
    assert method_facts("mxfp4", "0.8") is None  # no facts before the method existed
    assert method_facts("not-a-method", "0.24") is None
