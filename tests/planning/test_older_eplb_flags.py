"""--num-redundant-experts / --eplb-window-size / --eplb-step-interval of 0.10: deprecated
spellings of --eplb-config keys (0.10.2 engine/arg_utils.py EngineArgs.create_engine_config sets
eplb_config.num_redundant_experts, window_size and step_interval over that option's own), so
redundant experts add expert copies per EP rank as --eplb-config's do."""

from __future__ import annotations

from typing import Any

import yaml

from checker.pipeline import plan_request
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import load_profile_text, profile_to_request


def _plan(args: dict[str, Any], explain: bool = False) -> PlanResponse:
    data = {
        "model": {"id": "Qwen/Qwen3-30B-A3B", "max_model_len": 16384},
        "hardware": {"gpu_name": "H100-SXM-80GB", "gpus": 2, "tp_size": 2},
        "vllm": {"version": "0.10.2"},
        "outputs": {"vllm_args": {"enable-expert-parallel": True, "enable-eplb": True, **args}},
    }
    loaded = load_profile_text(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    return plan_request(profile_to_request(loaded.profile, explain=explain), offline=True)


def _weights(resp: PlanResponse) -> float:
    return resp.feasibility.memory.weights_gib


def test_redundant_experts_add_expert_copies_as_eplb_config_does() -> None:
    """Qwen3-30B-A3B's 128 routed experts over 2 EP ranks: 64 each; 16 redundant experts make
    144 physical experts, 72 a rank: 8 more experts' weights per GPU."""
    plain = _plan({})
    flag = _plan({"num-redundant-experts": 16})
    config = _plan({"eplb-config": {"num_redundant_experts": 16}})
    assert _weights(flag) == _weights(config) > _weights(plain)
    assert "VW190" not in [f.rule_id for f in flag.feasibility.findings]


def test_the_flag_wins_over_the_config_key() -> None:
    both = _plan({"eplb-config": {"num_redundant_experts": 32}, "num-redundant-experts": "16"})
    assert _weights(both) == _weights(_plan({"num-redundant-experts": 16}))


def test_window_and_step_size_nothing() -> None:
    tuned = _plan({"eplb-window-size": 500, "eplb-step-interval": 1000})
    assert tuned.feasibility.kv == _plan({}).feasibility.kv
    assert "VW190" not in [f.rule_id for f in tuned.feasibility.findings]


def test_explain_names_the_flag() -> None:
    words = _plan({"num-redundant-experts": 16}, explain=True).config.explanations
    assert "16 redundant experts" in words["--num-redundant-experts"]
