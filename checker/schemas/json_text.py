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

A fleet's JSON report writes hundreds of thousands of values, so each depth of indentation has
its own writers, one per type met there: a record's, list's or dict's is interpreted for its
first few uses (all a cold ``plan --json`` makes), then compiled (as dataclasses compiles an
__init__) with the line breaks, indents and keys written in and scalar members written inline.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from json.encoder import encode_basestring
from typing import Any

from checker.schemas.section import Section

Writer = Callable[[Any, list[str]], None]  # (value, parts): appends the value's text

# a fleet's report writes the same few thousand texts (messages, reasons, GPU and basis names)
# tens of thousands of times: each is escaped once
_quoted = functools.lru_cache(maxsize=8192)(encode_basestring)


def json_text(value: Any, *, indent: int | None = None, exclude: Any = None, level: int = 0) -> str:
    """``level``: the depth the text is written at inside an enclosing one, its lines after
    the first indented as that depth's (``indent`` x ``level`` spaces)."""
    parts: list[str] = []
    _emit(value, parts, exclude, _layout(indent, level))
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


class _FloatTexts(dict[float, str]):
    """``float_text`` of each nonzero float met (a zero's key would not tell -0.0 from 0.0):
    a fleet's report writes the same few thousand figures tens of thousands of times, and a
    float's shortest repr costs several times a lookup."""

    def __missing__(self, number: float) -> str:
        if len(self) >= _FLOAT_TEXTS_KEPT:
            self.clear()
        text = self[number] = float_text(number)
        return text


_FLOAT_TEXTS_KEPT = 65536
_FLOAT_TEXTS = _FloatTexts()


