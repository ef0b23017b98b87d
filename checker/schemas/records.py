"""Plain records: frozen dataclasses for what vllm-wizard computes and reports (plans, gate
results). Nothing a user wrote is validated through them, so unlike pydantic models they cost
nothing to build at a cold start. Their JSON is written by ``record_json`` byte for byte as
pydantic's ``model_dump_json`` wrote it before (tests/gate/test_format_json.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic_core import to_json

R = TypeVar("R", bound="Record")


@dataclass(frozen=True, slots=True)
class Record:
    """Base of every record: frozen, with slots (a fleet holds thousands). A whole number
    given for a float field is kept as a float, as pydantic kept it, so the JSON writes
    ``969.0`` where the figure is a float, whatever arithmetic produced it."""

    def __post_init__(self) -> None:
        # the first record of its type: compile its own check of its float fields (straight
        # code, a record of each type is built per pair), kept on the type for the next ones
        kind = type(self)
        keep = _float_keeper(kind)
        kind.__post_init__ = keep  # type: ignore[assignment,method-assign]
        keep(self)

    def model_copy(self: R, *, update: Mapping[str, Any]) -> R:
        """This record with the fields in ``update`` replaced; the name pydantic gave it, which
        the planner's callers use."""
        return replace(self, **update)


def _float_keeper(kind: type) -> Callable[[Any], None]:
    """A ``__post_init__`` for ``kind`` that turns a whole number given for a float field (or
    in a tuple of floats) into a float."""
    module = vars(sys.modules[kind.__module__])
    lines = ["def keep(self):", "    set = object.__setattr__"]
    for f in fields(kind):
        shape = _float_shape(f.type, module)
        if shape == "float":
            lines += [
                f"    v = self.{f.name}",
                "    if v is not None and type(v) is not float:",
                f"        set(self, {f.name!r}, float(v))",
            ]
        elif shape == "pair":
            lines += [
                f"    v = self.{f.name}",
                "    if v is not None and (type(v) is not tuple or "
                "any(type(x) is not float for x in v)):",
                f"        set(self, {f.name!r}, tuple(float(x) for x in v))",
            ]
    if len(lines) == 2:
        return _keep_nothing
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - our own field names
    keep: Callable[[Any], None] = namespace["keep"]
    return keep


def _keep_nothing(self: Any) -> None:
    """A record without float fields: nothing to keep."""


def _float_shape(annotation: Any, module: dict[str, Any]) -> str | None:
    """ "float" for ``float`` (or ``float | None``), "pair" for a tuple of floats (or None),
    else None. Annotations are text (postponed): a name only imported for type checking is
    no float."""
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, module)  # noqa: S307 - our own annotations
        except NameError:
            return None
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
        annotation, args = args[0], list(get_args(args[0]))
    if annotation is float:
        return "float"
    if get_origin(annotation) is tuple and args and all(a is float for a in args):
        return "pair"
    return None


def record_json(value: Any, *, indent: int | None = 2, exclude: Any = None) -> str:
    """``value`` (records, lists, dicts, enums, text, numbers) as JSON, as pydantic wrote it:
    keys in field order, non-ASCII kept, a float that overflowed to inf or nan written as
    null (RFC-valid). ``exclude``: pydantic's nested form, e.g. ``{"pairs": {"__all__":
    {"plan"}}}``."""
    return to_json(value, indent=indent, inf_nan_mode="null", exclude=exclude).decode()
