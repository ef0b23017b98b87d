"""Which GPU model runner a server starts: V1 (v1/worker/gpu_model_runner.py) or Model Runner V2
(v1/worker/gpu/model_runner.py), as vllm/config/vllm.py VllmConfig.use_v2_model_runner decides
by release, architecture and feature (data/vllm_model_runner.yaml). The runner sets what the
profile run samples and whether a CUDA-graph estimate is subtracted (checker.planning.memory)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from checker.planning.engine.releases import pick, release
from checker.planning.engine.spec_config import SpecDecode
from checker.schemas.inputs import EngineInput
from checker.schemas.model_info import ModelInfo
from checker.schemas.yaml_source import bundled_data


class Runner(NamedTuple):
    """The model runner and, for --explain, why vLLM picks it."""

    v2: bool
    reason: str

    @property
    def name(self) -> str:
        return "Model Runner V2" if self.v2 else "the V1 model runner"


@functools.cache
def runner_facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_model_runner.yaml")
    return data


def model_runner(
    model: ModelInfo,
    version: str,
    spec: SpecDecode | None,
    engine: EngineInput | None = None,
    *,
    v0: bool = False,
) -> Runner:
    """The runner ``version`` starts ``model`` on (with ``spec``'s speculative method and
    ``engine``'s arguments; None: vLLM's defaults)."""
    facts = runner_facts()
    rule: dict[str, Any] | None = pick(facts["default_v2"], version)
    if v0 or rule is None:
        return Runner(False, f"vLLM {version} has no default Model Runner V2")
    if rule.get("only_runner"):
        return Runner(True, f"vLLM {version} has removed the V1 model runner")
    method = spec.method if spec else None
    methods: dict[str, list[str]] = pick(facts["v2_speculative_methods"], version) or {}
    if method and (
        method not in methods["runs"] if "runs" in methods else method in methods["keeps_v1"]
    ):
        return Runner(
            False,
            f"Model Runner V2 of vLLM {version} does not run speculative method "
            f"'{method}' (config/vllm.py _get_v2_model_runner_unsupported_features)",
        )
    if engine is not None and (refused := _unsupported_arg(engine, version)):
        return Runner(
            False,
            f"Model Runner V2 of vLLM {version} does not yet support {refused} "
            "(config/vllm.py _get_v2_model_runner_unsupported_features)",
        )
    if rule.get("every_model"):
        return Runner(True, f"vLLM {version} runs every generate model on Model Runner V2")
    arch = next((a for a in model.architectures if a in rule["architectures"]), None)
    hybrid = model.state is not None and not model.attention_free
    where = "config/vllm.py _is_default_v2_model_runner_model"
    if hybrid and not (arch and rule.get("listed_hybrids")):
        return Runner(False, f"vLLM {version} keeps hybrid (Mamba / linear-attention) models on V1")
    if model.attention_free:
        return Runner(False, f"vLLM {version} keeps attention-free models on V1")
    if arch:
        return Runner(True, f"{arch} is a default Model Runner V2 architecture of vLLM {version}")
    if rule.get("dense") and not model.is_moe:
        return Runner(True, f"vLLM {version} runs dense models on Model Runner V2 ({where})")
    if rule.get("dense"):
        return Runner(False, f"vLLM {version} keeps unlisted MoE models on V1 ({where})")
    names = ", ".join(model.architectures) or "the model's architecture"
    return Runner(False, f"{names}: not a default Model Runner V2 architecture of vLLM {version}")


def _unsupported_arg(engine: EngineInput, version: str) -> str | None:
    """The first engine argument (as ``--flag``) whose feature Model Runner V2 of ``version``
    does not support, with the feature's name; None when there is none."""
    for row in runner_facts()["v2_unsupported_args"]:
        if release(version) < release(row["since"]) or (
            "until" in row and release(version) >= release(row["until"])
        ):
            continue
        arg: str = row["arg"]
        field = arg.replace("-", "_")
        value = (
            getattr(engine, field)
            if field in EngineInput.model_fields
            else engine.vllm_args.get(arg)
        )
        if value in row["values"] if "values" in row else bool(value):
            return f"{row['feature']} (--{arg})"
    return None


def first_v2_release(
    model: ModelInfo, version: str, spec: SpecDecode | None, engine: EngineInput | None = None
) -> str | None:
    """The first release read, from ``version`` on, that starts ``model`` on Model Runner V2."""
    facts = runner_facts()
    limits = (row.get("until") for row in facts["v2_unsupported_args"])
    starts = {*facts["default_v2"], *facts["v2_speculative_methods"], *filter(None, limits)}
    later = sorted((v for v in {*starts, version} if release(v) >= release(version)), key=release)
    return next((v for v in later if model_runner(model, v, spec, engine).v2), None)


def v2_estimates_cudagraphs(version: str) -> bool:
    """Whether V2's GPUModelRunner.profile_cudagraph_memory estimates (0 before: nothing is
    subtracted for CUDA graphs on V2)."""
    return release(version) >= release(str(runner_facts()["v2_cudagraph_estimate_since"]))
