"""Which GPU model runner a server starts: V1 (v1/worker/gpu_model_runner.py) or Model Runner V2
(v1/worker/gpu/model_runner.py), as vllm/config/vllm.py VllmConfig.use_v2_model_runner decides
by release, architecture and feature (data/vllm_model_runner.yaml). The runner sets what the
profile run samples and whether a CUDA-graph estimate is subtracted (checker.planning.memory)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from checker.planning.engine.releases import pick, release
from checker.planning.engine.spec_config import SpecDecode
from checker.planning.memo import ByIdentity
from checker.schemas.inputs import EngineInput
from checker.schemas.model_info import ModelInfo
from checker.schemas.yaml_source import bundled_data


class Runner(NamedTuple):
    """The model runner and, for --explain, why vLLM picks it."""

    v2: bool
    reason: str
    # the speculative-config key or engine argument (as --flag) without which the release would
    # start the model on Model Runner V2; "" when none
    kept_by: str = ""

    @property
    def name(self) -> str:
        return "Model Runner V2" if self.v2 else "the V1 model runner"


@functools.cache
def runner_facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_model_runner.yaml")
    return data


_UNSUPPORTED = "config/vllm.py _get_v2_model_runner_unsupported_features"


def model_runner(
    model: ModelInfo,
    version: str,
    spec: SpecDecode | None,
    engine: EngineInput | None = None,
    *,
    v0: bool = False,
) -> Runner:
    """The runner ``version`` starts ``model`` on, with ``spec`` and ``engine``'s arguments
    (None: vLLM's defaults), as VllmConfig.use_v2_model_runner decides: the model's default,
    then what Model Runner V2 does not support sending a default-V2 model back to V1."""
    if engine is None or spec is not None:
        return _model_runner(model, version, spec, engine, v0)
    # the model's fields _default_runner reads
    key = (model.architectures, model.state is not None, model.attention_free, model.is_moe)
    return _RUNNERS.get(
        engine, (*key, version, v0), lambda: _model_runner(model, version, None, engine, v0)
    )


# per engine section, which a profile's targets share (as do the TP sizes a search resolves
# afresh), without a speculative config (whose dict is not keyed): the runner of each model
_RUNNERS: ByIdentity[Runner] = ByIdentity(maxsize=1024)


def _model_runner(
    model: ModelInfo,
    version: str,
    spec: SpecDecode | None,
    engine: EngineInput | None,
    v0: bool,
) -> Runner:
    """model_runner, computed."""
    facts = runner_facts()
    rule: dict[str, Any] | None = pick(facts["default_v2"], version)
    if v0 or rule is None:
        return Runner(False, f"vLLM {version} has no default Model Runner V2")
    if rule.get("only_runner"):
        return Runner(True, f"vLLM {version} has removed the V1 model runner")
    default = _default_runner(model, version, rule)
    if not default.v2:
        return default
    method = spec.method if spec else None
    methods: dict[str, list[str]] = pick(facts["v2_speculative_methods"], version) or {}
    if method and (
        method not in methods["runs"] if "runs" in methods else method in methods["keeps_v1"]
    ):
        return Runner(
            False,
            f"Model Runner V2 of vLLM {version} does not run speculative method "
            f"'{method}' ({_UNSUPPORTED})",
        )
    key = _unsupported_spec_key(spec, version) if spec else None
    if key:
        feature = f'the speculative config\'s "{key}"'
        return Runner(False, f"Model Runner V2 of vLLM {version} does not take {feature}", key)
    arg = _unsupported_arg(engine, version) if engine else None
    if arg:
        flag, feature = arg
        return Runner(
            False,
            f"Model Runner V2 of vLLM {version} does not yet support {feature} ({flag}; "
            f"{_UNSUPPORTED})",
            flag,
        )
    return default


def _default_runner(model: ModelInfo, version: str, rule: dict[str, Any]) -> Runner:
    """The runner ``version`` picks for ``model`` before what V2 does not support
    (config/vllm.py _is_default_v2_model_runner_model)."""
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


def _unsupported_spec_key(spec: SpecDecode, version: str) -> str | None:
    """The first speculative-config key set to true that V2 does not take with this method."""
    keys: dict[str, list[str]] = pick(runner_facts()["v2_unsupported_spec_keys"], version) or {}
    return next(
        (
            k
            for k, v2_methods in keys.items()
            if spec.config.get(k) is True and spec.method not in v2_methods
        ),
        None,
    )


def _unsupported_arg(engine: EngineInput, version: str) -> tuple[str, str] | None:
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
        counts = value in row["values"] if "values" in row else bool(value)
        if counts:
            return f"--{arg}", str(row["feature"])
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
