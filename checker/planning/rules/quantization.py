"""Quantization rules (VW107-VW111): the method must exist in the pinned vLLM, agree with the
checkpoint, run on the GPU and accept the model dtype (checker/data/quantization_methods.yaml)."""

from __future__ import annotations

from checker.planning.engine.releases import MethodFacts, message, method_facts
from checker.planning.rules.base import RuleContext, per_plan, rule
from checker.schemas.enums import Quantization, Severity
from checker.schemas.outputs import Finding

_METHODS = {q.value for q in Quantization} - {Quantization.NONE.value}


def requested_method(ctx: RuleContext) -> str | None:
    q = ctx.request.model.quantization
    return None if q is Quantization.NONE else str(q.value)


def checkpoint_method(ctx: RuleContext) -> str | None:
    """The checkpoint's quant_method, when it is one vLLM names (None for unquantized)."""
    quant = ctx.model.quant
    return quant.method if quant and quant.method in _METHODS else None


@per_plan  # VW107 and the two rules that read the method's facts ask
def vllm_method(ctx: RuleContext) -> str | None:
    """The method vLLM runs: the flag as given; else the checkpoint's, upgraded to its faster
    kernel (awq -> awq_marlin) when the GPU meets that kernel's minimum."""
    requested, version = requested_method(ctx), ctx.settings.facts.version
    if requested is not None:
        return requested
    base = checkpoint_method(ctx)
    facts = method_facts(base, version) if base else None
    if facts is None or facts.upgrades_to is None:
        return base
    upgrade = method_facts(facts.upgrades_to, version)
    usable = facts.upgrades_to in ctx.settings.facts.quantization_methods
    if upgrade is not None and usable and ctx.gpu.capability >= upgrade.min_capability:
        return upgrade.name
    return base


def _key(ctx: RuleContext) -> str:
    return "model.quantization" if requested_method(ctx) else "model.id"


@per_plan  # VW110 and VW111 ask
def _running_facts(ctx: RuleContext) -> MethodFacts | None:
    method = vllm_method(ctx)
    if method is None or method not in ctx.settings.facts.quantization_methods:
        return None
    return method_facts(method, ctx.settings.facts.version)


@rule
def method_known(ctx: RuleContext) -> Finding | None:
    facts, method = ctx.settings.facts, vllm_method(ctx)
    if method is None or method in facts.quantization_methods:
        return None
    return Finding(
        rule_id="VW107",
        name="quantization-unknown",
        severity=Severity.ERROR,
        message=message(
            "quant-unknown", facts.version, method=method, methods=list(facts.quantization_methods)
        ),
        key=_key(ctx),
        fix=f"vLLM {facts.version} has no {method} method: pin a newer vLLM (vllm.version)"
        + (" or drop the quantization setting." if requested_method(ctx) else "."),
        fix_values={"model.quantization": "none"} if requested_method(ctx) else {},
    )


@rule
def method_matches_checkpoint(ctx: RuleContext) -> Finding | None:
    requested, checkpoint = requested_method(ctx), checkpoint_method(ctx)
    if requested is None or checkpoint is None:
        return None
    facts = method_facts(requested, ctx.settings.facts.version)
    if checkpoint in (facts.checkpoints if facts else (requested,)):
        return None
    return Finding(
        rule_id="VW108",
        name="quantization-mismatch",
        severity=Severity.ERROR,
        message=message(
            "quant-mismatch", ctx.settings.facts.version, checkpoint=checkpoint, method=requested
        ),
        key="model.quantization",
        fix=f"The checkpoint is {checkpoint}-quantized: leave quantization unset and vLLM reads "
        "it from the checkpoint's quantization_config.",
        fix_values={"model.quantization": "none"},
    )


@rule
def method_needs_checkpoint(ctx: RuleContext) -> Finding | None:
    requested, version = requested_method(ctx), ctx.settings.facts.version
    if requested is None or ctx.model.quant is not None:
        return None
    facts = method_facts(requested, version)
    if facts is None or facts.online:
        return None
    text = (
        message("quant-no-config", version, method=requested)
        if facts.config_files
        else f"quantization {requested} loads checkpoints quantized with {requested}; "
        f"{ctx.model.model_id} has no quantization_config, so vLLM cannot load it that way."
    )
    return Finding(
        rule_id="VW109",
        name="quantization-needs-quantized-checkpoint",
        severity=Severity.ERROR,
        message=text,
        key="model.quantization",
        fix=f"{requested} needs a checkpoint quantized with it, which is a different model id; "
        "keep this checkpoint unquantized, or quantize it at load time with fp8 where the GPU "
        "allows.",
        fix_values={"model.quantization": "none"},
    )


@rule
def method_runs_on_gpu(ctx: RuleContext) -> Finding | None:
    facts, gpu = _running_facts(ctx), ctx.gpu
    if facts is None:
        return None
    if facts.vendors and gpu.vendor not in facts.vendors:
        text = f"{facts.name} runs only on {', '.join(facts.vendors)} GPUs, not the {gpu.name}."
    elif gpu.capability < facts.min_capability:
        text = message(
            "quant-capability",
            ctx.settings.facts.version,
            method=facts.name,
            minimum=facts.min_capability,
            capability=gpu.capability,
        )
    else:
        return None
    return Finding(
        rule_id="VW110",
        name="quantization-unsupported-gpu",
        severity=Severity.ERROR,
        message=text,
        key=_key(ctx),
        fix=f"{facts.name} needs compute capability {facts.min_capability / 10:.1f} or more: "
        "choose another GPU, or another checkpoint.",
    )


@rule
def method_accepts_dtype(ctx: RuleContext) -> Finding | None:
    facts, dtype = _running_facts(ctx), ctx.settings.dtype
    if facts is None or dtype in facts.act_dtypes:
        return None
    target = "float16" if "float16" in facts.act_dtypes else facts.act_dtypes[0]
    supported = "[" + ", ".join(f"torch.{d}" for d in facts.act_dtypes) + "]"
    fix = f"Set dtype to {target}."
    upgrade = (
        method_facts(facts.upgrades_to, ctx.settings.facts.version) if facts.upgrades_to else None
    )
    if upgrade and dtype in upgrade.act_dtypes and ctx.gpu.capability >= upgrade.min_capability:
        fix += f" Or leave quantization unset: vLLM then picks {upgrade.name}, which runs {dtype}."
    return Finding(
        rule_id="VW111",
        name="quantization-dtype-unsupported",
        severity=Severity.ERROR,
        message=message(
            "quant-dtype",
            ctx.settings.facts.version,
            dtype=dtype,
            method=facts.name,
            supported=supported,
        ),
        key="model.dtype",
        fix=fix,
        fix_values={"model.dtype": target},
    )
