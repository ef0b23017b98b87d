"""Plans of catalog models on catalog GPUs, for the rule, recommendation and perf tests."""

from __future__ import annotations

from typing import Any

from checker.hardware.catalog import find_gpu
from checker.models.catalog import lookup
from checker.models.config_parser import parse_config
from checker.planning.planner import run_plan
from checker.schemas.enums import BatchingMode
from checker.schemas.inputs import (
    EngineInput,
    HardwareInput,
    ModelInput,
    PlanRequest,
    PolicyInput,
    WorkloadInput,
)
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import Finding, PlanResponse

AWQ = {
    "quantization_config": {
        "quant_method": "awq",
        "bits": 4,
        "group_size": 128,
        "zero_point": True,
    },
    "torch_dtype": "float16",
}
_MODEL_FIELDS = (
    "dtype",
    "quantization",
    "kv_cache_dtype",
    "max_model_len",
    "trust_remote_code",
    "hf_overrides",
)
_POLICY_FIELDS = ("instances_per_gpu", "headroom_gb")
_WORKLOAD_FIELDS = (
    "concurrency",
    "prompt_tokens",
    "gen_tokens",
    "request_rate",
    "num_prompts",
    "slo",
    "shared_prefix_tokens",
    "random_range_ratio",
)


def catalog_model(model_id: str, **overrides: Any) -> ModelInfo:
    found = lookup(model_id)
    assert found is not None, model_id
    config = {**found[0], **overrides}
    return parse_config(config, model_id=model_id, source="catalog")


def make_request(
    model_id: str,
    gpu: str = "H100-80GB",
    *,
    gpus: int = 1,
    gpus_per_node: int | None = None,
    tp: int | None = None,
    pp: int = 1,
    util: float | None = None,
    version: str | None = None,
    mode: BatchingMode = BatchingMode.BALANCED,
    interconnect: str = "unknown",
    explain: bool = False,
    step_model: bool = False,
    **fields: Any,
) -> PlanRequest:
    def take(names: tuple[str, ...]) -> dict[str, Any]:
        return {k: fields.pop(k) for k in names if k in fields}

    return PlanRequest(
        model=ModelInput(model=model_id, **take(_MODEL_FIELDS)),
        hardware=HardwareInput(
            gpu=gpu,
            gpus=gpus,
            gpus_per_node=gpus_per_node,
            tensor_parallel_size=tp,
            pipeline_parallel_size=pp,
            interconnect=interconnect,
        ),
        workload=WorkloadInput(batching_mode=mode, **take(_WORKLOAD_FIELDS)),
        policy=PolicyInput(gpu_memory_utilization=util, **take(_POLICY_FIELDS)),
        engine=EngineInput(vllm_version=version, **fields),
        explain=explain,
        step_model=step_model,
    )


def plan(
    model_id: str,
    gpu: str = "H100-80GB",
    *,
    model: ModelInfo | None = None,
    draft: ModelInfo | None = None,
    **kw: Any,
) -> PlanResponse:
    """``draft``: the speculative config's draft model or EAGLE head (the pipeline resolves it)."""
    request = make_request(model_id, gpu, **kw)
    return run_plan(request, model or catalog_model(model_id), find_gpu(gpu), draft=draft)


def fired(resp: PlanResponse, rule_id: str) -> list[Finding]:
    return [f for f in resp.feasibility.findings if f.rule_id == rule_id]


def only(resp: PlanResponse, rule_id: str) -> Finding:
    found = fired(resp, rule_id)
    assert len(found) == 1, [f.rule_id for f in resp.feasibility.findings]
    return found[0]
