"""Whether the pinned vLLM can build a model's architecture, and with pipeline parallelism.

Facts per release come from ``checker/data/vllm_architectures.json`` (extracted from the
wheels by benchmarks/vllm_architectures.py). The resolution mirrors
model_executor/models/registry.py _ModelRegistry.inspect_model_cls: a registered architecture,
else the Transformers backend for the first architecture when transformers has a compatible
class (or custom code that is trusted), else a registered base after swapping the suffix
(_normalize_arch), else _raise_for_unsupported.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, NamedTuple

from checker.planning.engine.releases import pick
from checker.schemas.model_info import ModelInfo
from checker.schemas.yaml_source import bundled_part

# The class the Transformers backend builds a text model with (registry
# _TRANSFORMERS_BACKEND_MODELS); its pipeline-parallel support stands for the backend's.
_TRANSFORMERS_BACKEND = "TransformersForCausalLM"


class ArchitectureSupport(NamedTuple):
    how: Literal["vllm", "transformers", "removed", "out_of_tree", "unsupported"]
    architecture: str  # the one vLLM builds, or the one it refuses
    release: str  # the release whose registry answered
    supports_pp: bool = True
    detail: str = ""  # removed: last release; out_of_tree: plugin URL
    registered_count: int = 0


_FILE = "vllm_architectures.json"


@functools.cache
def _release(version: str) -> tuple[str, frozenset[str], frozenset[str], dict[str, Any]] | None:
    # a start loads the names and the one release it needs of the file's (cached)
    names: list[str] = bundled_part(_FILE, "releases", lambda data: list(data["releases"]))
    name = pick({n: n for n in names}, version)
    if name is None:
        return None
    facts: dict[str, Any] = bundled_part(
        _FILE, f"release-{name}", lambda data: data["releases"][name]
    )
    return (
        name,
        frozenset(facts["registered"]),
        frozenset(facts["without_pipeline_parallel"]),
        facts,
    )


def architecture_support(
    model: ModelInfo, version: str, *, trust_remote_code: bool
) -> ArchitectureSupport | None:
    """How ``version`` builds ``model``; None when the config names no architecture or the
    release predates the registries we hold."""
    return _support(model.architectures, model.custom_code and trust_remote_code, version)


@functools.lru_cache(maxsize=1024)  # pure; several rules of every plan ask
def _support(
    archs: tuple[str, ...], trusted_code: bool, version: str
) -> ArchitectureSupport | None:
    release = _release(version)
    if release is None or not archs:
        return None
    name, registered, no_pp, facts = release

    def built(arch: str, how: Literal["vllm", "transformers"]) -> ArchitectureSupport:
        pp_class = arch if arch in registered else _TRANSFORMERS_BACKEND
        return ArchitectureSupport(how, arch, name, supports_pp=pp_class not in no_pp)

    # registered to the Transformers backend's classes (0.34: Gemma, OLMoE, StableLM, Aria)
    via_transformers = facts.get("transformers_registered", ())
    for arch in archs:
        if arch in registered:
            return built(arch, "transformers" if arch in via_transformers else "vllm")
    if archs[0] in facts["transformers_backend"] or trusted_code:
        return built(archs[0], "transformers")
    for arch in archs:
        if base := _normalized(arch, registered, facts["suffixes"]):
            return built(base, "vllm")
    for arch in archs:
        if arch in facts["removed"]:
            return ArchitectureSupport("removed", arch, name, detail=str(facts["removed"][arch]))
        if arch in facts["out_of_tree"]:
            return ArchitectureSupport("out_of_tree", arch, name, detail=facts["out_of_tree"][arch])
    return ArchitectureSupport("unsupported", archs[0], name, registered_count=len(registered))


def _normalized(arch: str, registered: frozenset[str], suffixes: list[str]) -> str | None:
    """registry _normalize_arch: the first default suffix the name ends with, swapped for each
    suffix in turn (a FooForSequenceClassification served by a registered FooForCausalLM)."""
    suffix = next((s for s in suffixes if arch.endswith(s)), None)
    if suffix is None:
        return None
    return next((b for r in suffixes if (b := arch.replace(suffix, r)) in registered), None)
