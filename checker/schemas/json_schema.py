"""The JSON Schema of the profile format, generated from the sections.

A copy ships as ``checker/data/profile.schema.json`` so editors (yaml-language-server) can
validate profiles; a test keeps it in step with the models.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

from checker.schemas.engine_args import homes
from checker.schemas.enums import ALIASES
from checker.schemas.profile import ENUM_FIELDS, Profile, normalise_enum_spelling
from checker.schemas.vllm_flags import flags_for, known_lines

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def profile_json_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "vllm-wizard profile (profile_version 1)"
    for field, enum in ENUM_FIELDS.items():
        schema["$defs"][enum.__name__] = _spellings_schema(field, enum)
    _human_readable_ints(schema)
    _engine_flags(schema)
    return schema


def _engine_flags(schema: dict[str, Any]) -> None:
    """The ``vllm:`` section also takes any flag of the newest vLLM by its field name
    (``enable_lora``), like ``outputs.vllm_args`` (checker.schemas.engine_args)."""
    flags = flags_for(known_lines()[-1])
    properties = schema["$defs"]["ProfileVLLM"]["properties"]
    for flag in sorted(flags.serve):
        twin = flag.startswith("--no-") and "--" + flag[5:] in flags.serve
        name = flag[2:].replace("-", "_")
        if flag.startswith("--") and not twin and name not in properties:
            properties[name] = {"description": f"vLLM's {flag}, passed to `vllm serve`"}


_SECTION_DEFS = {"model": "ProfileModel", "vllm": "ProfileVLLM", "hardware": "ProfileHardware"}


def _human_readable_ints(schema: dict[str, Any]) -> None:
    """Profile keys vLLM reads with human_readable_int (``32k``, ``2G``) take that text too."""
    flags = flags_for(known_lines()[-1])
    decimal = "".join(c for c in flags.suffixes if c.islower())
    binary = "".join(c for c in flags.suffixes if c.isupper())
    # decimals only with a decimal (lowercase) suffix, as human_readable_int parses them
    number = f"\\d+|\\d+(?:\\.\\d+)?[{decimal}]|\\d+[{binary}]"
    text = {"type": "string", "pattern": f"^\\s*(?:{number})\\s*$"}
    for home in homes().values():
        if not home.profile or home.flag not in flags.human_ints | flags.auto_ints:
            continue
        section, name = home.profile.split(".")
        properties = schema["$defs"][_SECTION_DEFS[section]]["properties"]
        field = properties[name]
        kept = {k: field.pop(k) for k in ("title", "description", "default") if k in field}
        properties[name] = {**kept, "anyOf": [field, text]}


def _spellings_schema(field: str, enum: type[Enum]) -> dict[str, Any]:
    """What the loader takes for an enum field: vLLM's values (offered first, for completion),
    and in any case with surrounding blanks the seed's aliases too (``bf16``)."""
    values = [member.value for member in enum]
    spellings = sorted({*values, *ALIASES.get(enum, {})})
    either = "|".join(
        "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in spelling)
        for spelling in spellings
    )
    accepted: list[dict[str, Any]] = [
        {"enum": values},
        {"type": "string", "pattern": f"^\\s*(?:{either})\\s*$"},
    ]
    if normalise_enum_spelling(field, None) is not None:  # quantization: null means none
        accepted.append({"type": "null"})
    return {"title": enum.__name__, "anyOf": accepted}


def profile_json_schema_text() -> str:
    return json.dumps(profile_json_schema(), indent=2) + "\n"
