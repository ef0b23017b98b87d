"""Sections of the files and requests we read, validated by our own code instead of pydantic.

A cold ``check`` or ``plan`` (a pre-commit hook, issue 17) paid for pydantic twice: importing it
is most of what ``import yaml; from pydantic import BaseModel`` costs, and each model's validator
is generated at first use. A ``Section`` is declared like a pydantic model (annotations,
``Field(...)``, ``field_validator``, ``model_validator``, ``model_config``) and answers the same
calls the code makes (``model_validate``, ``model_dump``, ``model_copy``, ``model_fields``,
``model_construct``), but defining one costs a dictionary, and its validator is a handful of
closures compiled from the annotations at first use.

Validation follows pydantic 2's rules for the types we declare, so files keep their meaning:
- ``int``: a whole number; lax (the default) also takes true/false, an integral float within
  64 bits and ASCII digits as text (``" 5 "``, ``"1_000"``, ``"5.0"``). ``float``: a number, an
  int kept as float; lax also takes true/false and text. ``bool``: lax also takes 0/1 and
  yes/no/on/off/true/false text in any case (not padded). ``str``: text only. Lax, each also
  reads YAML's ``!!binary`` bytes as text. ``StrictInt``/``StrictFloat``/``StrictBool`` take
  only their own type (an int is a float).
- enums and ``Literal`` take their values (an int one also true and 1.0 for 1); ``X | None``;
  unions (the first branch that takes the value strictly keeping its type, else strictly, else
  at all; errors located by pydantic's branch names); ``list``/``tuple``/``set`` (from a list,
  tuple or set), ``dict``, nested sections (a mapping or an instance), ``Any``.
- ``Field`` bounds (gt/ge/lt/le), lengths (min_length/max_length) and ``pattern`` (searched);
  ``allow_inf_nan=False`` refuses inf and nan; ``extra="forbid"`` refuses unknown keys (and
  keys that are not text).
- defaults are not validated; a default factory is called for each section built.
Errors are collected, not raised at the first: ``ValidationError.errors()`` gives pydantic's
shape (type, loc, msg, input, ctx), which ``error_words`` puts in the user's terms.
The validator itself is compiled by checker.schemas.section_checks; tests/schemas/
test_section.py holds each rule against pydantic's.
"""

from __future__ import annotations

import copy
import enum
import sys
import types
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

if sys.version_info >= (3, 11):  # typing_extensions (and the inspect it loads) off each start
    from typing import Self, dataclass_transform
else:
    from typing_extensions import Self, dataclass_transform

__all__ = [
    "BeforeValidator",
    "ConfigDict",
    "Field",
    "FieldInfo",
    "PrivateAttr",
    "Section",
    "StrictBool",
    "StrictFloat",
    "StrictInt",
    "ValidationError",
    "ValidationInfo",
    "field_validator",
    "model_validator",
]

_F = TypeVar("_F")
MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()
FAIL: Any = type("_Fail", (), {"__repr__": lambda self: "FAIL"})()
SET_SLOT = object.__setattr__


class _Strict:
    """Marks a type as strict inside ``Annotated``."""

    __slots__ = ()


STRICT = _Strict()
StrictInt = Annotated[int, STRICT]
StrictFloat = Annotated[float, STRICT]
StrictBool = Annotated[bool, STRICT]


