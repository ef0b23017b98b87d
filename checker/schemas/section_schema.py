"""The JSON Schema (draft 2020-12) of a section, in the layout pydantic gave it: a ``$defs`` entry
per nested section and enum, each field's title from its name, its default, description,
examples and bounds, keys sorted except the fields' own order. Only ``vllm-wizard schema`` and
its test read it."""

from __future__ import annotations

import enum
import types
import typing
from typing import Annotated, Any, Literal, Union

from checker.schemas.section import FieldInfo, Section, single_type

_BOUND_WORDS = {
    "gt": "exclusiveMinimum",
    "ge": "minimum",
    "lt": "exclusiveMaximum",
    "le": "maximum",
}


def json_schema(cls: type[Section]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    top = _section(cls, defs)
    if defs:
        top["$defs"] = dict(sorted(defs.items()))
    ordered: dict[str, Any] = _sorted(top)
    return ordered


def _section(cls: type[Section], defs: dict[str, Any]) -> dict[str, Any]:
    from checker.schemas.section import field_types, validator_of

    validator_of(cls)  # the annotations evaluated, as validating would
    hints = field_types(cls)
    properties = {
        name: _field(info, hints.get(name, info.annotation), defs)
        for name, info in cls.model_fields.items()
    }
    schema: dict[str, Any] = {"properties": properties, "title": cls.__name__, "type": "object"}
    required = [name for name, info in cls.model_fields.items() if info.is_required()]
    if required:
        schema["required"] = required
    if cls.model_config.get("extra", "forbid") == "forbid":
        schema["additionalProperties"] = False
    if cls.__doc__ and cls.__doc__ is not Section.__doc__:
        schema["description"] = _cleaned(cls.__doc__)
    return schema


def _field(info: FieldInfo, annotation: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = _type(annotation, info.limits, defs)
    if not _named(annotation):
        schema["title"] = info.name.title().replace("_", " ")
    if info.default_factory is None and not info.is_required():
        schema["default"] = _json_value(info.default)
    if info.description is not None:
        schema["description"] = info.description
    if info.examples is not None:
        schema["examples"] = info.examples
    schema.update(info.json_schema_extra or {})
    return schema


def _named(annotation: Any) -> bool:
    """Whether a field's type carries its own title (a section or an enum, alone or with None),
    so that pydantic gives the field none."""
    kind = single_type(annotation)
    return isinstance(kind, type) and issubclass(kind, (Section, enum.Enum))


def _type(annotation: Any, limits: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *extras = typing.get_args(annotation)
        merged = dict(limits)
        for extra in extras:
            if isinstance(extra, FieldInfo):
                merged.update(extra.limits)
        return _type(inner, merged, defs)
    if origin in (Union, types.UnionType):
        branches: list[dict[str, Any]] = []
        for arg in typing.get_args(annotation):
            branch = _type(arg, {} if arg is type(None) else limits, defs)
            branches.extend(branch["anyOf"] if list(branch) == ["anyOf"] else [branch])
        return {"anyOf": branches}
    if annotation is Any:
        return {}
    if annotation is type(None) or annotation is None:
        return {"type": "null"}
    if origin is Literal:
        values = list(typing.get_args(annotation))
        schema: dict[str, Any] = {"const": values[0]} if len(values) == 1 else {"enum": values}
        kinds = {_json_type(v) for v in values}
        if len(kinds) == 1:
            schema["type"] = kinds.pop()
        return schema
    if origin in (list, tuple, set, frozenset):
        return _array(annotation, origin, limits, defs)
    if origin is dict:
        _, value = typing.get_args(annotation)
        inner = _type(value, {}, defs)
        schema = {"additionalProperties": inner if inner else True, "type": "object"}
        return _lengths(schema, limits, "Properties")
    if isinstance(annotation, type) and issubclass(annotation, Section):
        if annotation.__name__ not in defs:
            defs[annotation.__name__] = {}  # a placeholder while its fields are read
            defs[annotation.__name__] = _section(annotation, defs)
        return {"$ref": f"#/$defs/{annotation.__name__}"}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = [member.value for member in annotation]
        entry: dict[str, Any] = {"enum": values, "title": annotation.__name__}
        kinds = {_json_type(v) for v in values}
        if len(kinds) == 1:
            entry["type"] = kinds.pop()
        if annotation.__doc__ and annotation.__doc__ != enum.Enum.__doc__:
            entry["description"] = _cleaned(annotation.__doc__)
        defs[annotation.__name__] = entry
        return {"$ref": f"#/$defs/{annotation.__name__}"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    schema = {"type": simple[annotation]}
    for key, word in _BOUND_WORDS.items():
        if key in limits:
            schema[word] = limits[key]
    if "pattern" in limits:
        schema["pattern"] = limits["pattern"]
    return _lengths(schema, limits, "Length")


def _array(
    annotation: Any, origin: Any, limits: dict[str, Any], defs: dict[str, Any]
) -> dict[str, Any]:
    args = typing.get_args(annotation)
    if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
        schema: dict[str, Any] = {
            "maxItems": len(args),
            "minItems": len(args),
            "prefixItems": [_type(a, {}, defs) for a in args],
            "type": "array",
        }
        return schema
    schema = {"items": _type(args[0] if args else Any, {}, defs), "type": "array"}
    if origin in (set, frozenset):
        schema["uniqueItems"] = True
    return _lengths(schema, limits, "Items")


def _lengths(schema: dict[str, Any], limits: dict[str, Any], unit: str) -> dict[str, Any]:
    if "min_length" in limits:
        schema[f"min{unit}"] = limits["min_length"]
    if "max_length" in limits:
        schema[f"max{unit}"] = limits["max_length"]
    return schema


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "null"


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, Section):
        return _json_value(value.model_dump(mode="json"))
    return value


def _cleaned(doc: str) -> str:
    import inspect  # only the schema command needs it

    return inspect.cleandoc(doc)


def _sorted(value: Any, *, keep_order: bool = False) -> Any:
    """Keys sorted at every level, as pydantic sorts them, except a section's fields (their
    declared order) and default values (as written)."""
    if isinstance(value, dict):
        items = value.items() if keep_order else sorted(value.items())
        return {
            k: v
            if k == "default" and not keep_order
            else _sorted(v, keep_order=k == "properties" and not keep_order)
            for k, v in items
        }
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
