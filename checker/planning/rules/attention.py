"""A packed KV cache dtype no attention backend takes on this model and GPU (VW141): vLLM's
CUDA backend selection (platforms/cuda.py CudaPlatform.get_attn_backend_cls) finds no valid
backend and refuses to start; checker/data/kv_cache_dtypes.yaml says which backend takes each."""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.kv_dtypes import backend_refusal
from checker.planning.releases import message
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def kv_cache_dtype_has_a_backend(ctx: RuleContext) -> Iterator[Finding]:
    s, gpu = ctx.settings, ctx.gpu
    if gpu.vendor != "nvidia" or s.kv_cache_dtype not in s.facts.kv_cache_dtypes:
        return  # ROCm's backends are not modelled; an unknown dtype is VW112's
    reason = backend_refusal(
        s.kv_cache_dtype,
        uses_mla=ctx.model.uses_mla,
        sparse_mla=ctx.model.sparse_mla,
        capability=gpu.capability,
        head_dim=ctx.model.head_dim,
    )
    if reason is None:
        return
    config = f"kv_cache_dtype={s.kv_cache_dtype} on {gpu.name}"
    yield Finding(
        rule_id="VW141",
        name="kv-cache-dtype-no-backend",
        severity=Severity.ERROR,
        message=message("no-attention-backend", s.facts.version, config=config, reasons=reason),
        key="model.kv_cache_dtype",
        fix="Use kv_cache_dtype fp8 (the backends vLLM picks here take it) or auto.",
        fix_values={"model.kv_cache_dtype": "fp8"},
    )
