"""Data and expert parallel (issue 13 item 1) and the multi-node world size (item 2), mirroring
vLLM 0.33's config/parallel.py, v1/worker/gpu_worker.py and model_executor/layers/fused_moe."""

from __future__ import annotations

import math

import pytest

from checker.planning.engine.parallel import low_latency_rdma_bytes
from checker.planning.kvcache.kv import GIB
from checker.render.report import kv_summary, placement
from checker.schemas.enums import Verdict
from checker.schemas.outputs import PlanResponse
from tests.planning.plans import catalog_model, fired, only, plan

R1 = "deepseek-ai/DeepSeek-R1"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN_MOE = "Qwen/Qwen3-30B-A3B"
R1_DP8 = {
    "tp": 8,
    "max_model_len": 32768,
    "version": "0.33",
    "data_parallel_size": 8,
    "enable_expert_parallel": True,
}


def _weights(resp: PlanResponse) -> float:
    return resp.feasibility.memory.weights_gib


def test_deepseek_r1_dp8_ep_on_tp8_needs_64_gpus_not_8() -> None:
    resp = plan(R1, "H200-141GB", gpus=8, **R1_DP8)
    found = only(resp, "VW301")
    # the first DP rank past the node: local index 0 + 1 x (TP 8 x PP 1) = 8
    assert found.message == "DP adjusted local rank 8 is out of bounds for 8 devices."
    assert found.fix_values == {"hardware.gpus": 64}
    assert resp.feasibility.num_gpus_used == 64
    assert resp.feasibility.verdict is Verdict.FAIL


def test_deepseek_r1_dp8_ep_starts_on_eight_nodes_of_eight() -> None:
    resp = plan(R1, "H200-141GB", gpus=64, gpus_per_node=8, nnodes=8, **R1_DP8)
    assert not fired(resp, "VW301")
    assert resp.feasibility.nodes == 8 and resp.feasibility.expert_parallel
    # without --nnodes the server tries to place all 64 workers on one 8-GPU node
    alone = plan(R1, "H200-141GB", gpus=64, gpus_per_node=8, **R1_DP8)
    assert only(alone, "VW301").message.startswith("DP adjusted local rank 8 is out of bounds")


def test_llama_8b_with_two_data_parallel_ranks_fails_on_one_h100() -> None:
    one = plan(LLAMA, gpus=1, data_parallel_size=2, max_model_len=16384, version="0.33")
    assert only(one, "VW301").message == "DP adjusted local rank 1 is out of bounds for 1 devices."
    assert one.feasibility.num_gpus_used == 2
    two = plan(LLAMA, gpus=2, data_parallel_size=2, max_model_len=16384, version="0.33")
    assert not fired(two, "VW301")


def test_dp_local_rank_wording_of_0_19() -> None:
    resp = plan(LLAMA, gpus=1, data_parallel_size=2, max_model_len=16384, version="0.19")
    assert only(resp, "VW301").message == "DP adjusted local rank 1 is out of bounds. "


def test_each_dp_rank_is_a_full_engine_with_its_own_kv_cache() -> None:
    single = plan(LLAMA, gpus=2, max_model_len=16384, version="0.33")
    dp2 = plan(LLAMA, gpus=2, data_parallel_size=2, max_model_len=16384, version="0.33")
    # a dense model: every DP rank holds all the weights (TP 1)
    assert _weights(dp2) == _weights(single)
    assert dp2.feasibility.kv is not None and single.feasibility.kv is not None
    assert dp2.feasibility.deployment_kv_tokens == 2 * dp2.feasibility.kv.tokens
    assert single.feasibility.deployment_kv_tokens == single.feasibility.kv.tokens


def test_moe_experts_split_over_dp_x_tp_whole_with_ep_sharded_without() -> None:
    model = catalog_model(QWEN_MOE)
    expert_gib = model.params.expert_linear * 2 / GIB  # bf16
    common = {"gpus": 3, "data_parallel_size": 3, "max_model_len": 16384, "version": "0.33"}
    sharded = plan(QWEN_MOE, **common)
    ep = plan(QWEN_MOE, enable_expert_parallel=True, **common)
    alone = plan(QWEN_MOE, gpus=1, max_model_len=16384, version="0.33")
    # without EP the experts are TP-sharded over the DP x TP = 3 ranks
    assert _weights(alone) - _weights(sharded) == pytest.approx(expert_gib * 2 / 3, abs=0.02)
    # with EP each rank holds whole experts: 128 over 3 ranks, the first two take 43
    assert model.num_experts == 128
    extra = expert_gib * (43 / 128 - 1 / 3)
    assert _weights(ep) - _weights(sharded) == pytest.approx(extra, abs=0.02)


def test_eplb_redundant_experts_add_weight_on_every_rank() -> None:
    model = catalog_model(R1)
    per_expert = model.params.expert_linear / model.num_experts  # fp8: one byte each
    base = {**R1_DP8, "gpus": 64, "gpus_per_node": 8, "nnodes": 8, "enable_eplb": True}
    plain = plan(R1, "H200-141GB", **base)
    redundant = plan(R1, "H200-141GB", eplb_config={"num_redundant_experts": 32}, **base)
    # 256 experts over 64 ranks: 4 each; with 32 redundant copies, 288 / 64 -> 5 on the first
    assert math.ceil((256 + 32) / 64) - 256 // 64 == 1
    added = _weights(redundant) - _weights(plain)
    assert added == pytest.approx(per_expert / GIB, abs=0.02)
    assert redundant.feasibility.memory.kv_cache_gib < plain.feasibility.memory.kv_cache_gib


