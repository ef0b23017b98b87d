from __future__ import annotations

import re

from checker.render.terminal import render_plan_text
from checker.schemas.outputs import Recommendation
from tests.render.conftest import hostile_finding, make_plan


def test_plain_text_has_every_part_and_no_colour() -> None:
    text = render_plan_text(make_plan(findings=[hostile_finding("32")]), explain=False, color=False)
    assert "\033" not in text
    assert re.search(r"\n  KV cache +54\.83  derived\n", text)
    assert text.startswith("FAIL  meta-llama/Llama-3.1-8B-Instruct on 1 x H100-SXM-80GB")
    for part in (
        "Memory per GPU (GiB)",
        "GPU KV cache size: 449,184 tokens",
        "ERROR VW101 hardware.tp_size",
        "fix: use 32",
        "Settings in the artifacts",
        "Performance (estimates)",
        "vllm serve meta-llama/Llama-3.1-8B-Instruct",
    ):
        assert part in text, part


def test_colour_only_when_asked() -> None:
    text = render_plan_text(make_plan(), explain=False, color=True)
    assert text.startswith("\033[1;32mPASS\033[0m")


def test_memory_numbers_are_right_aligned() -> None:
    lines = render_plan_text(make_plan(), explain=False, color=False).splitlines()
    start = lines.index("Memory per GPU (GiB)") + 1
    rows = lines[start : start + 8]
    ends = {row.rindex(".") for row in rows}
    assert len(ends) == 1


def test_untrusted_text_cannot_drive_the_terminal() -> None:
    evil = "x\033[2J\033]0;pwn\007\r"
    text = render_plan_text(
        make_plan(model=evil, gpu=evil, findings=[hostile_finding(evil)]), explain=True, color=False
    )
    assert "\033" not in text and "\r" not in text and "\007" not in text
    assert "x\\x1b[2J" in text


def test_explain_shows_reasons_and_differing_recommendations() -> None:
    plan = make_plan(explanations={"max_num_seqs": "vLLM's default for an H100"})
    plan = plan.model_copy(
        update={
            "recommendations": [
                Recommendation(key="kv_cache_dtype", value="fp8", reason="twice the tokens")
            ]
        }
    )
    quiet = render_plan_text(plan, explain=False, color=False)
    assert "kv_cache_dtype: change to fp8: twice the tokens" in quiet
    assert "vLLM's default for an H100" not in quiet
    loud = render_plan_text(plan, explain=True, color=False)
    assert "vLLM's default for an H100" in loud


def test_settings_list_every_engine_argument_the_artifacts_carry() -> None:
    plan = make_plan(
        kv_cache_memory_bytes=4 << 30,
        disable_hybrid_kv_cache_manager=True,
        extra_args={"enable-lora": True, "hf-overrides": {"a": 1}},
    )
    text = render_plan_text(plan, explain=False, color=False)
    settings = text.split("Settings in the artifacts", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"kv_cache_memory_bytes +4294967296", settings)
    assert "disable_hybrid_kv_cache_manager" in settings
    assert "--enable-lora" in settings and "--hf-overrides" in settings and '{"a": 1}' in settings
