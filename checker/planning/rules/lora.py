"""LoRA start-up errors (VW123): the refusals of vLLM's LoRA config, layers and model runner;
long LoRA on the V1 engine (VW146)."""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.engine.releases import has_behaviour, message
from checker.planning.memory.lora import architecture, lora_facts, supports_lora, wraps_embeddings
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


def _finding(text: str, key: str, fix: str, values: dict[str, object]) -> Finding:
    return Finding(
        rule_id="VW123",
        name="lora-config-invalid",
        severity=Severity.ERROR,
        message=text,
        key=key,
        fix=fix,
        fix_values=values,
    )


@rule
def lora_config_valid(ctx: RuleContext) -> Iterator[Finding]:
    eng, version, model = ctx.request.engine, ctx.settings.facts.version, ctx.model
    if not eng.enable_lora:
        return
    ranks: list[int] = lora_facts()["allowed_ranks"]
    if eng.max_lora_rank not in ranks:
        above = min((r for r in ranks if r >= eng.max_lora_rank), default=ranks[-1])
        choices = ", ".join(map(str, ranks))
        yield _finding(
            message("lora-rank", version, rank=eng.max_lora_rank, choices=choices),
            "outputs.vllm_args.max-lora-rank",
            f"Use a rank vLLM allocates: {above} holds adapters up to rank {eng.max_lora_rank}.",
            {"outputs.vllm_args.max-lora-rank": above},
        )
    if eng.max_cpu_loras is not None and eng.max_cpu_loras < eng.max_loras:
        yield _finding(
            message("lora-cpu-loras", version, cpu=eng.max_cpu_loras, gpu=eng.max_loras),
            "outputs.vllm_args.max-cpu-loras",
            "The CPU cache holds at least the adapters of one batch.",
            {"outputs.vllm_args.max-cpu-loras": eng.max_loras},
        )
    arch = architecture(model) or model.model_type
    if not supports_lora(model):
        yield _finding(
            message("lora-unsupported", version, arch=arch, model=ctx.request.model.model),
            "outputs.vllm_args.enable-lora",
            "Serve this model without LoRA (merge the adapter into the weights instead).",
            {},
        )
    limit = int(lora_facts()["max_vocab_size"])
    if wraps_embeddings(model) and model.vocab_size > limit:
        yield _finding(
            message("lora-vocab", version, limit=limit),
            "outputs.vllm_args.enable-lora",
            f"The vocabulary has {model.vocab_size} tokens; vLLM's LoRA LM head takes {limit}.",
            {},
        )


@rule
def long_lora_supported(ctx: RuleContext) -> Finding | None:
    """--long-lora-scaling-factors with --enable-lora on the V1 engine of 0.8.4 .. 0.9: vLLM
    refuses it rather than falling back to V0 (config.py LoRAConfig.verify_lora_support)."""
    eng, s = ctx.request.engine, ctx.settings
    given = eng.vllm_args.get("long-lora-scaling-factors")
    if not eng.enable_lora or given is None or given is False or s.is_v0:
        return None  # without --enable-lora vLLM builds no LoRAConfig and never reads the factors
    if not has_behaviour("long_lora_refused_on_v1", s.facts.version):
        return None
    return Finding(
        rule_id="VW146",
        name="long-lora-unsupported",
        severity=Severity.ERROR,
        message=message("long-lora-v1", s.facts.version),
        key="outputs.vllm_args.long-lora-scaling-factors",
        fix="Drop --long-lora-scaling-factors (the V1 engine has no long LoRA), or serve the "
        "adapters on a 0.7 release, whose V0 engine applies them.",
    )
