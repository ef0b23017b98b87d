"""Deployment rules VW301-VW304: GPUs given, instances sharing a GPU, OOM risk."""

from __future__ import annotations

from checker.schemas.enums import OOMRisk, Severity, Verdict
from tests.planning.plans import fired, only, plan

LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
QWEN = "Qwen/Qwen2.5-1.5B"
SHORT = {"max_model_len": 8192}


def test_world_size_above_the_gpus_given() -> None:
    found = only(plan(LLAMA, gpus=2, tp=2, pp=2, **SHORT), "VW301")
    assert found.message == (
        "World size (4) is larger than the number of available GPUs (2) in this node. If this "
        "is intentional and you are using:\n- ray, set '--distributed-executor-backend ray'.\n"
        "- multiprocessing, set '--nnodes' appropriately."
    )
    assert found.fix_values == {"hardware.gpus": 4}
    old = only(plan(LLAMA, gpus=2, tp=4, version="0.10", **SHORT), "VW301")
    assert old.message.endswith("available GPUs in the placement group.")


def test_world_size_within_the_gpus_given() -> None:
    assert not fired(plan(LLAMA, gpus=4, tp=2, pp=2, **SHORT), "VW301")


def test_two_instances_at_half_the_gpu_each_do_not_both_start() -> None:
    resp = plan(QWEN, util=0.5, instances_per_gpu=2, version="0.33", **SHORT)
    found = only(resp, "VW302")
    assert found.message.startswith("Free memory on device cuda:0 (")
    assert found.message.endswith(
        "GiB) on startup is less than desired GPU memory utilization (0.5, 39.59 GiB). "
        "Decrease GPU memory utilization or reduce GPU memory used by other processes."
    )
    fitting = found.fix_values["policy.gpu_memory_utilization"]
    assert fitting < 0.5
    fitted = plan(QWEN, util=fitting, instances_per_gpu=2, version="0.33", **SHORT)
    assert not fired(fitted, "VW302")


def test_instances_with_an_extensible_kv_cache_start_with_less_kv() -> None:
    # 0.34 skips the free-memory check: the last instance sizes its cache from what is left
    found = only(plan(QWEN, util=0.5, instances_per_gpu=2, **SHORT), "VW302")
    assert found.severity is Severity.WARNING
    assert "does not check free memory at start-up" in found.message
    fitting = found.fix_values["policy.gpu_memory_utilization"]
    assert not fired(plan(QWEN, util=fitting, instances_per_gpu=2, **SHORT), "VW302")
    # two at 1.0 (its default): the second has nothing left for a request
    both = only(plan(QWEN, instances_per_gpu=2, **SHORT), "VW302")
    assert both.severity is Severity.ERROR and "too little for one" in both.message


def test_instance_sharing_wording_follows_the_release() -> None:
    mid = only(plan(QWEN, util=0.5, instances_per_gpu=2, version="0.10", **SHORT), "VW302")
    assert mid.message.startswith("Free memory on device (")  # no device name before 0.14
    v0 = only(plan(QWEN, util=0.5, instances_per_gpu=2, version="0.6", **SHORT), "VW302")
    assert "does not check free memory at start-up" in v0.message


def test_three_instances_at_030_share_an_h100() -> None:
    assert not fired(plan(QWEN, util=0.3, instances_per_gpu=3, **SHORT), "VW302")


def test_high_oom_risk_is_an_estimated_error_with_a_lower_utilization() -> None:
    # V0 captures CUDA graphs outside the budget: 0.97 of a T4 leaves too little for them
    t4 = {"max_model_len": 4096, "dtype": "float16", "version": "0.7"}
    resp = plan(QWEN, "T4", util=0.97, **t4)
    assert resp.feasibility.oom_risk is OOMRisk.HIGH
    found = only(resp, "VW303")
    assert found.severity is Severity.ERROR and found.estimated
    assert resp.feasibility.verdict is Verdict.FAIL and resp.feasibility.fits
    assert resp.feasibility.oom_risk_reason in found.message
    safe = found.fix_values["policy.gpu_memory_utilization"]
    assert plan(QWEN, "T4", util=safe, **t4).feasibility.oom_risk is OOMRisk.LOW


def test_a_certain_warmup_oom_is_left_to_vw205() -> None:
    resp = plan(QWEN, "T4", util=0.96, max_model_len=4096, version="0.19")
    assert fired(resp, "VW205")
    assert not fired(resp, "VW303")


def test_no_oom_warning_at_a_comfortable_utilization() -> None:
    resp = plan(QWEN, util=0.85, **SHORT)
    assert resp.feasibility.oom_risk is not OOMRisk.HIGH
    assert not fired(resp, "VW303")
