"""vLLM's custom all-reduce (checker/data/vllm_custom_all_reduce.yaml): where it runs, the memory
its buffers take on each GPU of the TP group, and what --disable-custom-all-reduce gives back.

The plan's measured non-torch and CUDA-context figures for TP > 1 come from servers that ran it,
so turning it off where it would run takes its buffers out of the term that held them."""

from __future__ import annotations

from typing import Any, NamedTuple

from checker.planning.engine.releases import pick
from checker.planning.engine.settings import Settings
from checker.schemas.enums import Interconnect
from checker.schemas.yaml_source import bundled_data

_MIB = float(1 << 20)


class AllReduceBuffers(NamedTuple):
    """Bytes per GPU, by the term of vLLM's arithmetic that holds them."""

    non_torch: float  # subtracted from the KV budget as non-torch memory
    baseline: float  # allocated before the memory snapshot: outside the budget

    @property
    def total(self) -> float:
        return self.non_torch + self.baseline


def _facts(version: str) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = bundled_data("vllm_custom_all_reduce.yaml")["by_release"]
    found = pick(table, version)
    assert found is not None  # "0.0.0" covers every release
    return found


def would_run(settings: Settings) -> bool:
    """Whether vLLM sets custom all-reduce up for the TP group, flag aside
    (CustomAllreduce.__init__: a supported world size on one node, CUDA, not more than two
    PCIe-only GPUs)."""
    tp = settings.tp
    per_node = settings.world_size * settings.dp // max(settings.nnodes, 1)
    return (
        tp in _facts(settings.facts.version)["world_sizes"]
        and tp <= max(per_node, 1)
        and settings.gpu.vendor == "nvidia"
        and not (settings.interconnect is Interconnect.PCIE and tp > 2)
    )


def freed_by_disabling(settings: Settings) -> AllReduceBuffers:
    """The buffers --disable-custom-all-reduce does not allocate; none where it is not given or
    custom all-reduce would not run anyway."""
    if not settings.disable_custom_all_reduce or not would_run(settings):
        return AllReduceBuffers(0.0, 0.0)
    facts = _facts(settings.facts.version)
    return AllReduceBuffers(facts["non_torch_mib"] * _MIB, facts["baseline_mib"] * _MIB)


def all_reduce_costs(settings: Settings) -> dict[str, str]:
    """What --disable-custom-all-reduce changes, for --explain."""
    if not settings.disable_custom_all_reduce or settings.tp == 1:
        return {}
    freed = freed_by_disabling(settings)
    if not freed.total:
        return {
            "--disable-custom-all-reduce": "custom all-reduce would not run on this TP group "
            "anyway (world size, node or PCIe-only GPUs): nothing changes"
        }
    where = (
        f"{freed.non_torch / _MIB:.0f} MiB of non-torch memory back to the KV cache"
        if freed.non_torch
        else f"{freed.baseline / _MIB:.0f} MiB allocated before vLLM's memory snapshot (outside "
        "the KV budget), so the KV cache is unchanged and that much more stays free"
    )
    return {
        "--disable-custom-all-reduce": f"no custom all-reduce buffers on the TP {settings.tp} "
        f"group: {where} per GPU (distributed/device_communicators/custom_all_reduce.py; "
        "NCCL does the all-reduce)"
    }
