from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from checker.models.config_parser import parse_config
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import EngineInput, HardwareInput, ModelInput, PlanRequest, PolicyInput
from checker.schemas.model_info import ModelInfo
from tests.models.test_config_parser import load

# The H100 of the validation logs: torch reports 79.19 GiB.
H100 = GPUSpec(
    name="H100-SXM-80GB",
    memory_gib=79.19,
    memory_bandwidth_gbs=3350,
    fp16_tflops=989,
    fp8_tflops=1979,
    compute_capability="9.0",
)
T4 = GPUSpec(
    name="T4", memory_gib=14.56, memory_bandwidth_gbs=320, fp16_tflops=65, compute_capability="7.5"
)


def model(name: str) -> ModelInfo:
    return parse_config(load(name), model_id=name.replace("__", "/"), source="local")


def request(
    model_id: str = "x/y",
    *,
    tp: int = 1,
    pp: int = 1,
    util: float = 0.95,
    version: str = "0.19",
    max_len: int | None = 8192,
    **extra: Any,
) -> PlanRequest:
    model_fields = {
        k: extra.pop(k) for k in ("dtype", "kv_cache_dtype", "quantization") if k in extra
    }
    return PlanRequest(
        model=ModelInput(model=model_id, max_model_len=max_len, **model_fields),
        hardware=HardwareInput(gpus=tp * pp, tensor_parallel_size=tp, pipeline_parallel_size=pp),
        policy=PolicyInput(gpu_memory_utilization=util),
        engine=EngineInput(vllm_version=version, **extra),
    )


@pytest.fixture
def make_request() -> Callable[..., PlanRequest]:
    return request
