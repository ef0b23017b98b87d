"""Multimodal models: vLLM's refusal of an item larger than the batch without chunked multimodal
input (VW131) and of encoder CUDA graphs without the encoder (VW132), and towers whose encoder
profile run the plan has no recipe for (VW130)."""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour, message
from checker.planning.memory.multimodal import family, largest_item_tokens, tower_loaded
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def mm_encoder_profile_modeled(ctx: RuleContext) -> Finding | None:
    """A multimodal model whose tower vLLM profiles at start-up but the plan cannot size."""
    model, s = ctx.model, ctx.settings
    if not model.is_multimodal or s.mm.skip_profiling or s.mm.language_model_only:
        return None
    if model.params.vision and not tower_loaded(model, s):
        return None
    if family(model) is not None and not s.is_v0:
        return None
    what = model.vision.family if model.vision else model.model_type
    weights = "" if model.params.vision else "its weights and "
    engine = " on the V0 engine" if s.is_v0 else ""
    return Finding(
        rule_id="VW130",
        name="mm-encoder-profile-not-modeled",
        severity=Severity.WARNING,
        message=f"vLLM profiles this model's multimodal encoder at start-up with maximum-size "
        f"items; vllm-wizard has no recipe for the '{what[:40]}' tower{engine}, so {weights}"
        "its encoder activation peak are left out and the KV cache figures may be too high.",
        key="model.model",
        fix="Check the real start-up log's 'torch peak memory increase', or serve text only "
        "with --language-model-only / --limit-mm-per-prompt zeros.",
    )


@rule
def mm_item_fits_batch(ctx: RuleContext) -> Finding | None:
    """compute_mm_encoder_budget: with --disable-chunked-mm-input an item must fit one batch."""
    s = ctx.settings
    if not ctx.request.engine.disable_chunked_mm_input:
        return None
    tokens = largest_item_tokens(ctx.model, s)
    if tokens is None or tokens <= s.max_num_batched_tokens:
        return None
    return Finding(
        rule_id="VW131",
        name="mm-item-exceeds-batched-tokens",
        severity=Severity.ERROR,
        message=message(
            "mm-item-exceeds-batched-tokens",
            s.facts.version,
            item=tokens,
            batched=s.max_num_batched_tokens,
        ),
        key="vllm.max_num_batched_tokens",
        fix=f"Raise max_num_batched_tokens to {tokens}, allow chunked multimodal input, or "
        "lower the largest item (--mm-processor-kwargs max_pixels, --limit-mm-per-prompt).",
        fix_values={"vllm.max_num_batched_tokens": tokens},
    )


@rule
def mm_encoder_graphs_need_the_tower(ctx: RuleContext) -> Finding | None:
    """Encoder CUDA graphs (compilation_config.cudagraph_mm_encoder, opt-in: off by default in
    every release read) with --language-model-only, which never runs the encoder."""
    s, eng = ctx.settings, ctx.request.engine
    compilation = eng.vllm_args.get("compilation-config")
    graphs = isinstance(compilation, dict) and compilation.get("cudagraph_mm_encoder") is True
    if not (graphs and s.mm.language_model_only and ctx.model.is_multimodal):
        return None
    if not has_behaviour("language_model_only_refuses_encoder_graphs", s.facts.version):
        return None
    return Finding(
        rule_id="VW132",
        name="mm-encoder-graphs-without-tower",
        severity=Severity.ERROR,
        message=message("language-model-only-encoder-graphs", s.facts.version),
        key="outputs.vllm_args.compilation-config",
        fix="Drop cudagraph_mm_encoder from --compilation-config (text only needs no encoder "
        "graphs), or serve images without --language-model-only.",
    )
