"""Validate a YAML file (profile, repo config, fleet) into a section, errors at file:line.

One place for the promises every input file gets: unknown keys are errors with a "did you
mean", and every error names the file, line and key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from checker.errors import ProfileError
from checker.schemas.error_words import did_you_mean, error_text, shown
from checker.schemas.section import Section, ValidationError
from checker.schemas.yaml_source import Positions, YAMLSourceError, parse_yaml, read_text

M = TypeVar("M", bound=Section)


# '-' is standard input for a log (explain, calibrate); a profile or config is a file to cite
NO_STDIN = "give the file's path: only explain and calibrate read '-' (standard input)"


def read_yaml_file(path: Path) -> tuple[Any, Positions]:
    """Parse a small YAML file into data and key positions; errors name the file and line."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        hint = NO_STDIN if str(path) == "-" else None
        raise ProfileError("no such file", location=str(path), hint=hint) from None
    except YAMLSourceError as exc:
        raise ProfileError(exc.message, location=str(path)) from None
    except OSError as exc:
        raise ProfileError(f"cannot read: {exc.strerror}", location=str(path)) from None
    try:
        return parse_yaml(text)
    except YAMLSourceError as exc:
        where = f"{path}:{exc.line}:{exc.column}" if exc.line else str(path)
        raise ProfileError(exc.message, location=where) from None


def validate_at(model: type[M], data: Any, positions: Positions, source: str) -> M:
    """``model.model_validate(data)``; every problem becomes a located ProfileError, raised as
    the first with the others in ``related`` (and as lines in ``details``)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first, *others = (_describe(model, e, positions, source) for e in exc.errors())
        first.related.extend(others)
        first.details = [str(first), *(str(other) for other in others)]
        raise first from None


def _owner(model: type[Section], loc: tuple[Any, ...]) -> type[Section] | None:
    """The model class that owns the mapping at ``loc`` (list indexes are stepped over)."""
    current: type[Section] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _inner_model(field.annotation)
    return current


def _inner_model(annotation: Any) -> type[Section] | None:
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation
    for arg in getattr(annotation, "__args__", ()):  # list[X], X | None, ...
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _describe(model: type[Section], error: Any, positions: Positions, source: str) -> ProfileError:
    import difflib  # only a typo needs it: kept off every start

    loc = tuple(error["loc"])
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    spot = positions.nearest(loc)
    where = f"{source}:{spot[0]}:{spot[1]}" if spot else source
    hint = None
    if error["type"] == "extra_forbidden":
        owner = _owner(model, loc[:-1])
        choices = list(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), choices, n=1, cutoff=0.6)
        message = f"unknown key '{dotted}'"
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif choices:
            hint = f"valid keys here: {', '.join(choices)}"
    elif error["type"] == "missing":
        message = f"missing required key '{dotted}'"
    elif error["type"] == "string_pattern_mismatch":
        # the error quotes the regular expression; the field's examples say it in words
        owner = _owner(model, loc[:-1])
        field = owner.model_fields.get(str(loc[-1])) if owner else None
        message = f"{dotted}: {error_text(error)}"
        if field is not None and field.examples:
            hint = "write it like " + " or ".join(map(str, field.examples))
    elif error["type"] in ("model_type", "dict_type"):
        # the error names the class ("instance of ProfileModel"); the user wrote YAML.
        owner = _owner(model, loc)
        keys = ", ".join(list(owner.model_fields)[:6]) if owner else ""
        message = f"{dotted}: {error_text(error)}"
        if not loc:
            message = f"the file must be a mapping of keys, got {shown(error.get('input'))}"
            hint = f"its keys: {keys}, ..." if keys else None
        elif isinstance(loc[-1], int):  # an item of a list
            hint = f"write the item as a mapping with keys {keys}, ..."
        elif owner is not None:
            hint = f"write it as a mapping: '{loc[-1]}:' then indented keys ({keys}, ...)"
    elif error["type"] == "string_type" and isinstance(error.get("input"), (bool, int, float)):
        # "version: 0.10" arrives as the float 0.1, "name: no" as false: quotes keep the text
        message = f"{dotted}: {error_text(error)}"
        hint = "write it in quotes: unquoted, YAML reads 0.10 as the number 0.1, no as false"
    else:
        message = f"{dotted}: {error_text(error)}"
        hint = did_you_mean(error)
    return ProfileError(message, location=where, hint=hint)