class BeforeValidator:
    """``Annotated[T, BeforeValidator(f)]``: ``f`` sees the value before ``T`` checks it."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


def ConfigDict(  # noqa: N802 - spelled as pydantic spells it, for the declarations
    *, extra: Literal["forbid", "ignore"] = "forbid", allow_inf_nan: bool = True
) -> dict[str, Any]:
    """A section's settings (a section is always frozen, its validator built on first use, and
    a field may hold any class: an instance of it is taken as is)."""
    return {"extra": extra, "allow_inf_nan": allow_inf_nan}


class FieldInfo:
    """What a field declares: its default and constraints, its words for the JSON Schema."""

    __slots__ = (
        "annotation",
        "default",
        "default_factory",
        "description",
        "examples",
        "exclude",
        "exclude_if",
        "json_schema_extra",
        "limits",
        "name",
    )

    def __init__(
        self,
        default: Any = MISSING,
        *,
        default_factory: Callable[[], Any] | None = None,
        description: str | None = None,
        examples: list[Any] | None = None,
        json_schema_extra: dict[str, Any] | None = None,
        limits: dict[str, Any] | None = None,
        exclude: bool = False,
        exclude_if: Callable[[Any], bool] | None = None,
    ) -> None:
        self.exclude = exclude
        self.exclude_if = exclude_if
        self.name = ""
        self.annotation: Any = None
        self.default = default
        self.default_factory = default_factory
        self.description = description
        self.examples = examples
        self.json_schema_extra = json_schema_extra
        self.limits = limits or {}

    def is_required(self) -> bool:
        return self.default is MISSING and self.default_factory is None

    def get_default(self, *, call_default_factory: bool = False) -> Any:
        if self.default_factory is not None:
            return self.default_factory() if call_default_factory else None
        return None if self.default is MISSING else self.default

    def __repr__(self) -> str:
        return f"FieldInfo({self.name}: {self.annotation!r})"


def Field(  # noqa: N802, PLR0913 - pydantic's spelling and keywords
    default: Any = MISSING,
    *,
    default_factory: Callable[[], Any] | None = None,
    description: str | None = None,
    examples: list[Any] | None = None,
    json_schema_extra: dict[str, Any] | None = None,
    exclude: bool = False,
    exclude_if: Callable[[Any], bool] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
) -> Any:
    """A field's default and constraints, as a class attribute or in ``Annotated``."""
    given = {
        "gt": gt,
        "ge": ge,
        "lt": lt,
        "le": le,
        "min_length": min_length,
        "max_length": max_length,
        "pattern": pattern,
    }
    return FieldInfo(
        default,
        default_factory=default_factory,
        description=description,
        examples=examples,
        json_schema_extra=json_schema_extra,
        limits={k: v for k, v in given.items() if v is not None},
        exclude=exclude,
        exclude_if=exclude_if,
    )


def PrivateAttr(default: Any) -> Any:  # noqa: N802 - pydantic's spelling
    """State beside the fields, not validated nor compared: its default is a class attribute."""
    return default


class ValidationInfo:
    """What a field validator taking a second argument is told: the field's name."""

    __slots__ = ("field_name",)

    def __init__(self, field_name: str) -> None:
        self.field_name = field_name


class _Hook:
    """A declared validator, found in the class body when the class is defined."""

    __slots__ = ("fields", "func", "mode")

    def __init__(self, func: Any, fields: tuple[str, ...], mode: str) -> None:
        self.func, self.fields, self.mode = func, fields, mode


def field_validator(*fields: str, mode: Literal["before", "after"] = "after") -> Callable[[_F], _F]:
    """``@field_validator("a", "b", mode=...)`` over a classmethod ``(cls, value[, info])``."""

    def mark(func: _F) -> _F:
        return _Hook(func, fields, mode)  # type: ignore[return-value]  # unwrapped by the class

    return mark


def model_validator(*, mode: Literal["before", "after"]) -> Callable[[_F], _F]:
    """``@model_validator(mode="after")`` over a method that checks the built section;
    ``mode="before"`` over a classmethod that rewrites the raw input first."""

    def mark(func: _F) -> _F:
        return _Hook(func, (), f"model_{mode}")  # type: ignore[return-value]  # unwrapped

    return mark


class ValidationError(ValueError):
    """Every problem found in one input, as pydantic's ``ValidationError`` lists them."""

    def __init__(self, title: str, problems: list[dict[str, Any]]) -> None:
        self.title = title
        self._problems = problems
        super().__init__(self.__str__())

    def errors(self) -> list[dict[str, Any]]:
        return [dict(p) for p in self._problems]

    def error_count(self) -> int:
        return len(self._problems)

    def __str__(self) -> str:
        lines = [f"{len(self._problems)} validation error(s) for {self.title}"]
        for p in self._problems:
            lines.append(".".join(map(str, p["loc"])) or "(top level)")
            lines.append(f"  {p['msg']} [type={p['type']}]")
        return "\n".join(lines)


