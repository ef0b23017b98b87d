"""The GPU catalog data and exact name lookup."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from checker.cli import main
from checker.errors import GPUNotFoundError
from checker.hardware.catalog import all_gpus, build_index, find_gpu, keys_of, normalise
from checker.schemas.gpu import GPUSpec

# memory_gib as vLLM printed it (shared/validation/vllm_startup_logs.public.yaml)
FROM_LOGS = {
    "H100-SXM-80GB": 79.19,
    "RTX-3090": 23.58,
    "RTX-4090": 23.52,
    "RTX-4060": 8.00,
    "T4": 14.56,
}
MEMORY_KINDS = ("log", "torch", "smi-q", "sibling", "smi", "spec")


def test_catalog_size_and_entries_valid() -> None:
    gpus = all_gpus()
    assert len(gpus) >= 30
    for spec in gpus:
        assert GPUSpec.model_validate(spec.model_dump()) == spec
        assert re.match(rf"memory: ({'|'.join(MEMORY_KINDS)}) ", spec.source), spec.name
        assert "perf: " in spec.source, spec.name
    assert {g.vendor for g in gpus} == {"nvidia", "amd"}
    assert all_gpus()[0] is all_gpus()[0]  # loaded once


def test_names_and_aliases_are_unique_across_the_catalog() -> None:
    owners = Counter(key for spec in all_gpus() for key in keys_of(spec))
    assert [key for key, n in owners.items() if n > 1] == []
    assert len(build_index(all_gpus())) == sum(owners.values())


def test_duplicate_key_is_refused() -> None:
    a = find_gpu("L4").model_copy(update={"name": "L4-copy", "aliases": ("nvidia l4",)})
    with pytest.raises(ValueError, match="claimed by L4 and L4-copy"):
        build_index([find_gpu("L4"), a])


def test_memory_below_the_marketing_figure() -> None:
    """memory_gib is what CUDA reports, never more than the GB in the name."""
    for spec in all_gpus():
        sized = re.search(r"(\d+)GB$", spec.name)
        if sized:
            assert spec.memory_gib <= int(sized[1]), spec.name


@pytest.mark.parametrize(("name", "gib"), FROM_LOGS.items())
def test_log_figures(name: str, gib: float) -> None:
    spec = find_gpu(name)
    assert spec.memory_gib == gib
    assert spec.source.startswith("memory: log ")


@pytest.mark.parametrize(
    ("name", "sku"),
    [
        ("A100-80GB", "A100-SXM4-80GB"),
        ("a100 80g", "A100-SXM4-80GB"),
        ("A100-40GB", "A100-SXM4-40GB"),
        ("H100-80GB", "H100-SXM-80GB"),
        ("H100", "H100-SXM-80GB"),
        ("A10", "A10"),
        ("RTX 4060", "RTX-4060"),
        # nvidia-smi product names
        ("NVIDIA H100 80GB HBM3", "H100-SXM-80GB"),
        ("NVIDIA H100 PCIe", "H100-PCIe-80GB"),
        ("NVIDIA H100 NVL", "H100-NVL-94GB"),
        ("NVIDIA H200", "H200-SXM-141GB"),
        ("NVIDIA A100-SXM4-80GB", "A100-SXM4-80GB"),
        ("NVIDIA A100 80GB PCIe", "A100-PCIe-80GB"),
        ("NVIDIA A100-PCIE-40GB", "A100-PCIe-40GB"),
        ("A100-SXM4-40GB", "A100-SXM4-40GB"),  # R470-era drivers print no "NVIDIA "
        ("NVIDIA GeForce RTX 4090", "RTX-4090"),
        ("NVIDIA GeForce RTX 3090", "RTX-3090"),
        ("NVIDIA RTX 6000 Ada Generation", "RTX-6000-Ada"),
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition", "RTX-PRO-6000-Blackwell"),
        ("NVIDIA GH200 480GB", "GH200-96GB"),
        ("Tesla T4", "T4"),
        ("Tesla V100-SXM2-32GB", "V100-SXM2-32GB"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA A10G", "A10G"),
        ("AMD Instinct MI300X", "MI300X"),
        # Kubernetes node label (GPU feature discovery)
        ("NVIDIA-H100-80GB-HBM3", "H100-SXM-80GB"),
    ],
)
def test_exact_lookup(name: str, sku: str) -> None:
    assert find_gpu(name).name == sku


def test_a100_80gb_never_resolves_to_40gb() -> None:
    spec = find_gpu("A100-80GB")
    assert spec.memory_gib > 79
    for variant in ("A100 80GB", "a100_80gb", "NVIDIA A100-80G", "A100-80GiB"):
        assert find_gpu(variant) == spec


@pytest.mark.parametrize("spec", all_gpus(), ids=lambda s: s.name)
def test_every_name_resolves_in_other_spellings(spec: GPUSpec) -> None:
    for name in (spec.name, *spec.aliases):
        for variant in (name.upper(), f"NVIDIA {name}", name.replace(" ", "_"), f" {name} "):
            assert find_gpu(variant).name == spec.name


@pytest.mark.parametrize("name", ["A100-80", "H100 SXM 80", "A1", "RTX 40", "4090 Ti"])
def test_no_substring_or_prefix_matching(name: str) -> None:
    with pytest.raises(GPUNotFoundError, match="unknown GPU"):
        find_gpu(name)


def test_unknown_name_suggests_close_skus() -> None:
    with pytest.raises(GPUNotFoundError) as caught:
        find_gpu("A100-80")
    text = str(caught.value)
    assert "closest: A100-SXM4-80GB" in text
    assert "vllm-wizard gpus" in text and "custom_gpus" in text


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("A100", ["A100-SXM4-80GB", "A100-SXM4-40GB", "A100-PCIe-80GB", "A100-PCIe-40GB"]),
        ("nvidia v100", ["V100-SXM2-16GB", "V100-SXM2-32GB"]),
        ("RTX-6000", ["RTX-6000-Ada", "RTX-PRO-6000-Blackwell"]),
    ],
)
def test_ambiguous_names_list_the_choices(name: str, choices: list[str]) -> None:
    with pytest.raises(GPUNotFoundError, match="ambiguous") as caught:
        find_gpu(name)
    assert all(choice in str(caught.value) for choice in choices)


def test_empty_name_is_unknown() -> None:
    with pytest.raises(GPUNotFoundError):
        find_gpu("  ")


def _custom(name: str, *aliases: str, memory: float = 70.0) -> GPUSpec:
    return GPUSpec(
        name=name,
        aliases=aliases,
        memory_gib=memory,
        memory_bandwidth_gbs=2000,
        fp16_tflops=500,
        compute_capability="9.0",
    )


def test_custom_gpus_match_first_and_shadow_the_catalog() -> None:
    mine = _custom("H100-SXM-80GB", memory=60.0)
    assert find_gpu("nvidia h100-sxm-80gb", [mine]) is mine
    assert find_gpu("H100", [mine]).memory_gib == 79.19  # an alias the custom spec lacks
    lab = _custom("lab-gpu", "Lab GPU v2")
    assert find_gpu("LAB GPU V2", [mine, lab]) is lab
    with pytest.raises(GPUNotFoundError, match="closest: lab-gpu"):
        find_gpu("lab-gpus", [lab])


def test_two_custom_gpus_with_one_name_are_ambiguous() -> None:
    with pytest.raises(GPUNotFoundError, match="several custom GPUs: a, b"):
        find_gpu("shared", [_custom("a", "shared"), _custom("b", "Shared")])


def test_normalise() -> None:
    assert normalise("NVIDIA A100-SXM4-80GB") == "a100sxm480gb"
    assert normalise("AMD Instinct MI300X") == "instinctmi300x"
    assert normalise("nvidiafoo") == "nvidiafoo"  # only a separate word is a vendor prefix
    assert normalise("H100 80 GiB") == normalise("h100-80G") == "h10080gb"


# ---- the CLI ----


def test_cli_gpus_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpus"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[0], lines[1 : 1 + len(all_gpus())]
    assert header.split()[:3] == ["NAME", "MEMORY", "GiB"]
    end = header.index("MEMORY GiB") + len("MEMORY GiB")
    for spec, row in zip(all_gpus(), rows, strict=True):
        assert row.startswith(spec.name + " ")
        assert row[:end].endswith(f"{spec.memory_gib:.2f}")  # right-aligned under its header
    a100 = next(r for r in rows if r.startswith("A100-SXM4-80GB "))
    assert " - " in a100 and "A100-80GB" in a100  # no fp8; aliases shown
    assert "dense" in lines[-1]


def test_cli_gpus_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpus", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [GPUSpec.model_validate(item) for item in data] == all_gpus()
