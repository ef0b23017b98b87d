from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import jsonschema
import pytest
import yaml

from checker.cli import main
from checker.errors import ProfileError
from checker.schemas.enums import ALIASES
from checker.schemas.json_schema import profile_json_schema, profile_json_schema_text
from checker.schemas.profile import ENUM_FIELDS
from checker.schemas.profile_io import load_profile_text
from checker.schemas.section import Section
from tests.conftest import EXAMPLES, REPO
from tests.schemas.twin import pydantic_twin, read_sections

SHIPPED = REPO / "checker" / "data" / "profile.schema.json"


def test_shipped_schema_is_in_step_with_the_models() -> None:
    assert SHIPPED.read_text() == profile_json_schema_text(), (
        "run: vllm-wizard schema -o checker/data/profile.schema.json"
    )


@pytest.mark.parametrize("section", read_sections(), ids=lambda s: s.__name__)
def test_a_sections_schema_is_pydantics_for_its_twin(section: type[Section]) -> None:
    """Byte for byte, key order included: the shipped profile schema was pydantic's."""
    ours = json.dumps(section.model_json_schema(), indent=1)
    assert ours == json.dumps(pydantic_twin(section).model_json_schema(), indent=1)


def test_schema_command_prints_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == profile_json_schema()
    out = tmp_path / "s.json"
    assert main(["schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text())["title"].startswith("vllm-wizard profile")


def test_examples_validate_and_carry_the_modeline() -> None:
    validator = jsonschema.Draft202012Validator(profile_json_schema())
    profiles = sorted((EXAMPLES / "profiles").glob("*.yaml"))
    assert profiles
    for path in profiles:
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema=")
        validator.validate(yaml.safe_load(text))


def test_schema_rejects_unknown_keys() -> None:
    validator = jsonschema.Draft202012Validator(profile_json_schema())
    errors = list(validator.iter_errors({"model": {"id": "a/b", "bogus": 1}}))
    assert errors


def _loads(field: str, value: object) -> bool:
    try:
        load_profile_text(yaml.safe_dump({"model": {"id": "a/b", field: value}}), "p.yaml")
    except ProfileError:
        return False
    return True


def _spellings(enum: type[Enum]) -> list[object]:
    """Every value and alias, in other cases and with blanks, plus near misses and refusals."""
    words = [m.value for m in enum] + list(ALIASES.get(enum, {}))
    return [
        *words,
        *(w.upper() for w in words),
        *(f" {w.title()} " for w in words),
        *(w + "x" for w in words),
        "int8",
        "fp4",
        None,
        16,
    ]


@pytest.mark.parametrize("field", sorted(ENUM_FIELDS))
def test_schema_accepts_exactly_what_the_loader_accepts(field: str) -> None:
    validator = jsonschema.Draft202012Validator(profile_json_schema())
    for value in _spellings(ENUM_FIELDS[field]):
        by_schema = validator.is_valid({"model": {"id": "a/b", field: value}})
        assert by_schema == _loads(field, value), (field, value)


@pytest.mark.parametrize(
    "value", [8192, "8k", " 16K ", "10.5k", "1M", "1.5K", "8 k", "auto", "-1", "k", "0x10"]
)
@pytest.mark.parametrize("key", ["vllm.max_num_batched_tokens", "vllm.kv_cache_memory_bytes"])
def test_schema_takes_the_human_readable_integers_the_loader_takes(key: str, value: object) -> None:
    """(A text's range is the loader's to check: the schema cannot compare "2G" with a bound.)"""
    section, name = key.split(".")
    data = {"model": {"id": "a/b"}, section: {name: value}}
    try:
        load_profile_text(yaml.safe_dump(data), "p.yaml")
        loads = True
    except ProfileError:
        loads = False
    valid = jsonschema.Draft202012Validator(profile_json_schema()).is_valid(data)
    assert valid == loads, (key, value)


def test_schema_takes_vllm_flags_in_the_vllm_section_like_the_loader() -> None:
    validator = jsonschema.Draft202012Validator(profile_json_schema())
    data = {"model": {"id": "a/b"}, "vllm": {"enable_lora": True, "max_loras": 4}}
    assert validator.is_valid(data)
    assert load_profile_text(yaml.safe_dump(data), "p.yaml").profile.outputs.vllm_args == {
        "enable-lora": True,
        "max-loras": 4,
    }
    assert not validator.is_valid({"model": {"id": "a/b"}, "vllm": {"max_lora": 4}})