def problem(kind: str, loc: tuple[Any, ...], msg: str, value: Any, **ctx: Any) -> dict[str, Any]:
    found = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        found["ctx"] = ctx
    return found


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(Field,))
class Section:
    """Base of the sections: see the module's docstring."""

    model_config: ClassVar[dict[str, Any]] = {}
    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    # field validators, model validators, the compiled checker: set per class
    __section_hooks__: ClassVar[tuple[_Hook, ...]] = ()  # its own and its bases'
    __section_own_hooks__: ClassVar[tuple[_Hook, ...]] = ()
    __section_validate__: ClassVar[Callable[[Any, tuple[Any, ...], list[Any]], Any] | None]
    # the fields the input gave, beside (not in) __dict__, which holds only field values and
    # cached properties, as pydantic's did
    __slots__ = ("_section_set", "__dict__", "__weakref__")
    _section_set: frozenset[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields: dict[str, FieldInfo] = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "model_fields", {}))
        hooks = [h for base in cls.__mro__[1:] for h in vars(base).get("__section_own_hooks__", ())]
        own_hooks = []
        for name, value in list(vars(cls).items()):
            if isinstance(value, _Hook):  # the method itself stays callable on the class
                own_hooks.append(value)
                setattr(cls, name, value.func)
        for name, annotation in vars(cls).get("__annotations__", {}).items():
            if name.startswith("_") or name in ("model_config",):
                continue
            if _is_classvar(annotation):
                continue
            declared = vars(cls).get(name, MISSING)
            info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
            if info.name:  # one declaration shared by two sections: each names its own copy
                info = copy.copy(info)
            if isinstance(declared, FieldInfo) or declared is not MISSING:
                delattr(cls, name)
            info.name, info.annotation = name, annotation
            fields[name] = info
        cls.model_fields = fields
        cls.__section_own_hooks__ = tuple(own_hooks)
        cls.__section_hooks__ = (*hooks, *own_hooks)
        cls.__section_validate__ = None

    # -- building ---------------------------------------------------------------------------

    def __init__(self, **data: Any) -> None:
        built = type(self).model_validate(data)
        self.__dict__.update(built.__dict__)
        SET_SLOT(self, "_section_set", built._section_set)

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """A section from a mapping (or the section itself), or ValidationError."""
        if type(obj) is cls:
            return obj
        problems: list[dict[str, Any]] = []
        built = validator_of(cls)(obj, (), problems)
        if problems:
            raise ValidationError(cls.__name__, problems)
        return built  # type: ignore[no-any-return]

    @classmethod
    def model_validate_json(cls, text: str | bytes) -> Self:
        """A section from JSON text (a JSON syntax error is a ValueError)."""
        import json  # only the files written as JSON need it

        return cls.model_validate(json.loads(text))

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Self:
        """A section from trusted values, unvalidated; left-out fields take their defaults."""
        section = object.__new__(cls)
        state = section.__dict__
        for name, info in cls.model_fields.items():
            if name in values:
                state[name] = values[name]
            elif info.default_factory is not None:
                state[name] = info.default_factory()
            elif info.default is not MISSING:
                state[name] = info.default
        given = cls.model_fields.keys() & values if _fields_set is None else _fields_set
        SET_SLOT(section, "_section_set", frozenset(given))
        return section

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """This section with ``update``'s fields replaced, unvalidated (as pydantic does)."""
        copy = object.__new__(type(self))
        state = {k: v for k, v in self.__dict__.items() if k in self.model_fields}
        state.update(update or {})
        SET_SLOT(copy, "_section_set", self._section_set | frozenset(update or ()))
        copy.__dict__.update(state)
        return copy

    # -- reading ----------------------------------------------------------------------------

    @property
    def model_fields_set(self) -> set[str]:
        """The fields the input gave (not left to their defaults)."""
        return set(self._section_set)

    def _field_values(self) -> tuple[Any, ...]:
        state = self.__dict__
        return tuple(state[name] for name in self.model_fields)

    def model_dump(
        self,
        *,
        mode: Literal["python", "json"] = "python",
        exclude: Any = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
    ) -> dict[str, Any]:
        """The fields as a dictionary, nested sections as dictionaries; ``mode="json"`` writes
        enums as their values, tuples and sets as lists, bytes and dates as text, and an inf or
        nan under a field typed Any as None, as pydantic did. ``exclude``: names, or pydantic's
        nested form ``{"section": {"field"}, "sections": {"__all__": {"field"}}}``."""
        out: dict[str, Any] = {}
        inferred, floats = _json_kinds(type(self)) if mode == "json" else ((), ())
        for name, info in self.model_fields.items():
            if info.exclude:
                continue
            inner = None
            if exclude is not None and name in exclude:
                inner = exclude[name] if isinstance(exclude, Mapping) else True
                if inner is True or inner is ...:
                    continue
            if exclude_unset and name not in self._section_set:
                continue
            value = self.__dict__[name]
            if info.exclude_if is not None and info.exclude_if(value):
                continue
            if (
                exclude_defaults
                and not info.is_required()
                and value == info.get_default(call_default_factory=True)
            ):
                continue
            out[name] = _dumped(value, mode, inner, exclude_unset, exclude_defaults)
            if name in inferred:
                out[name] = _nulled(out[name])
            elif name in floats and type(value) is int:  # set unvalidated (a copy's update)
                out[name] = float(value)
        return out

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """The fields as JSON, as pydantic wrote them."""
        from checker.schemas.json_text import json_text

        return json_text(self, indent=indent)

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        """The section's JSON Schema (draft 2020-12), laid out as pydantic laid it out."""
        from checker.schemas.section_schema import json_schema

        return json_schema(cls)

    # -- behaving as a frozen value ---------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # private state beside the fields (PrivateAttr)
            self.__dict__[name] = value
            return
        raise TypeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise TypeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Section)
        return self._field_values() == other._field_values()

    def __hash__(self) -> int:
        return hash(self._field_values())

    def __repr__(self) -> str:
        pairs = zip(self.model_fields, self._field_values(), strict=True)
        shown = ", ".join(f"{n}={v!r}" for n, v in pairs)
        return f"{type(self).__name__}({shown})"

    def __getstate__(self) -> tuple[dict[str, Any], frozenset[str]]:
        return self.__dict__, self._section_set

    def __setstate__(self, state: tuple[dict[str, Any], frozenset[str]]) -> None:
        # pickled (audit's workers): the given fields are a slot, which __setattr__ would miss
        values, given = state
        self.__dict__.update(values)
        SET_SLOT(self, "_section_set", given)

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


