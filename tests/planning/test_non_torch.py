"""Non-torch memory of a tensor-parallel run follows the interconnect the profile states, or
where it states none, the GPU catalog's word that the GPU has no NVLink: PCIe-only TP groups of
more than two GPUs take the version table's PCIe figure, everything else (NVLink, unknown,
PCIe TP2) the NVLink-measured one."""

from __future__ import annotations

import pytest

from checker.hardware.catalog import all_gpus, find_gpu
from checker.planning.engine.settings import (
    Settings,
    at_tp,
    fully_nvlinked,
    resolve_interconnect,
    resolve_settings,
)
from checker.planning.engine.versions import version_facts
from checker.planning.memory.activation import interconnect_costs, non_torch_gib
from checker.planning.planner import run_plan
from checker.schemas.enums import Interconnect
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import PlanRequest
from checker.schemas.section import ValidationError
from tests.planning.conftest import H100, model, request

LLAMA = "meta-llama__Llama-3.1-8B"
# a PCIe card in the GPU catalog's sense; the profile's own interconnect decides the term
L40S = H100.model_copy(
    update={"name": "L40S", "memory_gib": 44.52, "interconnect": Interconnect.PCIE}
)


def _over(req: PlanRequest, link: Interconnect) -> PlanRequest:
    return req.model_copy(
        update={"hardware": req.hardware.model_copy(update={"interconnect": link})}
    )


def _settings(tp: int, link: Interconnect, version: str = "0.19") -> Settings:
    req = _over(request(tp=tp, version=version), link)
    return resolve_settings(req, model(LLAMA), L40S, tp=tp)


@pytest.mark.parametrize("version", ["0.6", "0.19", "0.33"])
def test_pcie_tp_group_over_two_gpus_takes_the_pcie_figure(version: str) -> None:
    table = version_facts(version).non_torch_gib
    assert table.tensor_parallel_pcie is not None
    for tp in (4, 8):
        assert (
            non_torch_gib(_settings(tp, Interconnect.PCIE, version)) == table.tensor_parallel_pcie
        )
        for link in (Interconnect.NVLINK, Interconnect.UNKNOWN):
            assert non_torch_gib(_settings(tp, link, version)) == table.tensor_parallel


def test_pcie_tp2_and_tp1_keep_their_figures() -> None:
    table = version_facts("0.19").non_torch_gib
    # two PCIe GPUs keep custom all-reduce (CustomAllreduce.__init__), and no TP2 PCIe log
    assert non_torch_gib(_settings(2, Interconnect.PCIE)) == table.tensor_parallel
    assert non_torch_gib(_settings(1, Interconnect.PCIE)) == table.single


def test_a_release_without_a_pcie_log_keeps_the_tp_figure() -> None:
    table = version_facts("0.7").non_torch_gib
    assert table.tensor_parallel_pcie is None
    assert non_torch_gib(_settings(4, Interconnect.PCIE, "0.7")) == table.tensor_parallel


def test_the_plan_gives_the_difference_to_the_kv_cache() -> None:
    table = version_facts("0.19").non_torch_gib
    assert table.tensor_parallel_pcie is not None
    plans = {
        link: run_plan(_over(request(tp=4, util=0.9), link), model(LLAMA), L40S).feasibility.memory
        for link in (Interconnect.UNKNOWN, Interconnect.PCIE)
    }
    unknown, pcie = plans[Interconnect.UNKNOWN], plans[Interconnect.PCIE]
    assert unknown.non_torch_gib == table.tensor_parallel
    assert pcie.non_torch_gib == table.tensor_parallel_pcie
    gained = table.tensor_parallel - table.tensor_parallel_pcie
    assert pcie.kv_cache_gib - unknown.kv_cache_gib == pytest.approx(gained, abs=0.011)


def _plan_non_torch(gpu_name: str, link: Interconnect, tp: int = 4) -> float:
    req = _over(request(tp=tp, util=0.9), link)
    return run_plan(req, model(LLAMA), find_gpu(gpu_name)).feasibility.memory.non_torch_gib


def test_a_gpu_without_nvlink_plans_pcie_when_the_profile_states_no_interconnect() -> None:
    table = version_facts("0.19").non_torch_gib
    assert table.tensor_parallel_pcie is not None
    assert _plan_non_torch("L40S", Interconnect.UNKNOWN) == table.tensor_parallel_pcie
    assert _plan_non_torch("L40S", Interconnect.UNKNOWN, tp=2) == table.tensor_parallel
    # NVSwitch parts keep the NVLink figure at every TP size
    for tp in (4, 8):
        assert _plan_non_torch("H100-SXM-80GB", Interconnect.UNKNOWN, tp) == table.tensor_parallel


