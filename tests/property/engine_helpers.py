"""What the engine property tests share: catalog models, generated GPUs, request edits.

Invariants are checked on the engine's memory plan (exact floats and integers, the figures
vLLM's start-up arithmetic produces), which is also what keeps 3,000 pairs fast; the full
PlanResponse is exercised by test_plan_or_error.py.
"""

from __future__ import annotations

import functools
from typing import Any

from hypothesis import strategies as st

from checker.models.resolve import resolve_model
from checker.planning.engine.settings import resolve_settings
from checker.planning.memory.memory import MemoryPlan, plan_memory
from checker.planning.planner import choose_tp
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import ModelInput, PlanRequest
from checker.schemas.model_info import LayerKind, ModelInfo
from checker.schemas.profile import Profile
from checker.schemas.profile_io import profile_to_request
from tests.property.strategies import profile_dicts

CAPABILITIES = ("7.0", "7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0")

gpus = st.builds(
    GPUSpec,
    name=st.sampled_from(["H100-SXM-80GB", "A100-80GB", "L4", "Gen-GPU"]),
    memory_gib=st.floats(4, 300),
    memory_bandwidth_gbs=st.floats(100, 10_000),
    fp16_tflops=st.floats(10, 3_000),
    fp8_tflops=st.one_of(st.none(), st.floats(10, 6_000)),
    compute_capability=st.sampled_from(CAPABILITIES),
)


@functools.cache
def model_info(model_id: str) -> ModelInfo:
    return resolve_model(ModelInput(model=model_id), offline=True)


def has_linear_state(model: ModelInfo) -> bool:
    return LayerKind.LINEAR in model.layer_kinds


def is_full_attention(model: ModelInfo) -> bool:
    """Every cached layer attends to the whole context (MLA included); DeepSeek-V4's layers
    keep a sliding window beside their compressed cache."""
    kinds = set(model.layer_kinds) - {LayerKind.NONE}
    return kinds <= {LayerKind.FULL, LayerKind.MLA} and model.compressed_attention is None


@st.composite
def requests(draw: st.DrawFn, /, **fixed: dict[str, Any]) -> PlanRequest:
    """A request from a generated profile, with some sections' fields pinned by the caller.

    ``fixed`` maps a request section ("policy", "engine", ...) to field values laid over it.
    """
    data = draw(profile_dicts())
    data.get("hardware", {}).pop("targets", None)  # one target: the profile's own
    request = profile_to_request(Profile.model_validate(data))
    return edit(request, **fixed)


def edit(request: PlanRequest, **sections: dict[str, Any]) -> PlanRequest:
    """A copy of a frozen request with fields of some sections replaced (validated again)."""
    data = request.model_dump()
    for section, values in sections.items():
        data[section].update(values)
    return PlanRequest.model_validate(data)


def memory(request: PlanRequest, gpu: GPUSpec) -> MemoryPlan:
    """The engine's memory plan for the request, at the TP the planner would choose."""
    model = model_info(request.model.model)
    tp = choose_tp(request, model, gpu)
    return plan_memory(model, resolve_settings(request, model, gpu, tp=tp))
