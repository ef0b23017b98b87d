"""Data / expert parallel facts vLLM derives from ParallelConfig: the GPUs a deployment needs
per node, and the all2all buffers expert parallel allocates on every GPU."""

from __future__ import annotations

from checker.planning.settings import Settings
from checker.schemas.model_info import ModelInfo

_DEEPEP = ("deepep_high_throughput", "deepep_low_latency")
_ALIGN = 128  # DeepEP's NUM_BUFFER_ALIGNMENT_BYTES


def uses_all2all(settings: Settings) -> bool:
    """The MoE layers dispatch tokens between ranks (config/parallel.py
    ParallelConfig.use_all2all: DP > 1, or sequence-parallel MoE with EP, TP > 1 and DP > 1)."""
    return settings.dp > 1


def all2all_buffer_bytes(model: ModelInfo, settings: Settings) -> float:
    """Bytes the DeepEP all2all backends allocate on each GPU outside torch, so vLLM's profile
    counts them as non-torch memory (distributed/device_communicators/all2all.py)."""
    backend = settings.all2all_backend
    if backend not in _DEEPEP or not model.is_moe or not settings.expert_parallel:
        return 0.0
    if not uses_all2all(settings):
        return 0.0
    nvl = float(settings.facts.common["deepep_buffer_mib"]) * (1 << 20)
    if backend == "deepep_high_throughput":
        return nvl * (2 if settings.nnodes > 1 else 1)  # RDMA buffer only across nodes
    return nvl + low_latency_rdma_bytes(
        settings.max_num_batched_tokens,
        model.hidden_size,
        model.num_experts + settings.redundant_experts,
    )


def low_latency_rdma_bytes(tokens: int, hidden: int, experts: int) -> int:
    """DeepEP's Buffer.get_low_latency_rdma_size_hint (csrc/config.hpp LowLatencyLayout): send,
    receive and signalling buffers, double-buffered, for ``tokens`` tokens per rank."""
    scales = hidden // 128
    dispatch = 16 + max(hidden * 2, hidden + scales * 4)
    combine = scales * 2 * 2 + hidden * 2
    send = max(tokens * dispatch, experts * tokens * combine)
    recv = experts * tokens * max(dispatch, combine)
    signal = -(-experts * 4 // _ALIGN) * _ALIGN
    return -(-(send + recv + signal) * 2 // _ALIGN) * _ALIGN


def gpus_per_node(settings: Settings) -> int:
    """GPUs one node of the deployment uses: its DP ranks' workers (each DP rank's workers sit
    at local index rank + dp_local_rank x world_size, config/parallel.py
    ParallelConfig.get_local_gpu_index), or the world spread over --nnodes."""
    if settings.nnodes > 1:
        return -(-settings.gpus_needed // settings.nnodes)
    return settings.world_size * settings.dp_local
