"""--long-lora-scaling-factors of 0.6 .. 0.9: the V1 engine of 0.8.4 .. 0.9 refuses it with
--enable-lora (config.py LoRAConfig.verify_lora_support, from VllmConfig.__post_init__) and
EngineArgs._is_v1_supported_oracle has no case for it, so vLLM does not fall back to V0 (VW146).
The V0 engine, whether by release or by a fallback the oracle takes for another flag, serves it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from checker.pipeline import plan_request
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import load_profile_text, profile_to_request
from tests.planning.plans import fired

LONG_LORA = {"enable-lora": True, "long-lora-scaling-factors": [4.0]}


def _plan(version: str, args: dict[str, Any]) -> PlanResponse:
    data = {
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct", "max_model_len": 8192},
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 1},
        "vllm": {"version": version},
        "outputs": {"vllm_args": args},
    }
    loaded = load_profile_text(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    return plan_request(profile_to_request(loaded.profile), offline=True)


@pytest.mark.parametrize("version", ["0.8.4", "0.8.5", "0.9.2"])
def test_v1_refuses_long_lora_in_vllms_words(version: str) -> None:
    resp = _plan(version, LONG_LORA)
    [found] = fired(resp, "VW146")
    assert found.severity == "error"
    assert found.message == "V1 LoRA does not support long LoRA, please use V0."
    assert found.key == "outputs.vllm_args.long-lora-scaling-factors"
    assert "Drop --long-lora-scaling-factors" in (found.fix or "")
    assert not resp.feasibility.fits


@pytest.mark.parametrize(
    ("version", "args"),
    [
        ("0.9.2", {"long-lora-scaling-factors": [4.0]}),  # no --enable-lora: no LoRAConfig
        ("0.8.3", LONG_LORA),  # the check came in 0.8.4
        ("0.7.3", LONG_LORA),  # the V0 engine applies it
        ("0.9.2", {**LONG_LORA, "num-scheduler-steps": 8}),  # the oracle falls back to V0
    ],
)
def test_no_refusal_where_vllm_starts(version: str, args: dict[str, Any]) -> None:
    resp = _plan(version, args)
    assert not fired(resp, "VW146")
    # the V0 cos/sin caches are not sized: still said out loud
    assert [f.key for f in fired(resp, "VW190")] == ["outputs.vllm_args.long-lora-scaling-factors"]
