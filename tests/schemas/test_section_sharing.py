"""A nested section written alike in several files is validated once and shared; what each
file gets is what validating it afresh gives."""

from __future__ import annotations

import math
from typing import Any

import pytest

from checker.schemas.profile import Profile, ProfileHardware, ProfilePolicy
from checker.schemas.section import ValidationError


def _profile(**sections: Any) -> Profile:
    return Profile.model_validate({"model": {"id": "m/x"}, **sections})


def test_a_section_written_alike_is_shared() -> None:
    first = _profile(hardware={"gpu_name": "L4", "gpus": 2}, policy={"headroom_gb": 2.0})
    second = _profile(hardware={"gpu_name": "L4", "gpus": 2}, policy={"headroom_gb": 2.0})
    assert first.hardware is second.hardware
    assert first.policy is second.policy
    fresh = ProfileHardware.model_validate({"gpu_name": "L4", "gpus": 2})
    assert first.hardware == fresh
    assert first.hardware.model_fields_set == fresh.model_fields_set == {"gpu_name", "gpus"}


@pytest.mark.parametrize(("one", "other"), [(0.0, -0.0), (-0.0, 0.0), (2, 2.0), (2.0, 2)])
def test_values_equal_but_written_otherwise_are_not_shared(one: float, other: float) -> None:
    """-0.0 == 0.0 and 2 == 2.0, hashed alike: each keeps the value its own validation gives
    (a strict float field refuses the int)."""
    for value in (one, other, one):
        data = {"headroom_gb": value}
        try:
            fresh: Any = ProfilePolicy.model_validate(dict(data))
        except ValidationError as exc:
            fresh = exc.errors()
        try:
            shared: Any = _profile(policy=data).policy
        except ValidationError as exc:
            shared = [{**e, "loc": e["loc"][1:]} for e in exc.errors()]
        if isinstance(fresh, list):
            assert shared == fresh
            continue
        assert type(shared.headroom_gb) is type(fresh.headroom_gb)
        assert math.copysign(1, shared.headroom_gb) == math.copysign(1, fresh.headroom_gb)


def test_a_bool_is_not_shared_as_an_int() -> None:
    assert _profile(hardware={"gpus": 1}).hardware.gpus == 1
    with pytest.raises(ValidationError) as caught:
        _profile(hardware={"gpus": True})
    assert [e["loc"] for e in caught.value.errors()] == [("hardware", "gpus")]


def test_an_invalid_section_is_located_each_time() -> None:
    for _ in range(2):
        with pytest.raises(ValidationError) as caught:
            _profile(hardware={"gpu_name": "L4", "gpus": 0, "tp_size": 0})
        assert [e["loc"] for e in caught.value.errors()] == [
            ("hardware", "gpus"),
            ("hardware", "tp_size"),
        ]
