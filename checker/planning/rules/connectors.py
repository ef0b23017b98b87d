"""KV connector start-up error (VW136): a connector without hybrid KV cache manager support
while the manager stays on (kv_connector/factory.py KVConnectorFactory.create_connector)."""

from __future__ import annotations

from checker.planning.engine.releases import message
from checker.planning.kvcache.connectors import resolve_connector
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.outputs import Finding


@rule
def connector_supports_hma(ctx: RuleContext) -> Finding | None:
    eng, s = ctx.request.engine, ctx.settings
    connector = resolve_connector(eng, s.facts.version, s.world_size)
    if connector is None or not connector.refused:
        return None
    flag = "kv-offloading-size" if eng.kv_offloading_size is not None else "kv-transfer-config"
    kept_on = eng.disable_hybrid_kv_cache_manager is False
    why = (
        "vllm.disable_hybrid_kv_cache_manager: false keeps the manager on"
        if kept_on
        else f"vLLM {s.facts.version} decides on the hybrid KV cache manager before it picks "
        "the offloading connector"
    )
    return Finding(
        rule_id="VW136",
        name="kv-connector-without-hma",
        severity=Severity.ERROR,
        message=message("connector-without-hma", s.facts.version, connector=connector.name),
        key=f"outputs.vllm_args.{flag}",
        fix=f"{why}: set vllm.disable_hybrid_kv_cache_manager: true (sliding-window and "
        "chunked-local layers then keep KV for the whole context), or use a connector that "
        "supports it.",
    )
