"""Per-vLLM-version facts, read from ``checker/data/vllm_versions.yaml``."""

from __future__ import annotations

import functools
from typing import Any, Literal

from checker.errors import UsageError
from checker.planning.engine.releases import has_behaviour
from checker.schemas.section import ConfigDict, Section
from checker.schemas.yaml_source import bundled_data


class NonTorch(Section):
    single: float
    tensor_parallel: float  # measured on NVLink: nvlink and unknown interconnects
    # a TP group of more than two PCIe-only GPUs; None where no log of the release shows it
    tensor_parallel_pcie: float | None = None
    pipeline: float


class ExtensibleKV(Section):
    """How a release sizes an extensible KV cache: from the memory measured after warm-up and
    CUDA-graph capture (v1/worker/extensible_kv_cache.py measure_kv_cache_bytes)."""

    model_config = ConfigDict(extra="forbid")

    utilization: float  # CacheConfig.resolved_gpu_memory_utilization where none is given
    margin_floor_gib: dict[str, float]  # KV_CACHE_MARGIN_FLOOR_BYTES by GPU vendor
    margin_fraction: float  # KV_CACHE_MARGIN_FRACTION of the transient peak
    vendors: tuple[str, ...]  # current_platform.is_cuda_alike()
    # measure_kv_cache_blocks warns of a given utilization strictly between these that keeps
    # at least warn_withheld_gib of free memory out of the cache
    warn_utilization_between: tuple[float, float]
    warn_withheld_gib: float


