"""KV connectors and KV offloading as vLLM resolves them at start-up: which connector is
created, whether it keeps the hybrid KV cache manager (HMA) on, and the host memory the
offloaded KV takes. Facts: checker/data/vllm_kv_connectors.yaml; vLLM: config/vllm.py
VllmConfig.__post_init__ and _post_init_kv_transfer_config, kv_connector/factory.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from checker.planning.engine.releases import has_behaviour, pick, release
from checker.schemas.inputs import EngineInput
from checker.schemas.model_info import ModelInfo
from checker.schemas.yaml_source import bundled_data

GIB = float(1 << 30)
_CPU_OFFLOAD = ("OffloadingConnector", "SimpleCPUOffloadConnector")  # cpu_bytes_to_use
_LMCACHE_CPU = "lmcache.max_local_cpu_size"  # GB per rank (LMCache's config key)
IMEX_REFUSAL = "which need an IMEX channel"  # the one refusal an explicit request overrides


def _facts() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_kv_connectors.yaml")
    return data


class KVConnector(NamedTuple):
    """The connector vLLM creates and what it does to the plan."""

    name: str
    supports_hma: bool
    hma_disabled: bool  # after vLLM's rules (the explicit flag wins)
    refused: bool  # HMA stays on and the connector does not support it: start-up error
    host_bytes: float | None  # host memory of offloaded KV per engine; None: not vLLM's
    host_note: str  # where the host-memory figure comes from


def supports_hma(name: str, config: Mapping[str, Any], version: str) -> bool:
    """Whether the connector keeps HMA (KVConnectorFactory.supports_hma_config): its class
    subclasses SupportsHMA, and for MultiConnector every configured child does. An external
    class (kv_connector_module_path) cannot be inspected and counts as not supporting it."""
    if config.get("kv_connector_module_path"):
        return False
    since = _facts()["hma_since"].get(name)
    if since is None or release(version) < release(since):
        return False
    if name != "MultiConnector":
        return True
    extra = config.get("kv_connector_extra_config")
    children = extra.get("connectors") if isinstance(extra, Mapping) else None
    if not isinstance(children, list) or not children:
        return False
    return all(
        isinstance(c, Mapping) and supports_hma(str(c.get("kv_connector")), c, version)
        for c in children
    )


def resolve_connector(eng: EngineInput, version: str, world_size: int) -> KVConnector | None:
    """The connector of ``--kv-transfer-config`` or of ``--kv-offloading-size`` (which
    replaces the configured one), and vLLM's HMA decision for it; None without either."""
    given = eng.kv_transfer_config
    offloading = eng.kv_offloading_size is not None
    if offloading:
        table: dict[str, str] = _facts()["offloading_connector"].get(eng.kv_offloading_backend, {})
        name = pick(table, version)
    else:
        name = given.get("kv_connector") if given else None
    if not isinstance(name, str):
        return None
    config = {} if offloading else given
    hma = supports_hma(name, config, version)
    # whether the HMA rules see a connector: an offloading one only where it is set before them
    seen = not offloading or bool(given)
    seen = seen or has_behaviour("offloading_connector_before_hma_rules", version)
    if eng.disable_hybrid_kv_cache_manager is not None:
        disabled = eng.disable_hybrid_kv_cache_manager
    elif has_behaviour("hma_kept_for_hma_connectors", version):
        disabled = seen and not hma
    else:
        disabled = seen  # any --kv-transfer-config turns it off
    host, note = _host_bytes(eng, name, config, version, world_size)
    return KVConnector(name, hma, disabled, not disabled and not hma, host, note)


def _host_bytes(
    eng: EngineInput, name: str, config: Mapping[str, Any], version: str, world_size: int
) -> tuple[float | None, str]:
    """Host memory one engine's offloaded KV takes, and where the figure comes from."""
    size = eng.kv_offloading_size
    if size is not None and name in _CPU_OFFLOAD:
        return size * GIB, f"--kv-offloading-size {size:g} GiB, over the engine's ranks"
    if size is not None and name == "LMCacheConnectorV1":
        return size * GIB, (
            f"--kv-offloading-size {size:g} GiB: LMCache's local CPU cache, "
            f"{size / world_size:g} GiB on each of {world_size} ranks"
        )
    if size is not None:
        return None, f"held by the LMCache server process, not vLLM ({name}, vLLM {version})"
    extra = config.get("kv_connector_extra_config")
    extra = extra if isinstance(extra, Mapping) else {}
    cpu = _size(extra.get("cpu_bytes_to_use"))
    if name in _CPU_OFFLOAD and cpu is not None:
        return cpu, "kv_connector_extra_config.cpu_bytes_to_use, over the engine's ranks"
    local = _size(extra.get(_LMCACHE_CPU))
    if name == "LMCacheConnectorV1" and local is not None:
        return local * GIB * world_size, f"{_LMCACHE_CPU} {local:g} GB x {world_size} ranks"
    return None, "set outside vLLM (the connector's own configuration)"