class _Layout:
    """One depth of the text: where its members' lines start (``inner``), where its closing
    bracket goes (``here``), and its writers by type."""

    def __init__(self, newline: str, step: str, here: str) -> None:
        self.newline, self.step, self.here = newline, step, here
        self.inner = here + step
        self.colon = ": " if newline else ":"
        self.writers: dict[type, Writer] = {}
        self._records: dict[tuple[type, frozenset[str]], Writer] = {}
        self._deeper: _Layout | None = None

    def deeper(self) -> _Layout:
        if not self.step:  # compact text or indent 0: every depth is laid out alike
            return self
        if self._deeper is None:
            self._deeper = _Layout(self.newline, self.step, self.inner)
        return self._deeper

    def write(self, value: Any, parts: list[str]) -> None:
        kind = type(value)
        (self.writers.get(kind) or self.writer(kind))(value, parts)

    def writer(self, kind: type) -> Writer:
        """What writes a ``kind`` here; kept, but for a kind that cannot be written."""
        writer = self.writers.get(kind)
        if writer is None:
            writer = self.writers[kind] = self._new_writer(kind)
        return writer

    def record_writer(self, kind: type, skip: frozenset[str]) -> Writer:
        """A record's writer without the fields in ``skip``."""
        writer = self._records.get((kind, skip))
        if writer is None:
            names = [name for name in _names(kind) if name not in skip]

            def interpreted(value: Any, parts: list[str]) -> None:
                _object([(name, getattr(value, name), None) for name in names], parts, self)

            def place(compiled: Writer) -> None:
                self._records[kind, skip] = compiled
                if not skip:
                    self.writers[kind] = compiled

            compile_ = functools.partial(self._compiled_record, kind, names)
            writer = self._records[kind, skip] = _Warming(interpreted, compile_, place)
        return writer

    def _new_writer(self, kind: type) -> Writer:  # noqa: PLR0911 - one return per JSON kind
        if kind is str or kind is float or kind is int or kind is bool or kind is type(None):
            return _SCALAR_WRITERS[kind]
        if kind is list or kind is tuple or kind is dict:
            return self._container(kind)
        if issubclass(kind, enum.Enum):
            if all(type(member.value) is str for member in kind):  # ours: written as their text
                return lambda value, parts: parts.append(_quoted(value._value_))
            return lambda value, parts: self.write(value.value, parts)
        if issubclass(kind, str):
            return lambda value, parts: parts.append(encode_basestring(value))
        if issubclass(kind, int):
            return lambda value, parts: parts.append(int.__repr__(value))
        if issubclass(kind, float):
            return lambda value, parts: parts.append(float_text(value))
        if issubclass(kind, dict):
            return self.writer(dict)
        if issubclass(kind, (list, tuple, set, frozenset)):
            return lambda value, parts: self.write(list(value), parts)
        if issubclass(kind, Section):  # as its model_dump writes it (excluded fields left out)
            return lambda value, parts: self.write(value.model_dump(mode="json"), parts)
        if is_dataclass(kind):  # a record: fields in order
            return self.record_writer(kind, frozenset())
        if issubclass(kind, (bytes, bytearray)) or hasattr(kind, "isoformat"):
            return lambda value, parts: parts.append(encode_basestring(plain_text(value)))
        raise TypeError(f"{kind.__name__} cannot be written as JSON")

    def _container(self, kind: type) -> Writer:
        """A list's, tuple's or dict's writer."""

        def interpreted(value: Any, parts: list[str]) -> None:
            if kind is dict:
                items = [(k if type(k) is str else json_key(k), v, None) for k, v in value.items()]
                _object(items, parts, self)
            else:
                _members("[", "]", [("", item, None) for item in value], parts, self)

        def place(compiled: Writer) -> None:
            self.writers[kind] = compiled

        compile_ = functools.partial(self._compiled_container, kind is dict)
        return _Warming(interpreted, compile_, place)

    def _compiled_record(self, kind: type, names: list[str]) -> Writer:
        """Each field's key written in, its value checked first for the scalars its annotation
        names (a guess: any other value goes to the writer of its type, as all do)."""
        if not names:
            return lambda value, parts: parts.append("{}")
        annotations = {f.name: f.type for f in fields(kind)}
        body = []
        for index, name in enumerate(names):
            opening = ("{" if index == 0 else ",") + self.inner
            prefix = repr(opening + encode_basestring(name) + self.colon)
            checks = [_SCALAR_CHECKS[s].format(p=prefix) for s in _scalars(annotations[name])]
            body.append(f"    item = value.{name}")
            body += [f"    {'el' if i else ''}if {check}" for i, check in enumerate(checks)]
            indent = "    else:\n        " if checks else "    "
            body.append(f"{indent}append({prefix}); {_BY_ITS_TYPE}")
        body.append(f"    append({self.here + '}'!r})")
        source = ["def write(value, parts):", "    append = parts.append", *body]
        return self._compiled(source)

    def _compiled_container(self, mapping: bool) -> Writer:
        """A mapping's writer, or a list's or tuple's: each member's scalar checked inline."""
        opening, closing = ("{", "}") if mapping else ("[", "]")
        lines = [
            "def write(value, parts):",
            "    if not value:",
            f"        parts.append({opening + closing!r})",
            "        return",
            "    append = parts.append",
            f"    separator = {opening + self.inner!r}",
        ]
        if mapping:
            lines += [
                "    for key, item in value.items():",
                "        if type(key) is not str:",
                "            key = _json_key(key)",
                f"        prefix = separator + _text(key) + {self.colon!r}",
                *_member("prefix", "        "),
            ]
        else:
            lines += ["    for item in value:", *_member("separator", "        ")]
        lines += [
            f"        separator = {',' + self.inner!r}",
            f"    append({self.here + closing!r})",
        ]
        return self._compiled(lines)

    def _compiled(self, lines: list[str]) -> Writer:
        deeper = self.deeper()
        namespace: dict[str, Any] = {
            "_text": _quoted,
            "_float": float_text,
            "_floats": _FLOAT_TEXTS,
            "_int": int.__repr__,
            "_json_key": json_key,
            "_writers": deeper.writers,
            "_writer": deeper.writer,
        }
        exec("\n".join(lines), namespace)  # noqa: S102 - our own field names and layout
        writer: Writer = namespace["write"]
        return writer


# uses of a record's or container's writer at one depth before it is compiled: a cold
# ``plan --json`` writes each of its types once or a few times, for less than compiling costs
_COMPILE_AFTER = 8


class _Warming:
    """A writer that writes interpreted until it has been used ``_COMPILE_AFTER`` times, then
    compiles its fast twin and has ``place`` put it where it is looked up."""

    __slots__ = ("_interpreted", "_compile", "_place", "_uses", "_fast")

    def __init__(
        self, interpreted: Writer, compile_: Callable[[], Writer], place: Callable[[Writer], None]
    ) -> None:
        self._interpreted, self._compile, self._place = interpreted, compile_, place
        self._uses = 0
        self._fast: Writer | None = None

    def __call__(self, value: Any, parts: list[str]) -> None:
        if self._fast is None:
            self._uses += 1
            if self._uses < _COMPILE_AFTER:
                self._interpreted(value, parts)
                return
            self._fast = self._compile()
            self._place(self._fast)
        self._fast(value, parts)


# source that writes ``item`` by the next depth's writer of its type
_BY_ITS_TYPE = "(_writers.get(type(item)) or _writer(type(item)))(item, parts)"


