"""Non-torch memory of a tensor-parallel run follows the interconnect the profile states:
PCIe-only TP groups of more than two GPUs take the version table's PCIe figure, everything
else (NVLink, unknown, PCIe TP2) the NVLink-measured one."""

from __future__ import annotations

import pytest

from checker.planning.activation import non_torch_gib
from checker.planning.planner import run_plan
from checker.planning.settings import Settings, resolve_settings
from checker.planning.versions import version_facts
from checker.schemas.enums import Interconnect
from checker.schemas.inputs import PlanRequest
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
