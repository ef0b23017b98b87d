"""Data / expert parallel facts vLLM derives from ParallelConfig: the GPUs a deployment needs
per node, and the all2all buffers expert parallel allocates on every GPU."""

from __future__ import annotations

from checker.planning.engine.settings import Settings, evolve
from checker.planning.memory.weights import expert_bytes, local_experts
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


def nodes_spanned(settings: Settings, node_gpus: int | None) -> int:
    """Nodes the deployment runs on: --nnodes, else as many nodes of ``node_gpus`` GPUs
    (hardware.gpus_per_node) as its GPUs fill; one when the node size is not given."""
    if settings.nnodes > 1:
        return settings.nnodes
    if node_gpus and settings.gpus_needed > node_gpus:
        return -(-settings.gpus_needed // node_gpus)
    return 1


# What the artifacts can start a multi-node server with (checker.render.artifacts.check_nodes).
_NOT_ONE_HOST = "Helm values, docker and Compose cannot start it"


def launch_costs(settings: Settings, backend: str | None, nodes: int) -> dict[str, str]:
    """How a server over several nodes starts, for --explain (flag -> words): vLLM's own
    launch (--nnodes: one process per node, config/parallel.py ParallelConfig node_rank,
    master_addr) or a Ray cluster with one vllm serve on its head (v1/executor/ray_utils.py
    initialize_ray_cluster places the workers on the cluster's GPUs)."""
    s = settings
    if s.nnodes > 1:
        return {
            "--nnodes": f"{s.nnodes} nodes of {gpus_per_node(s)} GPUs: one vllm serve process "
            f"per node (--node-rank 0 .. {s.nnodes - 1}, node 0's --master-addr, --headless "
            f"beyond node 0); on Kubernetes a LeaderWorkerSet; {_NOT_ONE_HOST}"
        }
    if backend == "ray" and nodes > 1:
        return {
            "--distributed-executor-backend": f"ray over {nodes} nodes of "
            f"{-(-s.gpus_needed // nodes)} GPUs: a Ray cluster (ray start on every node), one "
            "vllm serve on its head; on Kubernetes a LeaderWorkerSet whose pods form the "
            f"cluster; {_NOT_ONE_HOST}"
        }
    return {}


def parallel_costs(model: ModelInfo, settings: Settings, kv_tokens: int = 0) -> dict[str, str]:
    """What each data / expert / context parallel flag costs, for --explain (flag -> words);
    ``kv_tokens``: the KV cache size the plan logs."""
    gib = float(1 << 30)
    s = settings
    costs: dict[str, str] = {}
    if s.pcp > 1:
        split = (
            "each request's KV is split over them too"
            if s.kv_shards > s.dcp
            else "the KV cache is not split over them"
        )
        costs["--prefill-context-parallel-size"] = (
            f"world size x {s.pcp}: TP {s.tp} x PP {s.pp} x PCP {s.pcp} = {s.world_size} GPUs "
            f"per engine, every PCP rank with its own copy of the weights; {split}"
        )
    if s.kv_shards > 1 and s.dcp > 1:
        costs["--decode-context-parallel-size"] = (
            f"each request's KV is split over {s.kv_shards} ranks (DCP {s.dcp} reuses the TP "
            f"ranks, no extra GPUs): {kv_tokens:,} KV tokens, {s.kv_shards}x what the same "
            "memory holds without it"
        )
    if s.dp > 1:
        costs["--data-parallel-size"] = (
            f"{s.dp} engines x (TP {s.tp} x PP {s.pp}) = {s.gpus_needed} GPUs; each engine "
            "loads its own attention and dense weights and has its own KV cache"
        )
    if s.expert_parallel:
        plain = evolve(s, expert_parallel=False, redundant_experts=0)
        costs["--enable-expert-parallel"] = (
            f"{local_experts(model, s)} of {model.num_experts + s.redundant_experts} routed "
            f"experts per GPU: {expert_bytes(model, s) / gib:.2f} GiB (TP-sharded over "
            f"{s.moe_shards} ranks without it: {expert_bytes(model, plain) / gib:.2f} GiB)"
        )
    if s.redundant_experts:
        none = evolve(s, redundant_experts=0)
        added = expert_bytes(model, s) - expert_bytes(model, none)
        costs["--eplb-config"] = (
            f"{s.redundant_experts} redundant experts: +{added / gib:.2f} GiB weights per GPU"
        )
    buffers = all2all_buffer_bytes(model, s)
    if buffers:
        costs["--all2all-backend"] = (
            f"{s.all2all_backend}: +{buffers / gib:.2f} GiB of DeepEP buffers per GPU "
            "(non-torch memory, less KV cache)"
        )
    return costs
