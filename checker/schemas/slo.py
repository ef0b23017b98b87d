"""Serving targets a profile's workload may state; the gate holds the estimate against them
(rules VW401-VW404). Shared by the profile and the plan request, so both spell them alike."""

from checker.schemas.section import ConfigDict, Field, Section, StrictFloat

_TARGETS = ConfigDict(extra="forbid", allow_inf_nan=False)


class SLOTargets(Section):
    """Ceilings on latency percentiles (as `vllm bench serve` prints them) and a floor on the
    deployment's output throughput; leave out what you do not target."""

    model_config = _TARGETS

    ttft_p50_ms: StrictFloat | None = Field(default=None, gt=0, le=1e9, description="Median TTFT")
    ttft_p90_ms: StrictFloat | None = Field(default=None, gt=0, le=1e9)
    tpot_p50_ms: StrictFloat | None = Field(default=None, gt=0, le=1e9, description="Median TPOT")
    tpot_p90_ms: StrictFloat | None = Field(default=None, gt=0, le=1e9)
    min_output_toks_per_s: StrictFloat | None = Field(
        default=None, gt=0, le=1e12, description="Output tokens/s of the whole deployment, at least"
    )

    @property
    def stated(self) -> bool:
        # the fields' own values: model_dump would build the serializer and a dict per call
        return any(v is not None for v in self.__dict__.values())
