"""Mamba / linear-attention state options vLLM refuses (VW140): a state dtype or cache mode the
pinned release's CacheConfig literals do not list (argparse's "invalid choice"), a float32
state for MiniMax's linear attention (linear_attention_state_dtype), and --mamba-block-size
without prefix caching (config/vllm.py VllmConfig.validate_mamba_block_size)."""

from __future__ import annotations

from collections.abc import Iterator

from checker.planning.engine.releases import message
from checker.planning.kvcache.state import prefix_caching_default
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.model_info import StateKind
from checker.schemas.outputs import Finding


def _finding(text: str, flag: str, fix: str, value: object) -> Finding:
    key = f"outputs.vllm_args.{flag}"
    return Finding(
        rule_id="VW140",
        name="mamba-option-invalid",
        severity=Severity.ERROR,
        message=text,
        key=key,
        fix=fix,
        fix_values={key: value},
    )


@rule
def mamba_options_valid(ctx: RuleContext) -> Iterator[Finding]:
    eng, facts = ctx.request.engine, ctx.settings.facts
    version = facts.version
    options = (
        ("mamba-cache-dtype", eng.mamba_cache_dtype, facts.mamba_dtypes),
        ("mamba-ssm-cache-dtype", eng.mamba_ssm_cache_dtype, facts.mamba_dtypes),
        ("mamba-cache-mode", eng.mamba_cache_mode, facts.mamba_cache_modes),
    )
    for flag, value, allowed in options:
        if allowed is None or value in allowed:
            continue
        default = "none" if flag == "mamba-cache-mode" else "auto"
        choices = ", ".join(repr(c) for c in allowed)
        yield _finding(
            message("invalid-choice", version, flag=flag, value=value, choices=choices),
            flag,
            f"vLLM {version} accepts --{flag} {list(allowed)}; use {default}.",
            default,
        )
    state = ctx.model.state
    if state and state.kind is StateKind.LINEAR_ATTENTION and eng.mamba_cache_dtype == "float32":
        yield _finding(
            message("minimax-float32-state", version),
            "mamba-cache-dtype",
            "Keep MiniMax's linear-attention state in the model dtype (--mamba-cache-dtype auto).",
            "auto",
        )
    size = eng.mamba_block_size
    if size is None or size == ctx.settings.max_model_len:
        return
    prefix = eng.enable_prefix_caching
    if prefix or (prefix is None and prefix_caching_default(ctx.model, version)):
        return
    yield _finding(
        message("mamba-block-size-without-prefix-caching", version),
        "mamba-block-size",
        "Drop --mamba-block-size, or turn prefix caching on (vllm.enable_prefix_caching).",
        None,
    )
