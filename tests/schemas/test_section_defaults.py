"""A section left out of a profile or request is built from its defaults without its own
validator (issue 17: each is about 1 ms of every cold ``check``), and is the very section that
validating an empty mapping gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from checker.schemas.inputs import PlanRequest, WorkloadInput
from checker.schemas.profile import Profile, ProfileDeploy, ProfileWorkload, Toleration

PARENTS = (Profile, ProfileWorkload, ProfileDeploy, PlanRequest, WorkloadInput)


def _section_fields() -> list[tuple[type[BaseModel], str]]:
    return [
        (parent, name)
        for parent in PARENTS
        for name, info in parent.model_fields.items()
        if getattr(info.default_factory, "__name__", "") == "model_construct"
    ]


def test_every_nested_section_default_is_constructed() -> None:
    found = {f"{parent.__name__}.{name}" for parent, name in _section_fields()}
    assert found == {
        "Profile.hardware",
        "Profile.workload",
        "Profile.policy",
        "Profile.vllm",
        "Profile.deploy",
        "Profile.outputs",
        "ProfileWorkload.slo",
        "PlanRequest.hardware",
        "PlanRequest.workload",
        "PlanRequest.policy",
        "PlanRequest.engine",
        "WorkloadInput.slo",
    }


@pytest.mark.parametrize(
    ("parent", "name"), _section_fields(), ids=lambda v: getattr(v, "__name__", v)
)
def test_a_constructed_default_is_the_validated_empty_section(
    parent: type[BaseModel], name: str
) -> None:
    section = parent.model_fields[name].get_default(call_default_factory=True)
    validated = type(section).model_validate({})
    assert section == validated
    assert section.model_fields_set == validated.model_fields_set == set()
    assert section.model_dump(mode="json") == validated.model_dump(mode="json")


def test_the_default_toleration_is_valid_as_constructed() -> None:
    (default,) = ProfileDeploy.model_validate({}).tolerations
    validated = Toleration.model_validate(default.model_dump(exclude_unset=True))
    assert default == validated
    assert default.model_fields_set == validated.model_fields_set


_BUILT = """
import json, sys
from checker.schemas import profile, slo
from checker.schemas.profile_io import load_profile_text, profile_to_request
loaded = load_profile_text(sys.argv[1], "p.yaml")
profile_to_request(loaded.profile)
sections = [profile.ProfileHardware, profile.ProfileWorkload, profile.ProfilePolicy,
            profile.ProfileVLLM, profile.ProfileDeploy, profile.Toleration,
            profile.ProfileOutputs, slo.SLOTargets]
print(json.dumps([m.__name__ for m in sections if m.__section_validate__ is not None]))
"""


def test_checking_a_short_profile_builds_no_validator_for_a_section(tmp_path: Path) -> None:
    text = "profile_version: 1\nmodel: {id: meta-llama/Llama-3.1-8B-Instruct}\n"
    done = subprocess.run(
        [sys.executable, "-c", _BUILT, text],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_profiles_that_leave_a_section_out_share_its_default() -> None:
    """A fleet check builds each default section once, not once per profile: the sections are
    frozen, so one instance serves every profile."""
    first = Profile.model_validate({"model": {"id": "Qwen/Qwen3-8B"}})
    second = Profile.model_validate({"model": {"id": "Qwen/Qwen3-8B"}})
    assert first.deploy is second.deploy and first.outputs is second.outputs
    assert first.deploy == ProfileDeploy.model_validate({})
