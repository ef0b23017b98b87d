"""Plain records: frozen dataclasses for what vllm-wizard computes and reports (plans, gate
results). Nothing a user wrote is validated through them, so unlike pydantic models they cost
nothing to build at a cold start. Their JSON is written by ``record_json`` byte for byte as
pydantic's ``model_dump_json`` wrote it before (tests/gate/test_format_json.py)."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic_core import to_json

R = TypeVar("R", bound="Record")

# field metadata: kept in memory, never written
NOT_JSON: Mapping[str, Any] = {"json": None}


def json_from(method: str) -> Mapping[str, Any]:
    """Field metadata: the JSON writes what the record's ``method()`` returns for this field
    (e.g. a plan kept packed, written whole)."""
    return {"json": method}


@dataclass(frozen=True, slots=True)
class Record:
    """Base of every record: frozen, with slots (a fleet holds thousands). A whole number
    given for a float field is kept as a float, as pydantic kept it, so the JSON writes
    ``969.0`` where the figure is a float, whatever arithmetic produced it."""

    def __post_init__(self) -> None:
        for name, pair in _float_fields(type(self)):
            value = getattr(self, name)
            if value is None:
                continue
            if pair:
                if type(value) is not tuple or not all(type(v) is float for v in value):
                    object.__setattr__(self, name, tuple(float(v) for v in value))
            elif type(value) is not float:
                object.__setattr__(self, name, float(value))

    def model_copy(self: R, *, update: Mapping[str, Any]) -> R:
        """This record with the fields in ``update`` replaced; the name pydantic gave it, which
        the planner's callers use."""
        return replace(self, **update)


# record type -> its float fields: (name, whether it is a tuple of floats)
_FLOAT_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _float_fields(kind: type) -> tuple[tuple[str, bool], ...]:
    found = _FLOAT_FIELDS.get(kind)
    if found is None:
        module = vars(sys.modules[kind.__module__])
        found = tuple(
            (f.name, shape == "pair")
            for f in fields(kind)
            if (shape := _float_shape(f.type, module)) is not None
        )
        _FLOAT_FIELDS[kind] = found
    return found


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


# record type -> (JSON key, attribute, whether it is a method to call), in field order
_JSON_FIELDS: dict[type, tuple[tuple[str, str, bool], ...]] = {}


def _json_fields(kind: type) -> tuple[tuple[str, str, bool], ...]:
    found = _JSON_FIELDS.get(kind)
    if found is None:
        found = tuple(
            (f.name, f.metadata.get("json", f.name), "json" in f.metadata)
            for f in fields(kind)
            if f.metadata.get("json", f.name) is not None
        )
        _JSON_FIELDS[kind] = found
    return found


def jsonable(value: Any, omit: Collection[tuple[type, str]] = ()) -> Any:
    """``value`` with every record a dict of its JSON fields in order, lists, tuples and dicts
    walked; what ``to_json`` writes as it is (text, numbers, bools, enums, pydantic models) left
    as it is. ``omit``: (record type, field) pairs left out."""
    kind = type(value)
    if kind is list or kind is tuple:
        return [jsonable(v, omit) for v in value]
    if kind is dict:
        return {k: jsonable(v, omit) for k, v in value.items()}
    if not isinstance(value, Record):
        return value
    data = {}
    for key, attr, call in _json_fields(kind):
        if omit and (kind, key) in omit:
            continue
        item = getattr(value, attr)
        data[key] = jsonable(item() if call else item, omit)
    return data


def record_json(
    value: Any, *, indent: int | None = 2, omit: Collection[tuple[type, str]] = ()
) -> str:
    """``value`` as JSON, as pydantic wrote it: keys in field order, non-ASCII kept, a float
    that overflowed to inf or nan written as null (RFC-valid)."""
    return to_json(jsonable(value, omit), indent=indent, inf_nan_mode="null").decode()
