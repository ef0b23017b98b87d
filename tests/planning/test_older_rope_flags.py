"""--rope-scaling / --rope-theta of 0.6 .. 0.10: older spellings of two --hf-overrides keys
(ModelConfig.__init__ / __post_init__: hf_overrides_kw.update({"rope_scaling": ...}) and
{"rope_theta": ...}, after --hf-overrides' own keys), so the derived maximum length vLLM checks
max_model_len against follows the scaling (_get_and_verify_max_len)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from checker.errors import ProfileError
from checker.pipeline import plan_request
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import load_profile_text, profile_to_request

QWEN = "Qwen/Qwen2.5-0.5B-Instruct"  # max_position_embeddings 32,768, no rope_scaling
YARN = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}


def _profile(args: dict[str, Any], max_len: int = 131072) -> dict[str, Any]:
    return {
        "model": {"id": QWEN, "max_model_len": max_len},
        "hardware": {"gpu_name": "H100-SXM-80GB"},
        "vllm": {"version": "0.7.3"},
        "outputs": {"vllm_args": args},
    }


def _plan(data: dict[str, Any]) -> PlanResponse:
    loaded = load_profile_text(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    return plan_request(profile_to_request(loaded.profile), offline=True)


def _rules(resp: PlanResponse) -> list[str]:
    return [f.rule_id for f in resp.feasibility.findings]


def test_rope_scaling_raises_the_derived_maximum() -> None:
    """yarn: the original 32,768 positions x factor 4 = 131,072, so max_model_len 131,072 is
    valid; without the flag it is above the derived 32,768 (VW103)."""
    assert "VW103" in _rules(_plan(_profile({})))
    scaled = _plan(_profile({"rope-scaling": YARN}))
    assert "VW103" not in _rules(scaled) and "VW190" not in _rules(scaled)
    assert scaled.config.max_model_len == 131072


def test_json_text_as_on_the_command_line() -> None:
    text = '{"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 32768}'
    resp = _plan(_profile({"rope-scaling": text}, max_len=65536))
    assert "VW103" not in _rules(resp)


def test_rope_scaling_wins_over_the_same_hf_overrides_key() -> None:
    """hf_overrides_kw.update runs after --hf-overrides is read: --rope-scaling's factor 4
    replaces the overrides' factor 2 (65,536), so 131,072 passes."""
    small = {"rope_scaling": {**YARN, "factor": 2.0}}
    resp = _plan(_profile({"hf-overrides": small, "rope-scaling": YARN}))
    assert "VW103" not in _rules(resp)
    assert "VW103" in _rules(_plan(_profile({"hf-overrides": small})))


def test_rope_theta_is_read_and_changes_no_size() -> None:
    plain = _plan(_profile({}, max_len=16384))
    theta = _plan(_profile({"rope-theta": "500000"}, max_len=16384))
    assert "VW190" not in _rules(theta)
    assert theta.feasibility.kv == plain.feasibility.kv


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"rope-theta": "high"}, "takes a number"),
        ({"rope-scaling": "[1, 2]"}, "JSON object"),
    ],
)
def test_bad_values_name_the_line(args: dict[str, Any], words: str) -> None:
    with pytest.raises(ProfileError) as caught:
        _plan(_profile(args))
    assert words in str(caught.value) and "p.yaml:" in str(caught.value)


def test_hf_overrides_rope_scaling_sets_the_length_before_0_12() -> None:
    """0.9.2 reads hf_config.rope_scaling after hf_config.update(hf_overrides_kw) (no
    patch_rope_parameters before 0.12.0): factor 2 over 32,768 allows 65,536."""
    data = _profile({"hf-overrides": {"rope_scaling": {**YARN, "factor": 2.0}}}, max_len=65536)
    data["vllm"]["version"] = "0.9.2"
    assert "VW103" not in _rules(_plan(data))


def test_explain_says_what_each_does() -> None:
    data = _profile({"rope-scaling": YARN, "rope-theta": 500000.0})
    loaded = load_profile_text(yaml.safe_dump(data, sort_keys=False), "p.yaml")
    resp = plan_request(profile_to_request(loaded.profile, explain=True), offline=True)
    words = resp.config.explanations
    assert "derived maximum length is 131,072 tokens" in words["--rope-scaling"]
    assert "no length or memory" in words["--rope-theta"]