def _member(prefix: str, indent: str) -> list[str]:
    """Source that writes ``item`` after ``prefix`` (an expression): a scalar inline, anything
    else by the next depth's writer of its type."""
    return [
        f"{indent}kind = type(item)",
        f"{indent}if kind is str:",
        f"{indent}    append({prefix} + _text(item))",
        f"{indent}elif item is None:",
        f"{indent}    append({prefix} + 'null')",
        f"{indent}elif kind is float:",
        f"{indent}    append({prefix} + (_floats[item] if item else _float(item)))",
        f"{indent}elif kind is int:",
        f"{indent}    append({prefix} + _int(item))",
        f"{indent}elif kind is bool:",
        f"{indent}    append({prefix} + ('true' if item else 'false'))",
        f"{indent}else:",
        f"{indent}    append({prefix}); {_BY_ITS_TYPE}",
    ]


# a record field's scalar kinds, as its annotation names them, each checked inline ({p}: the
# field's prefix); a zero is left to float_text (the texts' keys cannot tell -0.0 from 0.0)
_SCALAR_CHECKS = {
    "str": "type(item) is str: append({p} + _text(item))",
    "None": "item is None: append({p} + 'null')",
    "float": "type(item) is float and item: append({p} + _floats[item])",
    "int": "type(item) is int: append({p} + _int(item))",
    "bool": "type(item) is bool: append({p} + 'true' if item else {p} + 'false')",
}


def _scalars(annotation: Any) -> list[str]:
    """The scalar kinds of ``_SCALAR_CHECKS`` that an annotation names, in its order."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return [kind for kind in (part.strip() for part in text.split("|")) if kind in _SCALAR_CHECKS]


_SCALAR_WRITERS: dict[type, Writer] = {
    str: lambda value, parts: parts.append(_quoted(value)),
    float: lambda value, parts: parts.append(float_text(value)),
    int: lambda value, parts: parts.append(int.__repr__(value)),
    bool: lambda value, parts: parts.append("true" if value else "false"),
    type(None): lambda value, parts: parts.append("null"),
}

_LAYOUTS: dict[tuple[int | None, int], _Layout] = {}


def _layout(indent: int | None, level: int) -> _Layout:
    layout = _LAYOUTS.get((indent, level))
    if layout is None:
        if level:
            layout = _layout(indent, level - 1).deeper()
        else:
            newline = "\n" if indent is not None else ""
            layout = _Layout(newline, " " * (indent or 0), newline)
        _LAYOUTS[indent, level] = layout
    return layout


def _emit(value: Any, parts: list[str], exclude: Any, layout: _Layout) -> None:
    """``value`` without what ``exclude`` names (field names, or pydantic's nested form)."""
    if exclude is None or isinstance(value, enum.Enum):  # an enum: its value, whole
        layout.write(value, parts)
    elif isinstance(value, dict):
        items = [(k if type(k) is str else json_key(k), v) for k, v in value.items()]
        _object(_kept(items, exclude), parts, layout)
    elif isinstance(value, (list, tuple, set, frozenset)):
        inner = exclude.get("__all__") if isinstance(exclude, dict) else None
        _members("[", "]", [("", item, inner) for item in value], parts, layout)
    elif isinstance(value, Section):  # as its model_dump writes it (excluded fields left out)
        _emit(value.model_dump(mode="json"), parts, exclude, layout)
    elif is_dataclass(value) and not isinstance(value, type):
        if isinstance(exclude, (set, frozenset)):
            layout.record_writer(type(value), frozenset(exclude))(value, parts)
        else:  # nested exclusions, field by field
            pairs = [(name, getattr(value, name)) for name in _names(type(value))]
            _object(_kept(pairs, exclude), parts, layout)
    else:  # a scalar: nothing in it to leave out
        layout.write(value, parts)


_NAMES: dict[type, tuple[str, ...]] = {}


def _names(kind: type) -> tuple[str, ...]:
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


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


def _kept(pairs: list[tuple[Any, Any]], exclude: Any) -> list[tuple[Any, Any, Any]]:
    kept = []
    for key, item in pairs:
        inner = exclude.get(key) if isinstance(exclude, dict) else (key in exclude or None)
        if inner is True or inner is ...:
            continue
        kept.append((key, item, inner))
    return kept


def _object(items: list[tuple[Any, Any, Any]], parts: list[str], layout: _Layout) -> None:
    members = [(_quoted(key) + layout.colon, item, ex) for key, item, ex in items]
    _members("{", "}", members, parts, layout)


def _members(
    opening: str,
    closing: str,
    members: list[tuple[str, Any, Any]],
    parts: list[str],
    layout: _Layout,
) -> None:
    """An object's or array's members, each (its key's text, or nothing, then its value, then
    what to leave out of it), one a line when indented."""
    if not members:
        parts.append(opening + closing)
        return
    deeper = layout.deeper()
    separator = opening + layout.inner
    for prefix, item, exclude in members:
        parts.append(separator + prefix)
        _emit(item, parts, exclude, deeper)
        separator = "," + layout.inner
    parts.append(layout.here + closing)
