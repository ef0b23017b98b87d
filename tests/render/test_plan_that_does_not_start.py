"""A plan vLLM never gets through says so first, and prints no line vLLM would not reach."""

from __future__ import annotations

import json
import re

from checker.render.report import render_report_md
from checker.render.terminal import render_plan_text
from checker.schemas.outputs import PlanResponse
from tests.planning.plans import plan

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
NEGATIVE = re.compile(r"(?<![\w.])-\d")


def _outputs(resp: PlanResponse) -> dict[str, str]:
    return {
        "text": render_plan_text(resp, explain=True, color=False),
        "json": resp.model_dump_json_pretty(),
        "markdown": render_report_md(resp),
    }


def test_weights_that_do_not_fit_come_first_and_nothing_after_them() -> None:
    resp = plan("meta-llama/Llama-3.1-70B", "L4", max_model_len=8192)
    f = resp.feasibility
    assert not f.weights_fit and f.log_lines == [] and f.kv is None and f.headroom_gib is None
    assert f.memory.kv_cache_gib == 0
    out = _outputs(resp)
    text = out["text"].splitlines()
    assert text[1] == (
        "  Fails: the weights need 131.45 GiB per GPU, more than the L4's 21.95 GiB: loading "
        "runs out of memory"
    )
    for name, rendered in out.items():
        assert "OOM risk: medium" not in rendered, name
        assert "vLLM should log" not in rendered and "Available KV cache memory" not in rendered
        assert "headroom at the workload" not in rendered and "tok/s" not in rendered, name
        kv_lines = [line for line in rendered.splitlines() if "KV" in line or "kv" in line]
        assert not [line for line in kv_lines if NEGATIVE.search(line)], (name, kv_lines)
    assert "Fails: the weights need 131.45 GiB" in out["markdown"]
    data = json.loads(out["json"])["feasibility"]
    assert data["kv"] is None and data["headroom_gib"] is None and data["log_lines"] == []


def test_no_kv_memory_logs_the_loading_line_only() -> None:
    resp = plan(LLAMA_8B, "L4", util=0.7, max_model_len=8192)
    f = resp.feasibility
    assert [x.rule_id for x in f.findings] == ["VW202"]
    assert f.log_lines == ["Model loading took 14.99 GiB memory"]
    assert f.memory.kv_cache_gib == 0 and f.kv is None
    text = render_plan_text(resp, explain=False, color=False)
    assert "Fails: VW202 No available memory for the cache blocks." in text.splitlines()[1]
    assert not NEGATIVE.search(text.split("Recommendations")[0])


def test_a_kv_cache_short_of_one_request_stops_after_the_available_memory_line() -> None:
    resp = plan(LLAMA_8B, "L4", util=0.8, max_model_len=131072)
    assert [x.rule_id for x in resp.feasibility.findings][0] == "VW203"
    assert resp.feasibility.log_lines == [
        "Model loading took 14.99 GiB memory",
        "Available KV cache memory: 1.00 GiB",
    ]
    assert resp.feasibility.kv is not None  # vLLM sized it before raising