def test_deepep_buffers_are_non_torch_memory_on_every_gpu() -> None:
    base = {**R1_DP8, "gpus": 64, "gpus_per_node": 8}
    plain = plan(R1, "H200-141GB", nnodes=8, **base)
    ht = plan(R1, "H200-141GB", nnodes=8, all2all_backend="deepep_high_throughput", **base)
    # NVLink buffer (VLLM_DEEPEP_BUFFER_SIZE_MB = 1024) plus an RDMA buffer across nodes
    diff = ht.feasibility.memory.non_torch_gib - plain.feasibility.memory.non_torch_gib
    assert diff == pytest.approx(2.0, abs=0.01)
    ll = plan(R1, "H200-141GB", nnodes=8, all2all_backend="deepep_low_latency", **base)
    # low latency defaults the batch to 256 tokens per DP rank and sizes RDMA for it
    assert ll.config.max_num_batched_tokens == 256
    rdma = low_latency_rdma_bytes(256, 7168, 256)
    diff = ll.feasibility.memory.non_torch_gib - plain.feasibility.memory.non_torch_gib
    assert diff == pytest.approx(1 + rdma / GIB, abs=0.01)


def test_low_latency_rdma_hint_follows_deepep_layout() -> None:
    # 128 tokens, hidden 7168, 256 experts: DeepEP's test-suite shape
    scales = 7168 // 128
    dispatch = 16 + 7168 * 2
    combine = scales * 4 + 7168 * 2
    recv = 256 * 128 * max(dispatch, combine)
    send = max(128 * dispatch, 256 * 128 * combine)
    expected = send + recv + 1024
    assert low_latency_rdma_bytes(128, 7168, 256) == math.ceil(2 * expected / 128) * 128


@pytest.mark.parametrize(
    ("engine", "words"),
    [
        ({"enable_eplb": True}, "enable_expert_parallel must be True to use EPLB."),
        (
            {"enable_expert_parallel": True, "eplb_config": {"num_redundant_experts": 8}},
            "num_redundant_experts is set to 8 but EPLB is not enabled.",
        ),
        ({"data_parallel_size_local": 4}, "data_parallel_size_local (4) must be <= "),
        (
            {"nnodes": 2, "distributed_executor_backend": "ray"},
            "nnodes > 1 can only be set when distributed executor backend is mp",
        ),
    ],
)
def test_parallel_flags_vllm_refuses(engine: dict[str, object], words: str) -> None:
    resp = plan(QWEN_MOE, gpus=2, data_parallel_size=2, max_model_len=16384, **engine)
    assert only(resp, "VW305").message.startswith(words)


def test_multi_node_world_size_needs_nnodes_or_ray() -> None:
    two_nodes = {"gpus": 16, "gpus_per_node": 8, "tp": 16, "max_model_len": 32768}
    alone = only(plan(R1, "H200-141GB", version="0.33", **two_nodes), "VW301")
    assert alone.message.startswith("World size (16) is larger than the number of available GPUs")
    assert "GPUs (8) in this node" in alone.message
    assert not fired(plan(R1, "H200-141GB", version="0.33", nnodes=2, **two_nodes), "VW301")
    ray = plan(R1, "H200-141GB", distributed_executor_backend="ray", **two_nodes)
    assert not fired(ray, "VW301")
    short = plan(R1, "H200-141GB", distributed_executor_backend="ray", **{**two_nodes, "gpus": 8})
    assert "needs 16 GPUs" in only(short, "VW301").message


def test_report_gives_per_engine_kv_and_the_deployment_total() -> None:
    resp = plan(LLAMA, gpus=2, data_parallel_size=2, max_model_len=16384, version="0.33")
    kv = resp.feasibility.kv
    assert kv is not None
    assert f"per DP engine ({2 * kv.tokens:,} tokens across 2 engines)" in kv_summary(resp)
    assert placement(resp) == "2 x H100-SXM-80GB (DP 2, TP 1, PP 1)"


def test_explain_says_what_each_parallel_flag_costs() -> None:
    resp = plan(
        QWEN_MOE,
        gpus=2,
        data_parallel_size=2,
        enable_expert_parallel=True,
        enable_eplb=True,
        eplb_config={"num_redundant_experts": 8},
        all2all_backend="deepep_high_throughput",
        max_model_len=16384,
        explain=True,
    )
    why = resp.config.explanations
    assert why["--data-parallel-size"].startswith("2 engines x (TP 1 x PP 1) = 2 GPUs")
    assert why["--enable-expert-parallel"].startswith("68 of 136 routed experts per GPU")
    assert why["--eplb-config"].startswith("8 redundant experts: +")
    assert why["--all2all-backend"].startswith("deepep_high_throughput: +1.00 GiB")
    assert "--data-parallel-size" not in plan(QWEN_MOE, gpus=2, explain=True).config.explanations


def test_the_workload_is_spread_over_the_data_parallel_engines() -> None:
    work = {"concurrency": 50, "prompt_tokens": 8192, "gen_tokens": 4096}
    single = plan(LLAMA, gpus=1, max_model_len=16384, version="0.33", **work)
    dp2 = plan(LLAMA, gpus=2, data_parallel_size=2, max_model_len=16384, version="0.33", **work)
    assert fired(single, "VW204") and not fired(dp2, "VW204")
    rate, rate_dp = (r.performance.throughput_toks_per_s_range for r in (single, dp2))
    assert rate is not None and rate_dp is not None and rate_dp[0] > rate[0]
    assert dp2.feasibility.headroom_gib is not None and single.feasibility.headroom_gib is not None
    assert dp2.feasibility.headroom_gib > single.feasibility.headroom_gib
