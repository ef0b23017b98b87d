"""One GPU SKU as the engine needs it. The catalog itself is data (``checker/data/gpus.yaml``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from checker.schemas.enums import Interconnect


class GPUSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        min_length=1, max_length=128, description="Canonical name, e.g. H100-SXM-80GB"
    )
    aliases: tuple[str, ...] = ()
    vendor: str = Field("nvidia", pattern=r"^(nvidia|amd|intel)$")
    memory_gib: float = Field(gt=0, le=10_000, description="Total memory as torch/CUDA reports it")
    memory_bandwidth_gbs: float = Field(gt=0, description="Peak memory bandwidth, GB/s")
    fp16_tflops: float = Field(gt=0, description="Dense fp16/bf16 tensor TFLOPS")
    fp8_tflops: float | None = Field(None, gt=0, description="Dense fp8 TFLOPS; None if no fp8")
    int8_tops: float | None = Field(None, gt=0)
    compute_capability: str = Field(pattern=r"^\d+\.\d+$", description='"9.0"; AMD: gfx as "9.4"')
    interconnect: Interconnect = Interconnect.PCIE
    nvlink_bandwidth_gbs: float | None = Field(None, gt=0)
    consumer: bool = False
    source: str = Field("", description="Where the figures come from")

    @property
    def capability(self) -> int:
        """vLLM's integer form: "8.9" -> 89."""
        major, minor = self.compute_capability.split(".")
        return int(major) * 10 + int(minor)
