"""The memory rules (VW201-VW205): each fires on a plan that should, and not on one that fits."""

from __future__ import annotations

from checker.planning.planner import run_plan
from checker.schemas.outputs import PlanResponse
from tests.planning.conftest import H100, model, request

L4_LIKE = H100.model_copy(update={"name": "L4", "memory_gib": 21.95})


def fired(plan: PlanResponse, rule_id: str) -> bool:
    return any(f.rule_id == rule_id for f in plan.feasibility.findings)


def test_vw201_weights_exceed_the_gpu() -> None:
    m = model("meta-llama__Llama-3.1-70B")
    big = run_plan(request(util=0.9, tp=1), m, H100)  # 131 GiB of bf16 on 79 GiB
    assert fired(big, "VW201") and not big.feasibility.fits
    sharded = run_plan(request(util=0.9, tp=2), m, H100)
    assert not fired(sharded, "VW201")


def test_vw202_no_memory_for_kv_blocks() -> None:
    m = model("meta-llama__Llama-3.1-8B")
    starved = run_plan(request(util=0.2), m, H100)  # 15.8 GiB budget < 15 GiB weights + more
    finding = next(f for f in starved.feasibility.findings if f.rule_id == "VW202")
    assert finding.message.startswith("No available memory for the cache blocks.")
    util = finding.fix_values["policy.gpu_memory_utilization"]
    assert not fired(run_plan(request(util=util), m, H100), "VW202")


def test_vw204_workload_concurrency_beyond_the_kv_cache() -> None:
    m = model("meta-llama__Llama-3.1-8B")
    many = request(util=0.9, max_len=16384)
    crowded = run_plan(
        many.model_copy(
            update={
                "workload": many.workload.model_copy(
                    update={"concurrency": 64, "prompt_tokens": 8000, "gen_tokens": 2000}
                )
            }
        ),
        m,
        L4_LIKE,
    )
    assert fired(crowded, "VW204") and crowded.feasibility.fits  # a warning, it still starts
    assert not fired(run_plan(many, m, L4_LIKE), "VW204")
    fix = next(f.fix for f in crowded.feasibility.findings if f.rule_id == "VW204")
    assert fix == (
        "Use an fp8 KV cache, a higher gpu_memory_utilization or more GPUs; or accept queueing."
    )


def test_vw204_offers_only_what_gives_more_kv_cache() -> None:
    """An fp8 cache is not offered again, nor a utilization of 1 or 0.34's extensible cache
    (which already takes what is free) raised."""
    m = model("meta-llama__Llama-3.1-8B")
    many = request(util=1.0, max_len=16384, kv_cache_dtype="fp8", version="0.33.0")
    work = {"concurrency": 64, "prompt_tokens": 8000, "gen_tokens": 2000}
    full = many.model_copy(update={"workload": many.workload.model_copy(update=work)})
    fix = next(
        f.fix for f in run_plan(full, m, L4_LIKE).feasibility.findings if f.rule_id == "VW204"
    )
    assert fix == "Use more GPUs; or accept queueing."
    ext = request(max_len=16384, version="0.34.0")
    ext = ext.model_copy(update={"workload": ext.workload.model_copy(update=work)})
    plan = run_plan(ext, m, L4_LIKE)
    fix = next(f.fix for f in plan.feasibility.findings if f.rule_id == "VW204")
    assert "utilization" not in fix
