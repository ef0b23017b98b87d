"""JSON text of what we report (records, sections, enums, lists, dicts, numbers), byte for byte
as pydantic-core's ``to_json`` wrote it before (tests/schemas/test_json_text.py holds the two
side by side), without importing pydantic at each start of ``plan --json`` or a JSON report:

- fields in declared order; non-ASCII kept; control characters escaped as ``json`` does;
- a float as its shortest repr, except that -5 as exponent is written out (``0.000025``) and
  smaller exponents lose their zero padding (``1e-7``); an inf or nan (an overflowed figure)
  is ``null``, which every JSON reader takes;
- ``indent``: pretty-printed with that many spaces, ``", "``-free compact text otherwise;
- ``exclude``: field names, or pydantic's nested form ``{"pairs": {"__all__": {"plan"}}}``;
- what YAML gives beside JSON's kinds (``Any`` fields): bytes as text, dates and times in ISO
  8601, a set as a list; a key that is not text as pydantic spells it (``1.5``, ``None``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from json.encoder import encode_basestring
from typing import Any

from checker.schemas.section import Section


def json_text(value: Any, *, indent: int | None = None, exclude: Any = None) -> str:
    parts: list[str] = []
    newline = "\n" if indent is not None else ""
    _emit(value, parts, exclude, newline, " " * (indent or 0), newline)
    return "".join(parts)


def float_text(number: float) -> str:
    text = repr(number)
    if "n" in text:  # inf, -inf, nan
        return "null"
    if "e-" not in text:
        return text
    mantissa, marker, exponent = text.partition("e-")
    if exponent == "05":  # 1.25e-05 -> 0.0000125
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e-{int(exponent)}"


def _kept(pairs: list[tuple[Any, Any]], exclude: Any) -> list[tuple[Any, Any, Any]]:
    if exclude is None:
        return [(k, v, None) for k, v in pairs]
    kept = []
    for key, item in pairs:
        inner = exclude.get(key) if isinstance(exclude, dict) else (key in exclude or None)
        if inner is True or inner is ...:
            continue
        kept.append((key, item, inner))
    return kept


def _emit(  # noqa: PLR0912 - one branch per JSON kind
    value: Any, parts: list[str], exclude: Any, newline: str, step: str, here: str
) -> None:
    kind = type(value)
    if kind is str:
        parts.append(encode_basestring(value))
    elif kind is float:
        parts.append(float_text(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif kind is int:
        parts.append(int.__repr__(value))
    elif kind is list or kind is tuple:
        inner = exclude.get("__all__") if type(exclude) is dict else None
        _array(value, parts, inner, newline, step, here)
    elif kind is dict:
        items = [(k if type(k) is str else json_key(k), v) for k, v in value.items()]
        _object(_kept(items, exclude), parts, newline, step, here)
    elif isinstance(value, enum.Enum):
        _emit(value.value, parts, None, newline, step, here)
    elif isinstance(value, str):
        parts.append(encode_basestring(value))
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(float_text(value))
    elif isinstance(value, dict):
        items = [(json_key(k), v) for k, v in value.items()]
        _object(_kept(items, exclude), parts, newline, step, here)
    elif isinstance(value, (list, tuple, set, frozenset)):
        inner = exclude.get("__all__") if isinstance(exclude, dict) else None
        _array(list(value), parts, inner, newline, step, here)
    elif isinstance(value, Section):  # as its model_dump writes it (excluded fields left out)
        _emit(value.model_dump(mode="json"), parts, exclude, newline, step, here)
    elif is_dataclass(value) and not isinstance(value, type):  # a record: fields in order
        if exclude is None or type(exclude) is set:
            _record_writer(kind)(value, parts, exclude or (), newline, step, here)
        else:  # nested exclusions, field by field
            pairs = [(name, getattr(value, name)) for name in _names(kind)]
            _object(_kept(pairs, exclude), parts, newline, step, here)
    elif isinstance(value, (bytes, bytearray)) or hasattr(value, "isoformat"):
        parts.append(encode_basestring(plain_text(value)))
    else:
        raise TypeError(f"{type(value).__name__} cannot be written as JSON")


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(kind: type) -> tuple[str, ...]:
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


_WRITERS: dict[type, Callable[..., None]] = {}


def _record_writer(kind: type) -> Callable[..., None]:
    """``kind``'s writer, compiled once (as dataclasses compiles an __init__): each field's key
    text written in, its value inline where it is a scalar; ``skip``: names left out. A fleet's
    JSON report writes thousands of records."""
    writer = _WRITERS.get(kind)
    if writer is None:
        body = []
        for name in _names(kind):
            key = encode_basestring(name)[1:-1]
            body += [
                f"    if {name!r} not in skip:",
                f"        item = value.{name}",
                "        text = _scalar(item)",
                "        if text is None:",
                f"            parts.append(separator + {key!r} + colon)",
                "            _emit(item, parts, None, newline, step, inner)",
                "        else:",
                f"            parts.append(separator + {key!r} + colon + text)",
                "        separator = ',' + inner + '\"'",
            ]
        source = "\n".join(
            [
                "def write(value, parts, skip, newline, step, here):",
                "    inner = here + step",
                "    colon = '\": ' if newline else '\":'",
                "    separator = inner + '\"'",
                "    parts.append('{')",
                "    start = len(parts)",
                *body,
                "    if len(parts) == start:",
                "        parts[-1] = '{}'",
                "    else:",
                "        parts.append(here + '}')",
            ]
        )
        namespace: dict[str, Any] = {"_scalar": _scalar, "_emit": _emit}
        exec(source, namespace)  # noqa: S102 - our own field names
        writer = _WRITERS[kind] = namespace["write"]
    return writer


def json_key(key: Any) -> str:
    """A mapping's key as pydantic writes it in JSON: text as it is, an enum as its value,
    other scalars as Python prints them (``1.5``, ``None``), an inf or nan as ``None``."""
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and (key != key or key in (float("inf"), float("-inf"))):
        return "None"
    if isinstance(key, tuple):
        return ",".join(map(json_key, key))
    if isinstance(key, (bytes, bytearray)) or hasattr(key, "isoformat"):
        return plain_text(key)
    return repr(key) if isinstance(key, float) else str(key)


def plain_text(value: Any) -> str:
    """Bytes (UTF-8), a date, time or datetime (ISO 8601, UTC as ``Z``) as pydantic's text."""
    if isinstance(value, (bytes, bytearray)):
        return value.decode()
    text: str = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _scalar(value: Any) -> str | None:
    """The text of a string, number, bool or null, written inline; None for anything else."""
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is float:
        return float_text(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    return None


def _object(
    items: list[tuple[Any, Any, Any]], parts: list[str], newline: str, step: str, here: str
) -> None:
    colon = '": ' if newline else '":'
    members = [('"' + encode_basestring(key)[1:-1] + colon, item, ex) for key, item, ex in items]
    _members("{", "}", members, parts, newline, step, here)


def _array(
    items: list[Any], parts: list[str], exclude: Any, newline: str, step: str, here: str
) -> None:
    _members("[", "]", [("", item, exclude) for item in items], parts, newline, step, here)


def _members(
    opening: str,
    closing: str,
    members: list[tuple[str, Any, Any]],
    parts: list[str],
    newline: str,
    step: str,
    here: str,
) -> None:
    """An object's or array's members, each (its key's text, or nothing, then its value), one
    a line when indented; scalars written inline."""
    if not members:
        parts.append(opening + closing)
        return
    inner = here + step
    parts.append(opening)
    separator = inner
    for prefix, item, exclude in members:
        text = _scalar(item)
        if text is None:
            parts.append(separator + prefix)
            _emit(item, parts, exclude, newline, step, inner)
        else:
            parts.append(separator + prefix + text)
        separator = "," + inner
    parts.append(here + closing)