def _dumped(
    value: Any, mode: str, exclude: Any, exclude_unset: bool, exclude_defaults: bool
) -> Any:
    if isinstance(value, Section):
        return value.model_dump(
            mode=mode,  # type: ignore[arg-type]
            exclude=None if exclude is None or exclude is True else exclude,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
        )
    if isinstance(value, (list, tuple)):
        inner = exclude.get("__all__") if isinstance(exclude, Mapping) else None  # every item's
        items = [_dumped(v, mode, inner, exclude_unset, exclude_defaults) for v in value]
        return items if mode == "json" or isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        if mode == "json" and not all(type(k) is str for k in value):
            from checker.schemas.json_text import json_key

            value = {json_key(k): v for k, v in value.items()}
        return {
            k: _dumped(v, mode, None, exclude_unset, exclude_defaults) for k, v in value.items()
        }
    if mode != "json" or value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return [_dumped(v, mode, None, exclude_unset, exclude_defaults) for v in value]
    if isinstance(value, (bytes, bytearray)) or hasattr(value, "isoformat"):  # YAML's kinds
        from checker.schemas.json_text import plain_text

        return plain_text(value)
    return value


# section type -> its fields typed Any somewhere (dict[str, Any], ...), its float fields
_JSON_KINDS: dict[type, tuple[frozenset[str], frozenset[str]]] = {}


def _json_kinds(cls: type[Section]) -> tuple[frozenset[str], frozenset[str]]:
    """The fields whose values pydantic's json-mode dump reads by their own type (Any), which
    writes an inf or nan as None there (a float field keeps it), and the float fields, where it
    writes an int as a float."""
    found = _JSON_KINDS.get(cls)
    if found is None:
        every = field_types(cls)
        hints = {name: every.get(name) for name in cls.model_fields}
        inferred = frozenset(name for name, hint in hints.items() if _holds_any(hint))
        floats = frozenset(name for name, hint in hints.items() if _is_float(hint))
        found = _JSON_KINDS[cls] = (inferred, floats)
    return found


def single_type(annotation: Any) -> Any:
    """The one type a field holds, past ``Annotated`` and an optional None (``float`` for
    ``StrictFloat | None``); None for a union of several."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return single_type(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return single_type(kinds[0]) if len(kinds) == 1 else None
    return annotation


def _is_float(annotation: Any) -> bool:
    """``float``, strict or bounded, or with None."""
    return single_type(annotation) is float


def _holds_any(annotation: Any) -> bool:
    return annotation is Any or any(_holds_any(a) for a in typing.get_args(annotation))


def _nulled(value: Any) -> Any:
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, list):
        return [_nulled(v) for v in value]
    if isinstance(value, dict):
        return {k: _nulled(v) for k, v in value.items()}
    return value


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return typing.get_origin(annotation) is ClassVar


# -- the validator, compiled from the annotations at first use ------------------------------


def validator_of(cls: type[Section]) -> Callable[[Any, tuple[Any, ...], list[Any]], Any]:
    check = cls.__section_validate__
    if check is None:
        from checker.schemas.section_checks import compile_section

        check = compile_section(cls)
        cls.__section_validate__ = check
    return check


def field_types(cls: type[Section]) -> dict[str, Any]:
    """Each field's annotation as a type; postponed (text) ones are evaluated in their
    module, as typing.get_type_hints does."""
    found: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        if not issubclass(base, Section) or base is Section:  # Section's own are no fields
            continue
        module = vars(sys.modules[base.__module__])
        for name, annotation in vars(base).get("__annotations__", {}).items():
            if name not in cls.model_fields:
                continue
            if isinstance(annotation, str):
                annotation = eval(annotation, module, dict(vars(base)))  # noqa: S307 - ours
            found[name] = annotation
    return found
