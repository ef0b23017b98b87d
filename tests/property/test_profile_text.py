"""Generated profile texts either load or fail with our ProfileError at a file:line location.

Loaded profiles survive a dump/load round trip and validate against the published JSON Schema,
so what ``generate`` writes back is something editors and the loader both accept.
"""

from __future__ import annotations

import re

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings

from checker.errors import ProfileError
from checker.schemas.json_schema import profile_json_schema
from checker.schemas.profile_io import dump_profile, load_profile_text
from tests.property.strategies import profile_texts

# Part of the suite's 10,000 generated profiles per run (see test_example_budget.py).
TEXT_EXAMPLES = 1500
SETTINGS = settings(
    max_examples=TEXT_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_LOCATED = re.compile(r"^p\.yaml(:\d+:\d+)?$")
_VALIDATOR = jsonschema.Draft202012Validator(profile_json_schema())


@SETTINGS
@given(profile_texts())
def test_profile_text_loads_or_fails_with_a_located_profile_error(text: str) -> None:
    try:
        loaded = load_profile_text(text, "p.yaml")
    except ProfileError as exc:
        assert exc.location is not None and _LOCATED.match(exc.location), str(exc)
        assert "\n" not in str(exc)
        return
    dumped = dump_profile(loaded.profile)
    again = load_profile_text(dumped, "again.yaml")
    assert again.profile == loaded.profile
    _VALIDATOR.validate(loaded.profile.model_dump(mode="json"))


def test_the_generator_reaches_both_outcomes() -> None:
    """Guards the generator itself: a strategy that only ever fails proves nothing."""
    outcomes = {"loaded": 0, "refused": 0}

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(profile_texts())
    def probe(text: str) -> None:
        try:
            load_profile_text(text, "p.yaml")
            outcomes["loaded"] += 1
        except ProfileError:
            outcomes["refused"] += 1

    probe()
    assert outcomes["loaded"] > 50 and outcomes["refused"] > 50, outcomes


@pytest.mark.parametrize("damage", ["\t", "!!python/object/apply:os.system ['id']"])
def test_damage_the_generator_uses_is_refused(damage: str) -> None:
    with pytest.raises(ProfileError):
        load_profile_text(f"model:\n  id: {damage}\n", "p.yaml")
