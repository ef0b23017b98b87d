"""One GPU SKU as the engine needs it. The catalog itself is data (``checker/data/gpus.yaml``)."""

from functools import lru_cache

from checker.schemas.enums import Interconnect
from checker.schemas.section import ConfigDict, Field, Section, model_validator

# Figures far beyond any GPU (1e308, or a subnormal 5e-324) overflow the planner's arithmetic
# to inf or 0: bounded here, a thousand times past today's largest, so input stays finite.
_MAX_RATE = 1_000_000


class GPUSpec(Section):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=128, description="Canonical name, e.g. H100-SXM-80GB"
    )
    aliases: tuple[str, ...] = ()
    vendor: str = Field(default="nvidia", pattern=r"^(nvidia|amd|intel)$")
    memory_gib: float = Field(
        ge=0.01, le=10_000, description="Total memory as torch/CUDA reports it"
    )
    memory_bandwidth_gbs: float = Field(
        ge=1, le=_MAX_RATE, description="Peak memory bandwidth, GB/s"
    )
    fp16_tflops: float = Field(ge=0.01, le=_MAX_RATE, description="Dense fp16/bf16 tensor TFLOPS")
    fp8_tflops: float | None = Field(
        default=None, ge=0.01, le=_MAX_RATE, description="Dense fp8 TFLOPS; None if no fp8"
    )
    int8_tops: float | None = Field(default=None, ge=0.01, le=_MAX_RATE)
    compute_capability: str = Field(
        pattern=r"^[0-9]{1,2}\.[0-9]{1,2}$", description='"9.0"; AMD: gfx as "9.4"'
    )
    interconnect: Interconnect = Interconnect.PCIE
    nvlink_bandwidth_gbs: float | None = Field(default=None, ge=1, le=_MAX_RATE)
    # `interconnect: pcie` is the form factor (PCIe cards may still pair over NVLink bridges);
    # only a vendor spec saying the SKU has no NVLink lets a profile that states no
    # interconnect be planned as PCIe only (checker.planning.engine.settings.resolve_interconnect)
    nvlink_support: bool | None = Field(
        default=None, description="False: the vendor spec says no NVLink; None: not catalogued"
    )
    nvlink_source: str = Field(default="", description="The vendor spec behind nvlink_support")
    # a bridge joins a few cards pair-wise, so a TP group larger than one bridge's cards is not
    # fully NVLinked (checker.planning.engine.settings.fully_nvlinked)
    nvlink_bridge_gpus: tuple[int, ...] = Field(
        default=(),
        description="Cards one NVLink bridge joins, each size the vendor offers (H200 NVL: 2, 4);"
        " empty: no bridge (NVSwitch or on-board NVLink, or no NVLink)",
    )
    # an on-board NVLink topology without NVSwitch links each GPU to a few peers only, so a TP
    # group larger than its biggest all-linked set is not fully NVLinked either
    nvlink_mesh_gpus: int | None = Field(
        default=None,
        ge=2,
        le=64,
        description="The most GPUs the on-board NVLink topology links pair by pair (V100 SXM2's"
        " hybrid cube-mesh: 4); None: NVSwitch, bridges, no NVLink or not catalogued",
    )
    consumer: bool = False
    source: str = Field(default="", description="Where the figures come from")

    @model_validator(mode="after")
    def _nvlink_sourced(self) -> "GPUSpec":
        if self.nvlink_support is not None and not self.nvlink_source:
            raise ValueError(f"{self.name}: nvlink_support needs nvlink_source (a vendor spec)")
        linked = (Interconnect.NVLINK, Interconnect.INFINITY_FABRIC)
        if self.nvlink_support is False and self.interconnect in linked:
            raise ValueError(
                f"{self.name}: nvlink_support false on a {self.interconnect.value} part"
            )
        if self.nvlink_bridge_gpus and (
            self.nvlink_support is not True or min(self.nvlink_bridge_gpus) < 2
        ):
            raise ValueError(
                f"{self.name}: nvlink_bridge_gpus needs nvlink_support true and bridges of 2+ cards"
            )
        if self.nvlink_mesh_gpus and (self.nvlink_support is not True or self.nvlink_bridge_gpus):
            raise ValueError(
                f"{self.name}: nvlink_mesh_gpus needs nvlink_support true and no bridges"
            )
        return self

    @property
    def capability(self) -> int:
        """vLLM's integer form: "8.9" -> 89."""
        return _capability(self.compute_capability)


@lru_cache(maxsize=64)  # the planner asks dozens of times a plan, of a handful of values
def _capability(compute_capability: str) -> int:
    major, minor = compute_capability.split(".")
    return int(major) * 10 + int(minor)
