"""Defaults of nested sections, shared by every file that leaves them out."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from checker.schemas.section import Section

S = TypeVar("S", bound="Section")


def empty_list() -> list[Any]:
    return []


def section_defaults(model: type[S]) -> Callable[[], S]:
    """The default of a nested section left out of a file: the section with its fields'
    defaults (never validated, as no default is). Built once and shared (sections are frozen):
    a fleet check leaves most sections out of thousands of profiles."""
    return functools.cache(model.model_construct)
