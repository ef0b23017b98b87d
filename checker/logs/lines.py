"""The log lines we recognise, read from ``checker/data/vllm_log_lines.yaml``."""

from __future__ import annotations

import functools
import re

from checker.schemas.section import ConfigDict, Section, field_validator
from checker.schemas.yaml_source import bundled_data


class LinePattern(Section):
    model_config = ConfigDict(extra="forbid")

    id: str
    pattern: re.Pattern[str]
    failure: str | None = None
    release: str | None = None
    anchor: str | None = None

    @field_validator("pattern", mode="before")
    @classmethod
    def _compile(cls, value: str) -> re.Pattern[str]:
        return re.compile(value)


class LineTable(Section):
    model_config = ConfigDict(extra="forbid")

    settings: frozenset[str]
    lines: tuple[LinePattern, ...]
    setting_keys: dict[str, str]


@functools.cache
def line_table() -> LineTable:
    return LineTable.model_validate(bundled_data("vllm_log_lines.yaml"))
