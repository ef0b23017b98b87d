"""Default factories for model fields.

Building a model, pydantic inspects each default factory's signature; a builtin's (``list``)
is parsed from its text signature, about 0.3 ms each, and the first parse compiles the
tokenizer's regular expressions: a plain function's costs next to nothing, on every start.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel

Section = TypeVar("Section", bound="BaseModel")


def empty_list() -> list[Any]:
    return []


def section_defaults(model: type[Section]) -> Callable[[], Section]:
    """The default of a nested section left out of a file: the section with its fields'
    defaults, which pydantic never validates either way. Calling the class instead would build
    the section's own validator (about 1 ms each, at each start) when the parent's validator
    already covers the section; none of these sections has a model validator to skip. Built
    once and shared (the sections are frozen): a fleet check leaves most sections out of
    thousands of profiles, and constructing one costs pydantic a signature check per default
    factory."""
    return functools.cache(model.model_construct)
