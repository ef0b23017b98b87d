"""The JSON Schema of the profile format, generated from the pydantic models.

A copy ships as ``checker/data/profile.schema.json`` so editors (yaml-language-server) can
validate profiles; a test keeps it in step with the models.
"""

from __future__ import annotations

import json
from typing import Any

from checker.schemas.profile import Profile

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def profile_json_schema() -> dict[str, Any]:
    schema = Profile.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "vllm-wizard profile (profile_version 1)"
    return schema


def profile_json_schema_text() -> str:
    return json.dumps(profile_json_schema(), indent=2) + "\n"
