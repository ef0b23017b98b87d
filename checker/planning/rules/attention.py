"""KV cache dtypes vLLM refuses for the model: a packed dtype no attention backend takes on this
model and GPU (VW141: platforms/cuda.py CudaPlatform.get_attn_backend_cls finds no valid
backend; checker/data/kv_cache_dtypes.yaml says which backend takes each), and a float16 /
bfloat16 cache that differs from the model dtype (VW142: 0.33 config/vllm.py
VllmConfig._reject_mismatched_float_kv_cache)."""

from __future__ import annotations

from checker.planning.engine.releases import has_behaviour, message
from checker.planning.kvcache.kv_dtypes import backend_refusal
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def kv_cache_dtype_has_a_backend(ctx: RuleContext) -> Finding | None:
    s, gpu = ctx.settings, ctx.gpu
    if gpu.vendor != "nvidia" or s.kv_cache_dtype not in s.facts.kv_cache_dtypes:
        return None  # ROCm's backends are not modelled; an unknown dtype is VW112's
    reason = backend_refusal(
        s.kv_cache_dtype,
        uses_mla=ctx.model.uses_mla,
        sparse_mla=ctx.model.sparse_mla,
        capability=gpu.capability,
        head_dim=ctx.model.head_dim,
    )
    if reason is None:
        return None
    config = f"kv_cache_dtype={s.kv_cache_dtype} on {gpu.name}"
    return Finding(
        rule_id="VW141",
        name="kv-cache-dtype-no-backend",
        severity=Severity.ERROR,
        message=message("no-attention-backend", s.facts.version, config=config, reasons=reason),
        key="model.kv_cache_dtype",
        fix="Use kv_cache_dtype fp8 (the backends vLLM picks here take it) or auto.",
        fix_values={"model.kv_cache_dtype": "fp8"},
    )


@rule
def float_kv_cache_matches_dtype(ctx: RuleContext) -> Finding | None:
    s = ctx.settings
    version = s.facts.version
    if s.kv_cache_dtype not in ("float16", "bfloat16") or s.kv_cache_dtype == s.dtype:
        return None
    if not has_behaviour("float_kv_cache_matches_dtype", version):
        return None
    allowed = f"`auto` or `{s.dtype}`" if s.dtype in ("float16", "bfloat16") else "`auto`"
    return Finding(
        rule_id="VW142",
        name="kv-cache-dtype-mismatch",
        severity=Severity.ERROR,
        message=message(
            "float-kv-cache-mismatch", version, kv=s.kv_cache_dtype, dtype=s.dtype, allowed=allowed
        ),
        key="model.kv_cache_dtype",
        fix=f"Use kv_cache_dtype auto (the model dtype, {s.dtype}).",
        fix_values={"model.kv_cache_dtype": "auto"},
    )
