"""Context-parallel start-up errors (VW135): the decode / prefill context-parallel sizes vLLM
refuses (config/parallel.py ParallelConfig._validate_parallel_config, config/model.py
ModelConfig.verify_with_parallel_config, v1/core/single_type_kv_cache_manager.py)."""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.engine.releases import has_behaviour, message
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.model_info import LayerKind
from checker.schemas.outputs import Finding

DCP_KEY = "outputs.vllm_args.decode-context-parallel-size"
PCP_KEY = "outputs.vllm_args.prefill-context-parallel-size"
# the KV cache managers that assert DCP = PCP = 1, in their own words
_MANAGERS = {
    LayerKind.SLIDING: "sliding window attn",
    LayerKind.CHUNKED: "chunked local attn",
    LayerKind.LINEAR: "mamba",
}


def _sizes(ctx: RuleContext) -> Iterator[tuple[str, str, str]]:
    """(vLLM's message, key, fix) for the first refused combination of TP, DCP and PCP: the
    parallel config is validated before the model's, and the first error stops vLLM."""
    s, version = ctx.settings, ctx.settings.facts.version
    tp, dcp, pcp = s.tp, s.dcp, s.pcp
    if pcp > 1 and has_behaviour("dcp_spans_pcp", version):
        valid = sorted({1, pcp, tp * pcp})
        if dcp not in valid:
            text = message("dcp-with-pcp", version, tp=tp, pcp=pcp, dcp=dcp, sizes=valid)
            yield text, DCP_KEY, f"Use a DCP size of {', '.join(map(str, valid))}."
            return
    elif tp % dcp:
        fitting = [d for d in range(dcp, 0, -1) if tp % d == 0][0]
        text = message("dcp-tp-divisible", version, tp=tp, dcp=dcp)
        fix = f"DCP reuses the TP ranks: use a DCP size dividing TP {tp} ({fitting}), or "
        yield text, DCP_KEY, fix + f"raise TP to a multiple of {dcp}."
        return
    model = ctx.model
    if dcp == 1 or model.uses_mla:
        return
    kv, heads = model.num_key_value_heads, model.num_attention_heads
    if kv == 0:  # attention-free: vLLM divides TP by the model's 0 KV heads
        text = message("dcp-no-kv-heads", version)
        yield text, DCP_KEY, "An attention-free model has no KV cache to split: use DCP 1."
        return
    fix = "DCP on a GQA model splits the TP ranks that replicate one KV head: use TP above "
    if tp <= kv:
        text = message("dcp-gqa-tp", version, tp=tp, kv=kv)
        yield text, DCP_KEY, fix + f"{kv} KV heads, or DCP 1."
    elif dcp > tp // kv:
        text = message("dcp-gqa-max", version, tp=tp, kv=kv, max=tp // kv, dcp=dcp)
        yield text, DCP_KEY, fix + f"{kv} x DCP, or DCP {tp // kv} or less."
    elif (heads // kv) % dcp:
        text = message("dcp-gqa-q", version, q=heads // kv, dcp=dcp)
        yield text, DCP_KEY, f"Use a DCP size dividing {heads // kv}."


def _layer_kinds(ctx: RuleContext) -> Iterator[tuple[str, str, str]]:
    """Sliding-window, chunked-local and mamba KV groups refuse a KV split across ranks."""
    s = ctx.settings
    split = [
        (name, size, key)
        for name, size, key in (("DCP", s.dcp, DCP_KEY), ("PCP", s.pcp, PCP_KEY))
        if size > 1
    ]
    kinds = [k for k in ctx.memory.first.kv.layout.kinds if k in _MANAGERS]
    if not split or not kinds:
        return
    name, _, key = split[0]
    fix = (
        "Context parallel needs every KV layer as full attention: set "
        "vllm.disable_hybrid_kv_cache_manager: true (sliding-window layers then keep full KV)"
        if kinds[0] is not LayerKind.LINEAR
        else "Mamba / linear-attention models cannot use context parallel: drop it"
    )
    yield message("cp-layer-kind", s.facts.version, cp=name, kind=_MANAGERS[kinds[0]]), key, fix


@rule
def context_parallel_valid(ctx: RuleContext) -> Iterator[Finding]:
    if ctx.settings.dcp == 1 and ctx.settings.pcp == 1:
        return  # no context parallel (most plans): nothing to refuse
    # the configuration is checked at start-up before the KV cache managers are built
    for text, key, fix in list(_sizes(ctx)) or list(_layer_kinds(ctx)):
        yield Finding(
            rule_id="VW135",
            name="context-parallel-invalid",
            severity=Severity.ERROR,
            message=text,
            key=key,
            fix=fix,
        )
