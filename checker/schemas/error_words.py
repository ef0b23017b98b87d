"""pydantic's validation errors in the user's terms, for every input we validate.

pydantic words its errors for Python programmers ("Input should be a valid integer", "instance
of ProfileModel", "Value error, ..."); our users wrote YAML, JSON or a flag. One translation
serves profiles, repo config, fleet and calibration files, lockfiles, config.json, logs and flags.
"""

from __future__ import annotations

import re
from typing import Any

# What a value of the wrong type should have been, by pydantic error type.
_EXPECTED = {
    "string_type": "text",
    "string_unicode": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "int_parsing_size": "a whole number of sensible size",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "frozen_set_type": "a list",
    "iterable_type": "a list",
    "dict_type": "a section of keys",
    "model_type": "a section of keys",
    "model_attributes_type": "a section of keys",
    "none_required": "nothing (null)",
}
# Bounds, worded with pydantic's ctx key for the limit.
_BOUNDS = {
    "greater_than": ("gt", "more than {}"),
    "greater_than_equal": ("ge", "at least {}"),
    "less_than": ("lt", "less than {}"),
    "less_than_equal": ("le", "at most {}"),
    "multiple_of": ("multiple_of", "a multiple of {}"),
}
_SHOWN_CHARS = 60
# YAML 1.1 (PyYAML) reads e-notation as a number only with a dot and a signed exponent
# ("1.0e+15"): "1e9", "1.0e15" or "9e-1" are text
_E_NOTATION = re.compile(r"^([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))[eE]([-+]?)([0-9]{1,4})$")


def error_text(error: Any) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as a clause in our words,
    naming what was expected and what was given; no location (the caller adds it)."""
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    got = shown(error.get("input"))
    if kind in ("value_error", "assertion_error") and ctx.get("error") is not None:
        return str(ctx["error"])  # our own validators' words, without pydantic's prefix
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}" + _as_number(error.get("input"), kind)
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        limit = ctx.get(key)
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)  # "at most 1", not "at most 1.0"
        return f"must be {words.format(limit)}, got {got}"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        one = " or " not in expected and ", " not in expected
        return f"must be {'' if one else 'one of '}{expected}, got {got}"
    if kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
        return _length_text(kind, ctx, got)
    if kind == "string_pattern_mismatch":
        return f"{got} is not a valid value here"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key"
    return str(error["msg"])


def _as_number(value: Any, kind: str) -> str:
    """How to write a number in e-notation that YAML read as text."""
    match = _E_NOTATION.match(value.strip()) if isinstance(value, str) else None
    if match is None or not kind.startswith(("int", "float")):
        return ""
    number = float(value)
    if kind.startswith("int"):
        if not number.is_integer() or abs(number) >= 1e18:
            return ""
        written = str(int(number))
    else:
        mantissa = match[1] if "." in match[1] else match[1] + ".0"
        written = f"{mantissa}e{match[2] or '+'}{match[3]}"
    return f" (YAML reads e-notation without a dot and a signed exponent as text: write {written})"


def choices(error: Any) -> list[str]:
    """The allowed values a literal or enum error lists."""
    if error["type"] not in ("literal_error", "enum"):
        return []
    return re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))


def did_you_mean(error: Any) -> str | None:
    """'did you mean X?' for a mistyped choice, else None."""
    value = error.get("input")
    if not isinstance(value, str):
        return None
    import difflib  # only a typo needs it: kept off every start

    close = difflib.get_close_matches(value.lower(), choices(error), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def shown(value: Any) -> str:
    """A given value the way the user wrote it (YAML/JSON words), cut to a readable length."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a section of keys"
    if isinstance(value, int) and value.bit_length() > 128:
        return "a number too large to use"  # str() of a huge int is slow, then refused
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return text


def _length_text(kind: str, ctx: dict[str, Any], got: str) -> str:
    items = "characters" if kind.startswith("string") else "items"
    if kind.endswith("too_short"):
        least = ctx.get("min_length")
        if least == 1:
            return "must not be empty"
        return f"must have at least {least} {items}, got {got}"
    return f"must have at most {ctx.get('max_length')} {items}"
