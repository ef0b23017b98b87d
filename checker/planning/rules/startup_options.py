"""Engine options vLLM 0.34 refuses at start-up: --checkpoint-prepare-on-startup without sleep
mode (VW152), and --enable-extensible-kv-cache asked for where the KV cache cannot be sized
from measured memory (VW153)."""

from __future__ import annotations

from checker.planning.engine.releases import message
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.inputs import EngineInput
from checker.schemas.outputs import Finding


@rule
def checkpoint_prepare_needs_sleep_mode(ctx: RuleContext) -> Finding | None:
    """config/model.py ModelConfig.__post_init__ (0.34.0) raises before anything is sized."""
    args, version = ctx.request.engine.vllm_args, ctx.settings.facts.version
    if not args.get("checkpoint-prepare-on-startup") or args.get("enable-sleep-mode"):
        return None
    return Finding(
        rule_id="VW152",
        name="checkpoint-prepare-without-sleep-mode",
        severity=Severity.ERROR,
        message=message("checkpoint-prepare-without-sleep-mode", version),
        key="outputs.vllm_args.checkpoint-prepare-on-startup",
        fix="Add --enable-sleep-mode (preparing a checkpoint releases the KV cache through "
        "it: v1/engine/core.py EngineCore.checkpoint_prepare), or drop "
        "--checkpoint-prepare-on-startup.",
    )


def _extensible_refusal(eng: EngineInput, version: str) -> tuple[str, str] | None:
    """vLLM's reason and the option behind it, in the order of config/vllm.py
    VllmConfig._resolve_extensible_kv_cache's elif chain (0.34.0); the connectors it asks
    (legacy CUDA IPC, custom_mem_pool) are not read here."""
    if eng.kv_cache_memory_bytes is not None:
        setting = "kv_cache_memory_bytes"
    elif eng.num_gpu_blocks_override is not None:
        setting = "num_gpu_blocks_override"
    elif eng.vllm_args.get("enable-elastic-ep"):
        return message("extensible-kv-cache-elastic-ep", version), "--enable-elastic-ep"
    else:
        return None
    text = message("extensible-kv-cache-overridden", version, setting=setting)
    return text, "--" + setting.replace("_", "-")


@rule
def extensible_kv_cache_supported(ctx: RuleContext) -> Finding | None:
    """--enable-extensible-kv-cache given explicitly: unset, vLLM turns it off by itself in
    these cases; asked for, it raises (VllmConfig.__post_init__)."""
    eng, version = ctx.request.engine, ctx.settings.facts.version
    if eng.enable_extensible_kv_cache is not True:
        return None
    refusal = _extensible_refusal(eng, version)
    if refusal is None:
        return None
    text, other = refusal
    return Finding(
        rule_id="VW153",
        name="extensible-kv-cache-unsupported",
        severity=Severity.ERROR,
        message=text,
        key="outputs.vllm_args.enable-extensible-kv-cache",
        fix=f"Drop --enable-extensible-kv-cache (left unset, vLLM turns it off by itself "
        f"here), or drop {other}.",
    )
