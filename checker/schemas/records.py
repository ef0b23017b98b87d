"""Plain records: frozen dataclasses for what vllm-wizard computes and reports (plans, gate
results). Nothing a user wrote is validated through them, so unlike sections they need
no validator. Their JSON is written by ``record_json`` byte for byte as
pydantic's ``model_dump_json`` wrote it before (tests/gate/test_format_json.py).

A ``@record`` class is a dataclass (frozen, keyword-only, with slots) to type checkers and to
``dataclasses.fields``/``replace``, but defining one generates no code: its ``__init__`` is
compiled when its first record is built (a cold start defines dozens of these types and builds
some), and comparison, hashing, repr, pickling and freezing are Record's own, shared by all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields, replace
from operator import attrgetter
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

if sys.version_info >= (3, 11):  # typing_extensions (and the inspect it loads) off each start
    from typing import dataclass_transform
else:
    from typing_extensions import dataclass_transform

from checker.schemas.lazy_dataclass import compile_init

R = TypeVar("R", bound="Record")
T = TypeVar("T")


@dataclass_transform(kw_only_default=True, frozen_default=True)
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` (a Record subclass) a record: see the module's docstring."""
    return dataclass(slots=True, kw_only=True, init=False, repr=False, eq=False)(cls)


class Record:
    """Base of every record: frozen, compared and hashed by its fields in order. A whole number
    given for a float field is kept as a float, as pydantic kept it, so the JSON writes
    ``969.0`` where the figure is a float, whatever arithmetic produced it."""

    __slots__ = ()

    def __init__(self, **values: Any) -> None:
        # the first record of its type: compile the type's own __init__, then build with it
        kind = type(self)
        init = _compiled_init(kind)
        kind.__init__ = init  # type: ignore[method-assign]
        init(self, **values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return _getter(type(self))(self)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return all(a == b for a, b in zip(self._values(), other._values(), strict=True))

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        pairs = zip(_names(type(self)), self._values(), strict=True)
        shown = ", ".join(f"{n}={v!r}" for n, v in pairs)
        return f"{type(self).__qualname__}({shown})"

    def __reduce__(self) -> tuple[Callable[..., Record], tuple[Any, ...]]:
        # pickled (a FAIL pair's packed plan, audit's workers) as its field values in order
        return _rebuilt, (type(self), *self._values())

    def model_copy(self: R, *, update: Mapping[str, Any]) -> R:
        """This record with the fields in ``update`` replaced; the name pydantic gave it, which
        the planner's callers use."""
        return replace(self, **update)  # type: ignore[type-var]


def record_json(value: Any, *, indent: int | None = 2, exclude: Any = None, level: int = 0) -> str:
    """``value`` (records, sections, lists, dicts, enums, text, numbers) as JSON, as pydantic
    wrote it (checker.schemas.json_text). ``exclude``: pydantic's nested form, e.g.
    ``{"pairs": {"__all__": {"plan"}}}``; ``level``: the depth it is written at inside an
    enclosing text."""
    from checker.schemas.json_text import json_text

    return json_text(value, indent=indent, exclude=exclude, level=level)


# record type -> its field names, in order
_NAMES: dict[type, tuple[str, ...]] = {}
# record type -> what reads its field values as a tuple, in order
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
# record type -> what builds one from its field values, in order, as it was pickled
_BUILDERS: dict[type, Callable[..., Any]] = {}


def _names(kind: type) -> tuple[str, ...]:
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


def _getter(kind: type) -> Callable[[Any], tuple[Any, ...]]:
    getter = _GETTERS.get(kind)
    if getter is None:
        names = _names(kind)
        if len(names) > 1:
            getter = attrgetter(*names)
        else:  # attrgetter gives one name's value bare, not in a tuple

            def getter(record: Any) -> tuple[Any, ...]:
                return tuple(getattr(record, name) for name in names)

        _GETTERS[kind] = getter
    return getter


def _rebuilt(kind: type[R], *values: Any) -> R:
    """A pickled record back, as it was (its floats were kept when it was first built)."""
    build = _BUILDERS.get(kind)
    if build is None:
        build = _BUILDERS[kind] = _compiled_builder(kind)
    built: R = build(*values)
    return built


def _compiled_builder(kind: type) -> Callable[..., Any]:
    """``kind``'s unpickler: each field set from its value in order, no loop over the names
    (a fleet's packed plans are unpacked for every report)."""
    names = _names(kind)
    namespace: dict[str, Any] = {"_new": object.__new__, "_kind": kind, "_set": object.__setattr__}
    body = "".join(f"    _set(self, {name!r}, {name})\n" for name in names)
    source = f"def build({', '.join(names)}):\n    self = _new(_kind)\n{body}    return self\n"
    exec(source, namespace)  # noqa: S102 - our own field names, as dataclasses does
    build: Callable[..., Any] = namespace["build"]
    return build


def _compiled_init(kind: type) -> Callable[..., None]:
    """``kind``'s keyword-only ``__init__``: every field set once, a default factory called
    where the field is not given, a whole number given for a float field made a float."""
    module = vars(sys.modules[kind.__module__])
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_UNSET": MISSING}
    params, body = [], []
    for f in fields(kind):
        name = f.name
        value = name
        if f.default is not MISSING:
            namespace[f"_default_{name}"] = f.default
            params.append(f"{name}=_default_{name}")
        elif f.default_factory is not MISSING:
            namespace[f"_factory_{name}"] = f.default_factory
            params.append(f"{name}=_UNSET")
            value = f"_factory_{name}() if {name} is _UNSET else {name}"
        else:
            params.append(name)
        shape = _float_shape(f.type, module)
        if shape == "float":
            body.append(
                f"if {name} is not None and type({name}) is not float: {name} = float({name})"
            )
        elif shape == "pair":
            body.append(
                f"if {name} is not None and (type({name}) is not tuple or "
                f"any(type(v) is not float for v in {name})): "
                f"{name} = tuple(float(v) for v in {name})"
            )
        body.append(f"_set(self, {name!r}, {value})")
    signature = f"self, *, {', '.join(params)}" if params else "self"
    return compile_init(kind, signature, body, namespace)


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