class VersionFacts(Section):
    model_config = ConfigDict(extra="forbid")

    version: str
    engine: Literal["v0", "v1"]
    default_gpu_memory_utilization: float
    scheduling: dict[str, Any]
    non_torch_gib: NonTorch
    cudagraph_subtracted: bool
    hybrid_kv_cache_manager: bool
    kv_cache_dtypes: tuple[str, ...]
    block_sizes: tuple[int, ...] | Literal["any"]
    # config/cache.py CacheConfig.DEFAULT_BLOCK_SIZE: the block size where --block-size is not
    # given, unless the attention backend prefers another (Platform.update_block_size_for_backend)
    default_block_size: int = 16
    # MLA's default block size before the releases checker/data/attention_backends.yaml covers
    mla_block_size: int | None = None
    # where any block size passes the config: what the CUDA attention backends' kernels take
    cuda_block_multiple: int | None = None
    quantization_methods: tuple[str, ...]
    common: dict[str, Any]
    # config/vllm.py VllmConfig._set_cudagraph_sizes: default largest CUDA-graph batch, on
    # compute capability 10.x, and what newer releases add to the sizes off the stride
    cudagraph_max_size: int = 512
    cudagraph_max_size_sm100: int = 512
    cudagraph_appends: tuple[Literal["max_num_batched_tokens", "max_num_seqs"], ...] = ()
    # VllmConfig._split_cudagraph_capture_sizes (0.34): prefill token and decode request sizes
    # of their own (checker.planning.engine.split_graphs): the SM100 default caps and the
    # speculative methods whose one-token draft decodes get graphs; None: the shared sizes
    cudagraph_split_sizes: dict[str, Any] | None = None
    # EPLB without --eplb-config num_redundant_experts: the fewest redundant experts that make
    # the experts divide over the EP ranks (config/parallel.py
    # ParallelConfig.compute_eplb_num_redundant_experts); False: none
    eplb_min_redundant_experts: bool = False
    # the extensible KV cache (on by default where the release has it); None: sized from the
    # profile's estimate alone (gpu_worker.py determine_available_memory)
    extensible_kv_cache: ExtensibleKV | None = None
    # --mamba-cache-dtype / --mamba-ssm-cache-dtype and --mamba-cache-mode choices; None where
    # the release's wheel was not read (not checked there)
    mamba_dtypes: tuple[str, ...] | None = None
    mamba_cache_modes: tuple[str, ...] | None = None
    # the V0 engine a V1 release line falls back to for what V1 does not run (0.8 / 0.9:
    # speculative decoding with a draft model): its scheduling and non-torch facts
    v0_fallback: dict[str, Any] | None = None
    # why these facts are that V0 engine's: the vllm_messages.yaml id of vLLM's fallback
    # message, which it logs first (None: the release's own engine)
    fallback_message: str | None = None

    def fallback_to_v0(
        self,
        *,
        multi_step: bool,
        speculative: bool,
        lora: bool,
        pp: bool = False,
        ray: bool = False,
    ) -> str | None:
        """The message id of vLLM's fallback when this V1 line runs its V0 engine instead, in
        the order EngineArgs._is_v1_supported_oracle checks (0.8.2 / 0.8.5 wheels): multi-step
        scheduling, a speculative config V1 does not take, LoRA before 0.8.3
        (_warn_or_fallback("LORA")), then pipeline parallelism before 0.9 (from 0.8.3 not with
        the Ray executor, ``ray``); None when the line's own engine runs it."""
        if self.engine == "v0" or self.v0_fallback is None:
            return None
        if multi_step:
            return "multi-step-v0-fallback"
        if speculative:
            return "spec-v0-fallback"
        if lora and not has_behaviour("lora_on_v1", self.version):
            return "lora-v0-fallback"
        ray_runs_pp = ray and has_behaviour("pp_on_v1_with_ray", self.version)
        if pp and not has_behaviour("pp_on_v1", self.version) and not ray_runs_pp:
            return "pp-v0-fallback"
        return None

    def as_v0(self, fallback_message: str | None = None) -> VersionFacts:
        """These facts for the V0 engine of the same release (v0_fallback): no CUDA-graph
        estimate subtracted, no hybrid KV cache manager, V0's batch defaults and profile."""
        if self.engine == "v0" or self.v0_fallback is None:
            return self
        update = {
            "engine": "v0",
            "fallback_message": fallback_message,
            "cudagraph_subtracted": False,
            "hybrid_kv_cache_manager": False,
            "scheduling": self.v0_fallback["scheduling"],
            "non_torch_gib": NonTorch.model_validate(self.v0_fallback["non_torch_gib"]),
        }
        return self.model_copy(update=update)

    def block_size_valid(self, size: int) -> bool:
        return self.block_sizes == "any" or size in self.block_sizes

    def default_batching(self, gpu_name: str, memory_gib: float) -> tuple[int, int]:
        """(max_num_batched_tokens, max_num_seqs) vLLM picks for the API server."""
        s = self.scheduling
        if "huge" in s and memory_gib >= s["huge_gpu_min_gib"]:
            pick = s["huge"]
            return int(pick["max_num_batched_tokens"]), int(pick["max_num_seqs"])
        if "large" in s:
            large = memory_gib >= s["large_gpu_min_gib"] and not any(
                x.lower() in gpu_name.lower() for x in s["large_gpu_excludes"]
            )
            pick = s["large"] if large else s["small"]
            return int(pick["max_num_batched_tokens"]), int(pick["max_num_seqs"])
        return int(s.get("max_num_batched_tokens", 2048)), int(s["max_num_seqs"])


def _table() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_versions.yaml")
    return data


def _key(version: str) -> tuple[int, int]:
    parts = version.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def newest_version() -> str:
    return str(_table()["newest"])


def is_newer_than_known(version: str) -> bool:
    """True for a release line (major.minor) past the newest the table was read from."""
    return _key(version) > _key(newest_version())


def known_versions() -> list[str]:
    return sorted(_table()["versions"], key=_key)


@functools.cache
def version_facts(version: str | None) -> VersionFacts:
    """Facts for ``version`` (None = newest known): the newest table entry at or below it."""
    table = _table()
    wanted = _key(version or str(table["newest"]))
    candidates = [v for v in table["versions"] if _key(v) <= wanted]
    if not candidates:
        raise UsageError(
            f"vLLM {version} is older than any version we model",
            hint=f"known: {', '.join(known_versions())}",
        )
    chosen = max(candidates, key=_key)
    return VersionFacts(
        version=version or chosen, common=table["common"], **table["versions"][chosen]
    )