def _bridged() -> list[GPUSpec]:
    return [gpu for gpu in all_gpus() if gpu.nvlink_bridge_gpus]


def test_bridged_cards_plan_pcie_beyond_the_cards_one_bridge_joins() -> None:
    """vLLM's is_fully_connected needs NVLink between every pair of the TP group: a bridge
    joining two cards links pairs, so TP 4 on such cards runs custom all-reduce off."""
    table = version_facts("0.19").non_torch_gib
    assert table.tensor_parallel_pcie is not None
    for gpu in _bridged():
        largest = max(gpu.nvlink_bridge_gpus)
        # within one bridge the link may be fitted: planned as NVLink
        assert _plan_non_torch(gpu.name, Interconnect.UNKNOWN, largest) == table.tensor_parallel
        beyond = 2 * largest
        assert _plan_non_torch(gpu.name, Interconnect.UNKNOWN, beyond) == table.tensor_parallel_pcie
        assert resolve_interconnect(Interconnect.UNKNOWN, gpu, beyond) is Interconnect.PCIE
        assert fully_nvlinked(gpu, largest) is None and fully_nvlinked(gpu, beyond) is False


def test_a_stated_interconnect_wins_over_the_catalog() -> None:
    table = version_facts("0.19").non_torch_gib
    assert _plan_non_torch("L40S", Interconnect.NVLINK) == table.tensor_parallel
    assert _plan_non_torch("H100-PCIe-80GB", Interconnect.PCIE, tp=2) == table.tensor_parallel
    assert _plan_non_torch("H100-PCIe-80GB", Interconnect.PCIE) == table.tensor_parallel_pcie
    for name in ("L40S", "H100-PCIe-80GB"):
        for link in (Interconnect.NVLINK, Interconnect.PCIE):
            assert resolve_interconnect(link, find_gpu(name), 8) is link


def test_a_recommended_tp_size_resolves_its_own_interconnect() -> None:
    gpu = find_gpu("A100-PCIe-80GB")
    req = request(tp=2, util=0.9)
    two = resolve_settings(req, model(LLAMA), gpu, tp=2)
    assert two.interconnect is Interconnect.UNKNOWN
    four = at_tp(two, req, model(LLAMA), 4)
    assert four.interconnect is Interconnect.PCIE and four.interconnect_from_catalog
    assert at_tp(four, req, model(LLAMA), 2).interconnect is Interconnect.UNKNOWN


def test_explain_says_where_the_interconnect_came_from() -> None:
    catalog = resolve_settings(request(tp=4), model(LLAMA), find_gpu("L40S"), tp=4)
    assert catalog.interconnect is Interconnect.PCIE and catalog.interconnect_from_catalog
    words = interconnect_costs(catalog)["interconnect"]
    assert words.startswith("PCIe only (catalog: L40S has no NVLink)")
    assert "non-torch memory 0.32 GiB" in words
    stated = _over(request(tp=4), Interconnect.PCIE)
    profile = resolve_settings(stated, model(LLAMA), find_gpu("L40S"), tp=4)
    assert not profile.interconnect_from_catalog
    assert interconnect_costs(profile)["interconnect"].startswith("pcie (profile)")
    unknown = resolve_settings(request(tp=4), model(LLAMA), find_gpu("H100-SXM-80GB"), tp=4)
    assert interconnect_costs(unknown)["interconnect"].startswith("unknown")
    single = resolve_settings(request(tp=1), model(LLAMA), find_gpu("L40S"), tp=1)
    assert interconnect_costs(single) == {}


def _words(gpu: GPUSpec, tp: int) -> str:
    settings = resolve_settings(request(tp=tp), model(LLAMA), gpu, tp=tp)
    return interconnect_costs(settings)["interconnect"]


def test_explain_says_a_bridge_joins_too_few_cards_for_the_tp_group() -> None:
    for gpu in _bridged():
        sizes = gpu.nvlink_bridge_gpus
        beyond = _words(gpu, 2 * max(sizes))
        assert beyond.startswith(f"PCIe only (catalog: {gpu.name}'s NVLink bridges join"), beyond
        assert "not fully NVLinked" in beyond and "non-torch memory 0.32 GiB" in beyond
        # a TP size one of the bridges spans: planned as NVLink, and said to need that bridge
        for tp in (n for n in sizes if n > min(sizes)):
            words = _words(gpu, tp)
            assert words.startswith("unknown (hardware.interconnect not stated)"), words
            assert f"only over a {max(sizes)}-way bridge" in words
        assert "bridges" not in _words(gpu, min(sizes))
    # the catalog offers at least one card whose bridges span more than a pair
    assert any(len(gpu.nvlink_bridge_gpus) > 1 for gpu in _bridged())


