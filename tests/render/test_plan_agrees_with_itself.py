"""Every part of one plan tells the same story: headline and table, settings and reasons."""

from __future__ import annotations

import re

import pytest

from checker.planning.engine.versions import newest_version
from checker.render.report import kv_summary, render_report_md
from checker.render.terminal import render_plan_text
from checker.schemas.enums import OOMRisk
from tests.planning.plans import plan

QWEN_MOE = "Qwen/Qwen3-30B-A3B"
GPT_OSS = "openai/gpt-oss-20b"


@pytest.mark.parametrize(
    ("model", "gpu", "kw", "risk"),
    [
        (QWEN_MOE, "A100-80GB", {"version": "0.33"}, OOMRisk.LOW),
        (
            "Qwen/Qwen2.5-1.5B",
            "L4",
            {"util": 0.91, "max_model_len": 8192, "version": "0.19.0"},
            OOMRisk.MEDIUM,
        ),
        ("Qwen/Qwen2.5-1.5B", "T4", {"util": 0.97, "max_model_len": 4096, "version": "0.7"}, None),
    ],
)
def test_the_risk_names_the_tables_outside_budget(
    model: str, gpu: str, kw: dict[str, object], risk: OOMRisk | None
) -> None:
    resp = plan(model, gpu, **kw)
    f = resp.feasibility
    assert risk is None or f.oom_risk is risk
    stated = re.search(r"([\d.]+) GiB (?:is left )?outside vLLM's budget", f.oom_risk_reason)
    assert stated is not None, f.oom_risk_reason
    assert float(stated.group(1)) == f.memory.outside_budget_gib
    text = render_plan_text(resp, explain=False, color=False)
    row = re.search(r"Outside vLLM's budget +([\d.]+)", text)
    headline = next(line for line in text.splitlines() if line.startswith("  OOM risk: "))
    assert row is not None and f"{stated.group(1)} GiB" in headline
    assert row.group(1) == stated.group(1)


def test_explain_gives_the_current_value_its_own_reason() -> None:
    resp = plan(QWEN_MOE, "A100-80GB", explain=True, util=0.9)  # a KV cache under 256 requests
    recommended = {r.key: r for r in resp.recommendations}
    differing = [
        key
        for key, rec in recommended.items()
        if hasattr(resp.config, key) and getattr(resp.config, key) != rec.value
    ]
    assert "max_num_seqs" in differing
    for key in differing:
        why = resp.config.explanations[key]
        assert not why.startswith(recommended[key].reason), key
        assert f"{recommended[key].value} recommended: " in why, why
    newest = newest_version()
    assert resp.config.explanations["max_num_seqs"].startswith(f"vLLM {newest}'s default; ")


def test_each_setting_is_recommended_once() -> None:
    # the VW205 fix lowers the utilization; the utilization advice must not say 0.9 beside it
    resp = plan(GPT_OSS, "L4", util=0.9, max_model_len=131072, version="0.19.0", concurrency=8)
    keys = [r.key for r in resp.recommendations]
    assert len(keys) == len(set(keys)) and "gpu_memory_utilization" in keys
    table = render_report_md(resp).split("#### Recommended settings")[1].split("####")[0]
    assert table.count("`gpu_memory_utilization`") == 1
    assert resp.config.gpu_memory_utilization in (r.value for r in resp.recommendations)


def test_hybrid_kv_cache_says_its_blocks_are_shared_by_groups() -> None:
    # 0.19.0 prints num_blocks // groups x block_size (0.33.0: concurrency x max_model_len)
    resp = plan(GPT_OSS, "H100-80GB", max_model_len=8192, version="0.19")
    kv = resp.feasibility.kv
    assert kv is not None and kv.num_groups == 2
    assert kv.tokens == kv.num_blocks // 2 * kv.block_size != kv.num_blocks * kv.block_size
    assert f"{kv.num_blocks:,} blocks of 16 tokens shared by 2 KV cache groups" in kv_summary(resp)
    single = plan("meta-llama/Llama-3.1-8B-Instruct", "H100-80GB", max_model_len=8192)
    assert "shared by" not in kv_summary(single)


def test_a_kv_cache_group_with_larger_blocks_says_how_many_tokens_they_hold() -> None:
    # Gemma-4's full-attention pages (2 KV heads of 512) are half the sliding ones (8 of 256):
    # vLLM gives those groups 32-token blocks (kv_cache_utils.py unify_kv_cache_spec_page_size)
    resp = plan("google/gemma-4-26B-A4B", "A100-80GB", max_model_len=131072, version="0.19.0")
    kv = resp.feasibility.kv
    assert kv is not None and kv.group_block_sizes == {"full": 32}
    assert (
        f"{kv.num_blocks:,} blocks of 16 tokens (32 in full-attention groups) shared by 6 KV "
        "cache groups"
    ) in kv_summary(resp)
    gpt_oss = plan(GPT_OSS, "H100-80GB", max_model_len=8192, version="0.19")
    assert gpt_oss.feasibility.kv is not None and gpt_oss.feasibility.kv.group_block_sizes == {}
    assert "(" not in kv_summary(gpt_oss).split(" shared by")[0]


def test_a_linear_attention_kv_cache_says_requests_also_hold_a_state() -> None:
    resp = plan("Qwen/Qwen3-Next-80B-A3B-Thinking", "H100-80GB", gpus=8, max_model_len=8192)
    kv = resp.feasibility.kv
    assert kv is not None and kv.state_bytes_per_request > 0
    # the attention block is raised until its page covers a state page (16 x 34 at TP 8)
    assert kv.block_size > 16 and kv.page_bytes * kv.num_blocks > 0
    assert f"blocks of {kv.block_size} tokens shared by {kv.num_groups} KV cache groups and a " in (
        kv_summary(resp)
    )
    assert "linear-attention state per request" in kv_summary(resp)


def test_an_attention_free_model_counts_state_blocks_not_token_blocks() -> None:
    resp = plan("tiiuae/falcon-mamba-7b", "H100-80GB", max_model_len=4096)
    kv = resp.feasibility.kv
    assert kv is not None and kv.bytes_per_token == 0
    summary = kv_summary(resp)
    # one state block per request, each spanning the whole context
    assert f"{kv.num_blocks:,} state blocks, one per request" in summary
    assert kv.tokens == kv.num_blocks * 4096
    assert "blocks of" not in summary and "linear-attention state" not in summary


def test_the_kv_summary_names_its_dtype_apart_from_the_block_size() -> None:
    # "N blocks of 64 tokens (auto)" read as an automatic block size
    summary = kv_summary(plan("Qwen/Qwen3-8B", "H100-80GB", max_model_len=8192))
    assert "blocks of 64 tokens (KV cache dtype auto); " in summary