def _size(value: object) -> float | None:
    """A size from the connector's JSON: a finite positive number (JSON also admits NaN and
    Infinity, and true is an int to Python), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if 0 < number < float(1 << 60) else None


def staging_bytes(
    eng: EngineInput, version: str, model: ModelInfo, *, tp: int, layers: int, kv_bytes: float
) -> float:
    """LMCache's GPU staging buffer on one rank of ``layers`` layers (data/vllm_kv_connectors.yaml
    lmcache_staging: LMCache's VLLMPagedMemGPUConnectorV2): K and V, or MLA's one latent, for
    chunk_size tokens in the KV cache dtype. vLLM counts it in no profiled term, so it is
    taken from the memory outside the KV budget; 0 for any other connector."""
    facts = _facts()["lmcache_staging"]
    connector = resolve_connector(eng, version, 1)
    if connector is None or connector.name not in facts["connectors"]:
        return 0.0
    given = eng.kv_transfer_config if eng.kv_offloading_size is None else None
    extra = given.get("kv_connector_extra_config") if given else None
    extra = extra if isinstance(extra, Mapping) else {}
    if extra.get(facts["no_buffer_key"]) is True:
        return 0.0
    chunk = _size(extra.get(facts["chunk_size_key"])) or float(facts["chunk_size"])
    if model.uses_mla:  # ModelConfig.get_num_kv_heads is 1, get_head_size the latent's
        planes, width = 1, (model.kv_lora_rank or 0) + (model.qk_rope_head_dim or 0)
    else:
        planes, width = 2, max(1, model.num_key_value_heads // tp) * model.head_dim
    return planes * layers * int(chunk) * width * kv_bytes


def extensible_kv_refusal(eng: EngineInput, version: str, vendor: str) -> str | None:
    """Why the KV connector keeps the extensible KV cache off on a ``vendor`` GPU, in words
    (VllmConfig._resolve_extensible_kv_cache: its kv_cache_access, or a custom_mem_pool);
    None where it leaves it on or there is no connector."""
    connector = resolve_connector(eng, version, 1)
    if connector is None:
        return None
    facts = _facts()["extensible_kv_cache_off"]
    config: Mapping[str, Any] = {} if eng.kv_offloading_size is not None else eng.kv_transfer_config
    extra = config.get("kv_connector_extra_config")
    extra = extra if isinstance(extra, Mapping) else {}
    children = extra.get("connectors") if connector.name == "MultiConnector" else None
    configs = [config, *(c for c in children or [] if isinstance(c, Mapping))]
    for child in configs:
        name = connector.name if child is config else str(child.get("kv_connector"))
        child_extra = child.get("kv_connector_extra_config")
        if isinstance(child_extra, Mapping) and child_extra.get(facts["custom_mem_pool_key"]):
            return f"{name} allocates the KV cache from its own memory pool (custom_mem_pool)"
        if name in facts["legacy_ipc"]:
            return f"{name} shares the KV cache through legacy CUDA IPC"
        host = facts["fabric_host_buffer"]
        on_device = child.get(host["key"]) != host["value"]
        if name in facts["fabric"] and on_device:
            return f"{name} exports the KV cache with FABRIC handles, {IMEX_REFUSAL}"
        if vendor == "amd" and name in facts["registers"] and on_device:
            return f"{name} registers the KV cache for RDMA, which ROCm cannot yet do"
    return None


def hma_off(eng: EngineInput, version: str) -> bool:
    """Whether vLLM runs without the hybrid KV cache manager: the explicit flag, else what
    the KV connector decides (off with neither)."""
    connector = resolve_connector(eng, version, 1)
    if connector is None:
        return bool(eng.disable_hybrid_kv_cache_manager)
    return connector.hma_disabled


def connector_costs(
    connector: KVConnector,
    flag: str,
    hybrid_model: bool,
    tokens: int,
    hybrid_tokens: int,
    staging: float = 0.0,
) -> dict[str, str]:
    """What the KV connector does to the plan, for --explain: ``tokens`` the KV tokens the
    plan logs, ``hybrid_tokens`` the same memory's tokens with the hybrid KV cache manager,
    ``staging`` the bytes of its GPU staging buffer per rank."""
    if not hybrid_model:
        words = f"{connector.name}: the model has one KV cache group, its KV is unchanged"
    elif connector.hma_disabled:
        pct = 100 * (tokens - hybrid_tokens) / hybrid_tokens if hybrid_tokens else 0.0
        words = (
            f"{connector.name} runs without the hybrid KV cache manager, so sliding-window and "
            f"chunked-local layers keep KV for the whole context: {tokens:,} KV tokens instead "
            f"of {hybrid_tokens:,} ({pct:+.0f}%)"
        )
    else:
        words = f"{connector.name} supports the hybrid KV cache manager: the KV groups stay"
    if staging:
        words += (
            f"; its GPU staging buffer takes {staging / (1 << 20):.1f} MiB per GPU, allocated "
            "before vLLM's profile and counted in none of its terms: it comes out of the memory "
            "outside the KV budget"
        )
    if connector.host_bytes is not None:
        words += f"; offloaded KV: {connector.host_bytes / GIB:g} GiB of host memory per engine"
    return {flag: f"{words} ({connector.host_note})" if connector.host_bytes else words}