def test_every_gpu_said_to_lack_nvlink_cites_a_vendor_spec() -> None:
    without = [gpu for gpu in all_gpus() if gpu.nvlink_support is False]
    assert {"L4", "L40", "L40S", "A10", "RTX-4090", "RTX-5090"} <= {g.name for g in without}
    for gpu in without:
        assert gpu.interconnect is Interconnect.PCIE and "NVIDIA" in gpu.nvlink_source, gpu.name
    bridged = {g.name for g in _bridged()}
    pairs = {"A100-PCIe-80GB", "H100-PCIe-80GB", "H100-NVL-94GB", "A30", "A40", "RTX-A6000"}
    assert pairs <= bridged
    assert not bridged & {g.name for g in without}
    for gpu in _bridged():
        assert gpu.nvlink_support is True and "NVIDIA" in gpu.nvlink_source, gpu.name


def test_a_catalog_entry_without_nvlink_needs_its_source() -> None:
    data = find_gpu("L40S").model_dump()
    with pytest.raises(ValidationError, match="nvlink_source"):
        GPUSpec.model_validate(data | {"nvlink_source": ""})
    with pytest.raises(ValidationError, match="nvlink_support false on a nvlink part"):
        GPUSpec.model_validate(data | {"interconnect": "nvlink"})
    with pytest.raises(ValidationError, match="nvlink_bridge_gpus needs nvlink_support true"):
        GPUSpec.model_validate(data | {"nvlink_bridge_gpus": (2,)})
    bridged = find_gpu("A40").model_dump()
    with pytest.raises(ValidationError, match="bridges of 2"):
        GPUSpec.model_validate(bridged | {"nvlink_bridge_gpus": (1,)})


def _vw143(gpu_name: str, link: Interconnect, tp: int) -> list[str]:
    req = _over(request(tp=tp, util=0.9), link)
    plan = run_plan(req, model(LLAMA), find_gpu(gpu_name))
    return [f.message for f in plan.feasibility.findings if f.rule_id == "VW143"]


def test_a_stated_nvlink_the_catalog_cannot_link_pair_by_pair_is_warned() -> None:
    (bridged,) = _vw143("A100-PCIe-80GB", Interconnect.NVLINK, 4)
    assert "A100-PCIe-80GB's NVLink bridges join 2 cards" in bridged
    assert "Custom allreduce is disabled" in bridged
    (without,) = _vw143("L40S", Interconnect.NVLINK, 8)
    assert "L40S has no NVLink" in without
    # two GPUs, a group one bridge may span, NVSwitch, or not stated: nothing to say
    assert not _vw143("A100-PCIe-80GB", Interconnect.NVLINK, 2)
    assert not _vw143("H200-NVL-141GB", Interconnect.NVLINK, 4)
    assert not _vw143("H100-SXM-80GB", Interconnect.NVLINK, 8)
    assert not _vw143("A100-PCIe-80GB", Interconnect.UNKNOWN, 4)


def test_v100_sxm2_cube_mesh_links_a_quad_pair_by_pair_but_not_eight() -> None:
    """DGX-1's hybrid cube-mesh links each V100 to 4 of the other 7 (white paper: cube edges plus
    the diagonals of two faces), so NVML finds no NVLink between some pairs of 8: vLLM's
    is_fully_connected is false, custom all-reduce is off (the PCIe term); a group of 4 may be a
    fully linked face and stays planned as NVLink, with --explain saying so."""
    table = version_facts("0.19").non_torch_gib
    for name in ("V100-SXM2-16GB", "V100-SXM2-32GB"):
        gpu = find_gpu(name)
        assert gpu.nvlink_mesh_gpus == 4 and "hybrid cube-mesh" in gpu.nvlink_source
        assert fully_nvlinked(gpu, 4) is None and fully_nvlinked(gpu, 8) is False
        assert _plan_non_torch(name, Interconnect.UNKNOWN, 8) == table.tensor_parallel_pcie
        assert _plan_non_torch(name, Interconnect.UNKNOWN, 4) == table.tensor_parallel
        assert "links at most 4 GPUs pair by pair, so vLLM finds the 8" in _words(gpu, 8)
        assert "fully NVLinked only on such a set" in _words(gpu, 4)
    data = find_gpu("V100-SXM2-32GB").model_dump()
    with pytest.raises(ValidationError, match="nvlink_mesh_gpus needs nvlink_support true"):
        GPUSpec.model_validate(data | {"nvlink_bridge_gpus": (2,)})
