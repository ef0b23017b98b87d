"""The architecture gate (VW120, VW121, VW207): vLLM refuses an architecture its registry
removed or never had before it reads any weight; one it has no class for may still run through
its Transformers backend, which from 0.33 refuses a decoder layer that does not attend. Messages
are model_executor/models/registry.py _ModelRegistry._raise_for_unsupported's and
model_executor/models/transformers/base.py Base._create_attention_instances'."""

from __future__ import annotations

from checker.planning.engine.architectures import ArchitectureSupport, architecture_support
from checker.planning.engine.releases import has_behaviour, message
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.model_info import LayerKind
from checker.schemas.outputs import Finding


def support(ctx: RuleContext) -> ArchitectureSupport | None:
    return architecture_support(
        ctx.model, ctx.settings.facts.version, trust_remote_code=ctx.request.model.trust_remote_code
    )


def supports_pipeline_parallel(ctx: RuleContext) -> bool:
    """SupportsPP of the class the pinned release builds; our older per-model fact before the
    releases whose registry we hold."""
    found = support(ctx)
    if found is None or found.how not in ("vllm", "transformers"):
        return ctx.model.supports_pp
    return found.supports_pp


@rule
def architecture_supported(ctx: RuleContext) -> Finding | None:
    found, version = support(ctx), ctx.settings.facts.version
    if found is None or found.how == "vllm":
        return None
    if found.how == "transformers":
        return Finding(
            rule_id="VW121",
            name="architecture-transformers-backend",
            severity=Severity.INFO,
            message=f"vLLM {version} has no implementation of {found.architecture}; it builds "
            "the model through its Transformers backend, so speed and memory differ from a "
            "native model's.",
            key="model.model",
            fix="The plan sizes it like a native model; check the real start-up log.",
        )
    archs = list(ctx.model.architectures)
    if found.how == "removed":
        text = message("arch-removed", version, arch=found.architecture, until=found.detail)
        fix = f"Pin vLLM {found.detail} (vllm.version) or serve a supported architecture."
    elif found.how == "out_of_tree":
        text = message("arch-out-of-tree", version, arch=found.architecture, url=found.detail)
        fix = f"Install the plugin at {found.detail} in the serving image."
    else:
        shown = f"dict_keys([...{found.registered_count} architectures of vLLM {found.release}])"
        text = message("arch-unsupported", version, archs=archs, supported=shown)
        fix = (
            "Serve a model whose architecture vLLM registers, or one transformers implements "
            "(vLLM's Transformers backend), or pass trust_remote_code for custom code."
        )
    return Finding(
        rule_id="VW120",
        name="architecture-unsupported",
        severity=Severity.ERROR,
        message=text,
        key="model.model",
        fix=fix,
    )


@rule
def transformers_backend_layers_attend(ctx: RuleContext) -> Finding | None:
    """A model the Transformers backend builds must attend in every decoder layer (0.33):
    a mamba / linear-attention layer (Bamba, MiniMax-Text-01 after their native classes left)
    or an attention-free one stops the start-up."""
    found, version = support(ctx), ctx.settings.facts.version
    if found is None or found.how != "transformers":
        return None
    if not has_behaviour("transformers_backend_refuses_layers_without_attention", version):
        return None
    silent = (LayerKind.LINEAR, LayerKind.NONE)
    first = next((i for i, k in enumerate(ctx.model.layer_kinds) if k in silent), None)
    if first is None:
        return None
    return Finding(
        rule_id="VW207",
        name="transformers-backend-layer-without-attention",
        severity=Severity.ERROR,
        message=message("transformers-backend-layer-without-attention", version, layer=first),
        key="model.model",
        fix=f"vLLM {version} has no class of its own for {found.architecture}: pin a release "
        "that implements it (vllm.version), or serve a model vLLM implements.",
    )


@rule
def layer_kinds_modelled(ctx: RuleContext) -> Finding | None:
    """A layer kind the config names that vllm-wizard has no recipe for is sized as full
    attention, or, for state layers of a model type without a state recipe, left without a
    state; vLLM builds them its own way, so the KV figures cannot be trusted."""
    kinds = ctx.model.unmodeled_layer_kinds
    if not kinds:
        return None
    return Finding(
        rule_id="VW124",
        name="layer-kind-not-modeled",
        severity=Severity.WARNING,
        message=f"config.json names layer kinds vllm-wizard does not model ({', '.join(kinds)}); "
        "they were sized as full attention or left without a state, so the KV cache, token "
        "and concurrency figures are not trustworthy.",
        key="model.model",
        fix="Check the real start-up log's 'GPU KV cache size' line, or report the "
        "architecture so its state layers can be modelled.",
    )
