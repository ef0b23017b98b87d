"""What the gate shares between a profile's GPU targets and between a fleet's profiles gives
what building each pair afresh gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checker.gate import check
from checker.gate.check import CheckOptions, run_check
from checker.gate.formats import render_report
from checker.schemas import profile_io, section_checks
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import HardwareInput, PlanRequest
from checker.schemas.section import ValidationError
from tests.conftest import EXAMPLES

HARDWARE: list[dict[str, Any]] = [
    {"gpu": "L4", "gpus": 8},
    {"gpu": "L4", "gpus": 8, "tensor_parallel_size": 2},
    {"gpu": "L4", "gpus": 8, "vram_gb": 20},
    {"gpu": "L4", "gpus": 8, "vram_gb": 20.0},
    {"gpu": "L4", "gpus": 8, "interconnect": "nvlink", "gpus_per_node": 4},
    {"gpu": "H100-80GB", "gpus": 2, "pipeline_parallel_size": 2},
]


@pytest.mark.parametrize("data", HARDWARE)
def test_a_shared_hardware_section_is_the_one_validated_afresh(data: dict[str, Any]) -> None:
    shared = profile_io._hardware_input(dict(data))
    fresh = HardwareInput.model_validate(dict(data))
    assert shared == fresh
    assert shared.model_fields_set == fresh.model_fields_set
    assert profile_io._hardware_input(dict(data)) is shared  # validated once


def test_values_alike_but_of_another_type_are_not_shared() -> None:
    """True == 1 and 20 == 20.0, hashed alike: each kept as its own validation gives it."""
    for a, b in ((1, True), (20, 20.0)):
        for value in (a, b, a):
            data = {"gpu": "L4", "gpus": 1, "vram_gb": value}
            if isinstance(value, bool):
                data = {"gpu": "L4", "gpus": value}
            shared, fresh = profile_io._hardware_input(data), HardwareInput.model_validate(data)
            assert shared == fresh
            assert [type(v) for v in shared._field_values()] == [
                type(v) for v in fresh._field_values()
            ]


def test_an_invalid_section_is_never_kept() -> None:
    for _ in range(2):
        with pytest.raises(ValidationError):
            profile_io._hardware_input({"gpu": "L4", "gpus": 0})


def test_an_inline_custom_gpu_is_validated_afresh() -> None:
    gpu = GPUSpec.model_validate(
        {
            "name": "X1",
            "memory_gib": 40,
            "memory_bandwidth_gbs": 900,
            "fp16_tflops": 100,
            "compute_capability": "8.9",
        }
    )
    data = {"gpu": "X1", "gpus": 1, "custom_gpu": gpu}
    first, second = profile_io._hardware_input(data), profile_io._hardware_input(data)
    assert first == second == HardwareInput.model_validate(data)
    assert first is not second
    assert first.custom_gpu is gpu


def test_the_shared_sections_are_bounded() -> None:
    cache = section_checks._shared_section
    cache.cache_clear()
    most = cache.cache_info().maxsize
    assert most is not None
    for gpus in range(1, most + 50):
        profile_io._hardware_input({"gpu": "L4", "gpus": gpus})
    assert cache.cache_info().currsize == most


def test_a_model_config_outside_the_repository_fails_every_target(tmp_path: Path) -> None:
    """The model paths are checked once per profile: every target still reports the error."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "config.json").write_text("{}")
    (repo / "p.yaml").write_text(
        "model:\n  id: my/model\n  config: ../elsewhere/config.json\nhardware:\n  gpu_name: L4\n"
    )
    result = run_check(
        CheckOptions(paths=["p.yaml"], gpus=("L4", "H100-80GB:2"), offline=True, cwd=repo)
    )
    errors = [json.dumps(p.error.__repr__()) for p in result.pairs if p.error is not None]
    assert [p.verdict for p in result.pairs] == ["ERROR", "ERROR"]
    assert len(set(errors)) == 1 and "leads outside the repository" in errors[0]


FAILING = """\
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  max_model_len: {max_len}
hardware:
  gpu_name: H100-80GB
vllm:
  version: "0.19.0"
"""


@pytest.mark.parametrize("whole", [0, 1, 3, 100])
def test_failing_plans_kept_whole_report_as_packed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whole: int
) -> None:
    """The first WHOLE_PLANS failing plans are kept whole, the rest packed: every report reads
    the same either way."""
    for length in (131072, 65536, 32768, 8192):
        (tmp_path / f"p{length}.yaml").write_text(FAILING.format(max_len=length))
    options = CheckOptions(paths=["."], gpus=("L4", "T4"), offline=True, cwd=tmp_path)
    monkeypatch.setattr(check, "WHOLE_PLANS", 0)
    packed = run_check(options)
    monkeypatch.setattr(check, "WHOLE_PLANS", whole)
    kept = run_check(options)
    failing = [p for p in kept.pairs if p.failed]
    assert len(failing) > 3
    assert all(p.packed_plan is not None and p.plan is None for p in packed.failing())
    assert [p.plan is not None for p in failing] == [i < whole for i in range(len(failing))]
    assert [p.packed_plan is None for p in failing] == [i < whole for i in range(len(failing))]
    assert [p.full_plan() for p in kept.pairs] == [p.full_plan() for p in packed.pairs]
    for name in ("json", "markdown", "text", "sarif", "github"):
        assert render_report(kept, name) == render_report(packed, name)


def _fresh_request(loaded: profile_io.LoadedProfile, target: profile_io.Target) -> Any:
    """The request validated from plain data, nothing shared."""
    data = profile_io._request_data(loaded.profile, base_dir=None, explain=False)
    for section, request_section in profile_io._SECTIONS.items():
        if not isinstance(data[request_section], dict):
            values = getattr(loaded.profile, section)
            data[request_section] = profile_io._section_data(section, values)
            if section == "vllm":
                data["engine"]["vllm_args"] = {}
    data["hardware"].update(profile_io._target_hardware(loaded.profile, target))
    return PlanRequest.model_validate(data)


@pytest.mark.parametrize("name", sorted(p.name for p in (EXAMPLES / "profiles").glob("*.yaml")))
def test_shared_request_sections_are_the_ones_validated_afresh(name: str) -> None:
    loaded = profile_io.load_profile(EXAMPLES / "profiles" / name)
    requests = profile_io.ProfileRequests(loaded.profile)
    for target in profile_io.profile_targets(loaded.profile):
        shared, fresh = requests.for_target(target), _fresh_request(loaded, target)
        assert shared == fresh
        for section in ("model", "hardware", "workload", "policy", "engine"):
            mine, theirs = getattr(shared, section), getattr(fresh, section)
            assert mine.model_fields_set == theirs.model_fields_set


def test_profiles_written_alike_share_their_request_sections() -> None:
    text = "model:\n  id: m/x\nworkload:\n  concurrency: 8\npolicy:\n  headroom_gb: 2.0\n"
    first, second = (profile_io.load_profile_text(text, f"{n}.yaml") for n in "ab")
    one, other = (profile_io.profile_to_request(p.profile) for p in (first, second))
    assert one.workload is other.workload and one.policy is other.policy
    assert one.engine is other.engine
    # passthrough arguments of its own: the profile's engine section is its own
    args = text + "outputs:\n  vllm_args:\n    max-num-seqs: 4\n"
    own = profile_io.profile_to_request(profile_io.load_profile_text(args, "c.yaml").profile)
    assert own.engine is not one.engine and own.workload is one.workload
