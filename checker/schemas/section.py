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
tests/schemas/test_section.py holds each rule against pydantic's.
"""

from __future__ import annotations

import enum
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, cast

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
_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "MISSING"})()
_FAIL: Any = type("_Fail", (), {"__repr__": lambda self: "FAIL"})()
_SET = object.__setattr__


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
    *,
    extra: Literal["forbid", "ignore"] = "forbid",
    allow_inf_nan: bool = True,
    frozen: bool = True,
    protected_namespaces: tuple[str, ...] = (),
    defer_build: bool = True,
    arbitrary_types_allowed: bool = True,
) -> dict[str, Any]:
    """A section's settings; sections are always frozen and always built on first use."""
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
        default: Any = _MISSING,
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
        return self.default is _MISSING and self.default_factory is None

    def get_default(self, *, call_default_factory: bool = False) -> Any:
        if self.default_factory is not None:
            return self.default_factory() if call_default_factory else None
        return None if self.default is _MISSING else self.default

    def __repr__(self) -> str:
        return f"FieldInfo({self.name}: {self.annotation!r})"


def Field(  # noqa: N802, PLR0913 - pydantic's spelling and keywords
    default: Any = _MISSING,
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


def _problem(kind: str, loc: tuple[Any, ...], msg: str, value: Any, **ctx: Any) -> dict[str, Any]:
    found = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        found["ctx"] = ctx
    return found


# A checker takes (value, loc, problems) and gives the validated value, or _FAIL having
# appended what is wrong to problems.
Checker = Callable[[Any, tuple[Any, ...], list[dict[str, Any]]], Any]


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
            declared = vars(cls).get(name, _MISSING)
            info = declared if isinstance(declared, FieldInfo) else FieldInfo(declared)
            if isinstance(declared, FieldInfo) or declared is not _MISSING:
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
        _SET(self, "_section_set", built._section_set)

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """A section from a mapping (or the section itself), or ValidationError."""
        if type(obj) is cls:
            return obj
        problems: list[dict[str, Any]] = []
        built = _validator(cls)(obj, (), problems)
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
            elif info.default is not _MISSING:
                state[name] = info.default
        given = cls.model_fields.keys() & values if _fields_set is None else _fields_set
        _SET(section, "_section_set", frozenset(given))
        return section

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """This section with ``update``'s fields replaced, unvalidated (as pydantic does)."""
        copy = object.__new__(type(self))
        state = {k: v for k, v in self.__dict__.items() if k in self.model_fields}
        state.update(update or {})
        _SET(copy, "_section_set", self._section_set | frozenset(update or ()))
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
        _SET(self, "_section_set", given)

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
        every = _hints(cls)
        hints = {name: every.get(name) for name in cls.model_fields}
        inferred = frozenset(name for name, hint in hints.items() if _holds_any(hint))
        floats = frozenset(name for name, hint in hints.items() if _is_float(hint))
        found = _JSON_KINDS[cls] = (inferred, floats)
    return found


def _is_float(annotation: Any) -> bool:
    """``float``, strict or bounded, or with None."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _is_float(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(kinds) == 1 and _is_float(kinds[0])
    return annotation is float


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


def _validator(cls: type[Section]) -> Callable[[Any, tuple[Any, ...], list[Any]], Any]:
    check = cls.__section_validate__
    if check is None:
        check = _compile_section(cls)
        cls.__section_validate__ = check
    return check


def _compile_section(cls: type[Section]) -> Callable[[Any, tuple[Any, ...], list[Any]], Any]:
    config = cls.model_config
    finite = not config.get("allow_inf_nan", True)
    forbid = config.get("extra", "forbid") == "forbid"
    hints = _hints(cls)
    before: dict[str, list[Callable[..., Any]]] = {}
    after: dict[str, list[Callable[..., Any]]] = {}
    model_checks = []
    rewrites = []
    for hook in cls.__section_hooks__:
        if hook.mode == "model_after":
            model_checks.append(hook.func)
            continue
        if hook.mode == "model_before":
            rewrites.append(_bound(cls, hook.func, ""))
            continue
        for name in hook.fields:
            (before if hook.mode == "before" else after).setdefault(name, []).append(
                _bound(cls, hook.func, name)
            )
    plan = []
    for name, info in cls.model_fields.items():
        info.annotation = hints.get(name, info.annotation)
        checker = _checker(info.annotation, info.limits, strict=False, finite=finite)
        plan.append((name, info, checker, before.get(name, ()), after.get(name, ())))
    known = frozenset(cls.model_fields)
    new = object.__new__

    def check(data: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if isinstance(data, cls):
            return data
        if rewrites:
            data = _run_hooks(rewrites, data, loc, problems)
            if data is _FAIL:
                return _FAIL
        if not isinstance(data, Mapping):
            problems.append(
                _problem(
                    "model_type",
                    loc,
                    f"Input should be a valid dictionary or instance of {cls.__name__}",
                    data,
                    class_name=cls.__name__,
                )
            )
            return _FAIL
        before_count = len(problems)
        state: dict[str, Any] = {}
        for name, info, checker, befores, afters in plan:
            if name not in data:
                if info.default_factory is not None:
                    state[name] = info.default_factory()
                elif info.default is not _MISSING:
                    state[name] = info.default
                else:
                    problems.append(_problem("missing", (*loc, name), "Field required", data))
                continue
            value = _run_hooks(befores, data[name], (*loc, name), problems)
            if value is not _FAIL:
                value = checker(value, (*loc, name), problems)
            if value is not _FAIL:
                value = _run_hooks(afters, value, (*loc, name), problems, given=data[name])
            state[name] = value
        if forbid:
            problems.extend(_extra(k, data[k], loc) for k in data if k not in known)
        if len(problems) > before_count:
            return _FAIL
        section = new(cls)
        _SET(section, "_section_set", known.intersection(data))
        section.__dict__.update(state)
        if model_checks:
            section = _run_hooks(model_checks, section, loc, problems, given=data)
        return section

    return check


def _extra(key: Any, value: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    if isinstance(key, str):
        return _problem("extra_forbidden", (*loc, key), "Extra inputs are not permitted", value)
    # YAML's "1: x" or "null: x": pydantic refuses the key itself
    return _problem("invalid_key", (*loc, _loc_part(key)), "Keys should be strings", key)


def _loc_part(key: Any) -> Any:
    """A key in an error's location as pydantic gives it: text or a 64-bit int as it is,
    anything else as text."""
    if isinstance(key, str) or (type(key) is int and -_I64 <= key < _I64):
        return key
    return str(key)


def _hints(cls: type[Section]) -> dict[str, Any]:
    """Each field's annotation as a type; postponed (text) ones are evaluated in their
    module, as typing.get_type_hints does."""
    found: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        module = vars(__import__(base.__module__, fromlist=["_"]))
        for name, annotation in vars(base).get("__annotations__", {}).items():
            if isinstance(annotation, str):
                annotation = eval(annotation, module, dict(vars(base)))  # noqa: S307 - ours
            found[name] = annotation
    return found


def _bound(cls: type, func: Any, name: str) -> Callable[[Any], Any]:
    """A field validator as a function of the value: classmethod bound, info given if asked."""
    plain = func.__func__ if isinstance(func, classmethod) else func
    bound = plain.__get__(cls, cls) if isinstance(func, classmethod) else plain
    if plain.__code__.co_argcount >= 3:
        info = ValidationInfo(name)
        return lambda value: bound(value, info)
    return cast(Callable[[Any], Any], bound)


def _run_hooks(
    hooks: Iterable[Callable[[Any], Any]],
    value: Any,
    loc: tuple[Any, ...],
    problems: list[dict[str, Any]],
    *,
    given: Any = _MISSING,
) -> Any:
    """``value`` through each hook in turn; a hook's ValueError is a problem at ``loc`` (with
    ``given`` as its input, where that is not the value: a model check's raw mapping, an after
    validator's field as written)."""
    try:
        for hook in hooks:
            value = hook(value)
    except (ValueError, AssertionError) as exc:
        problems.append(_value_problem(exc, loc, value if given is _MISSING else given))
        return _FAIL
    return value


def _value_problem(exc: Exception, loc: tuple[Any, ...], value: Any) -> dict[str, Any]:
    if isinstance(exc, ValidationError):  # a nested section built inside a validator
        first = exc.errors()[0]
        return {**first, "loc": (*loc, *first["loc"])}
    kind = "assertion_error" if isinstance(exc, AssertionError) else "value_error"
    words = "Assertion failed" if kind == "assertion_error" else "Value error"
    return _problem(kind, loc, f"{words}, {exc}", value, error=exc)


def _checker(annotation: Any, limits: dict[str, Any], *, strict: bool, finite: bool) -> Checker:
    """The checker for one annotation with its field's limits."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner, *extras = typing.get_args(annotation)
        merged = dict(limits)
        befores = []
        for extra in extras:
            if extra is STRICT:
                strict = True
            elif isinstance(extra, FieldInfo):
                merged.update(extra.limits)
            elif isinstance(extra, BeforeValidator):
                befores.append(extra.func)
        checker = _checker(inner, merged, strict=strict, finite=finite)
        if not befores:
            return checker
        return _with_befores(befores, checker)
    if origin in (Union, types.UnionType):
        return _union(typing.get_args(annotation), limits, strict=strict, finite=finite)
    if annotation is Any:
        return _any
    if annotation is type(None) or annotation is None:
        return _none
    if origin is Literal:
        return _literal(typing.get_args(annotation))
    if origin in (list, tuple, set, frozenset):
        return _sequence(annotation, origin, limits, strict=strict, finite=finite)
    if origin is dict or annotation is dict:
        args = typing.get_args(annotation) or (Any, Any)
        keys = _checker(args[0], {}, strict=strict, finite=finite)
        values = _checker(args[1], {}, strict=strict, finite=finite)
        most = limits.get("max_length")
        return _limited(_mapping(keys, values, most), limits, "Dictionary")
    if isinstance(annotation, type):
        if issubclass(annotation, Section):
            return _nested(annotation)
        if issubclass(annotation, enum.Enum):
            return _enum(annotation)
        if annotation is bool:
            return _bool_strict if strict else _bool_lax
        if annotation is int:
            return _limited(_int_strict if strict else _int_lax, limits)
        if annotation is float:
            base = _float_strict if strict else _float_lax
            return _limited(_finite(base) if finite else base, limits, number=float)
        if annotation is str:
            return _limited(_str_strict if strict else _str, limits)
        return _instance(annotation)
    if isinstance(origin, type):  # re.Pattern[str] and the like
        return _instance(origin)
    raise TypeError(f"a Section field cannot be {annotation!r}")


def _with_befores(befores: list[Callable[[Any], Any]], checker: Checker) -> Checker:
    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        value = _run_hooks(befores, value, loc, problems)
        return _FAIL if value is _FAIL else checker(value, loc, problems)

    return check


def _any(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    return value


def _none(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if value is None:
        return None
    problems.append(_problem("none_required", loc, "Input should be None", value))
    return _FAIL


def _union(args: tuple[Any, ...], limits: dict[str, Any], *, strict: bool, finite: bool) -> Checker:
    """``X | Y | None``, as pydantic's smart unions: None where allowed, else the first branch
    that takes the value strictly and keeps its type (1 stays an int in ``float | int``), else
    the first that takes it strictly, else the first that takes it at all."""
    nullable = type(None) in args
    kinds = [a for a in args if a is not type(None)]
    lax = [_checker(a, limits, strict=strict, finite=finite) for a in kinds]
    if len(kinds) == 1:
        (only,) = lax

        def optional(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
            if value is None and nullable:
                return None
            return only(value, loc, problems)

        return optional

    exact = lax if strict else [_checker(a, limits, strict=True, finite=finite) for a in kinds]
    labels = [_label(a, limits) for a in kinds]

    def either(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if value is None and nullable:
            return None
        taken = _FAIL
        for checker in exact:
            result = checker(value, loc, [])
            if result is not _FAIL:
                if type(result) is type(value):
                    return result
                if taken is _FAIL:
                    taken = result
        if taken is not _FAIL:
            return taken
        found: list[dict[str, Any]] = []
        for checker, label in zip(lax, labels, strict=True):
            tried: list[dict[str, Any]] = []
            result = checker(value, (*loc, label), tried)
            if result is not _FAIL:
                return result
            found.extend(tried)
        problems.extend(found)
        return _FAIL

    return either


def _label(annotation: Any, limits: dict[str, Any] | None = None) -> str:
    """A union branch's name in an error's location, as pydantic-core names its validator
    (``constrained-int``, ``dict[str,any]``, ``function-before[f(), int]``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        merged = dict(limits or {})
        for extra in args[1:]:
            if isinstance(extra, FieldInfo):
                merged.update(extra.limits)
        label = _label(args[0], merged)
        for extra in args[1:]:
            if isinstance(extra, BeforeValidator):
                label = f"function-before[{extra.func.__name__}(), {label}]"
        return label
    if origin is Literal:
        return f"literal[{','.join(repr(a) for a in args)}]"
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"tuple[{_label(args[0])}, ...]"
        return f"tuple[{', '.join(_label(a) for a in args)}]"
    if origin in (list, set, frozenset) or annotation in (list, set, frozenset):
        return f"{(origin or annotation).__name__}[{_label(args[0] if args else Any)}]"
    if origin is dict or annotation is dict:
        key, value = args or (Any, Any)
        return f"dict[{_label(key)},{_label(value)}]"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        kind = next((k for k in (str, int, float) if issubclass(annotation, k)), None)
        return f"{kind.__name__ + '-' if kind else ''}enum[{annotation.__name__}]"
    name = getattr(annotation, "__name__", str(annotation))
    if annotation in (int, float, str) and limits:
        return f"constrained-{name}"
    return name


def _expected(values: Iterable[Any]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _literal(allowed: tuple[Any, ...]) -> Checker:
    words = _expected(allowed)
    whole = {option: option for option in allowed if type(option) is int}

    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        for option in allowed:
            if value == option and type(value) is type(option):
                return option
            if isinstance(option, str) and isinstance(value, str) and value == option:
                return option
        if whole:
            found = _lax_whole(value, whole, loc, problems)
            if found is not _MISSING:
                return found
        problems.append(
            _problem("literal_error", loc, f"Input should be {words}", value, expected=words)
        )
        return _FAIL

    return check


def _lax_whole(
    value: Any, options: dict[int, Any], loc: tuple[Any, ...], problems: list[Any]
) -> Any:
    """Where whole numbers are allowed (``options``: each whole number's result), pydantic's
    lax reading of a literal or enum: true is 1 and 1.0 is 1, and an int past 64 bits is a
    size error (_FAIL); _MISSING where that does not apply."""
    if type(value) is bool or (type(value) is float and value.is_integer()):
        return options.get(int(value), _MISSING)
    if type(value) is int and not -_I64 <= value < _I64:
        problems.append(_problem("int_parsing_size", loc, _SIZE_WORDS, value))
        return _FAIL
    return _MISSING


def _enum(kind: type[enum.Enum]) -> Checker:
    by_value = {member.value: member for member in kind}
    words = _expected(by_value)
    whole = {member.value: member for member in kind if type(member.value) is int}

    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if isinstance(value, kind):
            return value
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            found = by_value.get(value)
            if found is not None:
                return found
        if whole:
            member = _lax_whole(value, whole, loc, problems)
            if member is not _MISSING:
                return member
        problems.append(_problem("enum", loc, f"Input should be {words}", value, expected=words))
        return _FAIL

    return check


def _nested(kind: type[Section]) -> Checker:
    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if type(value) is kind:  # a section passed on whole (a profile's default SLO targets)
            return value
        return _validator(kind)(value, loc, problems)

    return check


def _instance(kind: type) -> Checker:
    """Any other class: an instance of it, as given."""

    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if isinstance(value, kind):
            return value
        problems.append(
            _problem(
                "is_instance_of",
                loc,
                f"Input should be an instance of {kind.__name__}",
                value,
                class_name=kind.__name__,
            )
        )
        return _FAIL

    return check


def _sequence(
    annotation: Any, origin: type, limits: dict[str, Any], *, strict: bool, finite: bool
) -> Checker:
    args = typing.get_args(annotation)
    fixed = origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis)
    if fixed:
        items = [_checker(a, {}, strict=strict, finite=finite) for a in args]
    else:
        item = _checker(args[0] if args else Any, {}, strict=strict, finite=finite)
    kind = origin.__name__
    error = "frozen_set_type" if origin is frozenset else f"{kind}_type"
    taken = (list, tuple, set, frozenset)  # a set too: YAML's !!set
    # pydantic counts a list and a fixed tuple before reading their items, a tuple or a set
    # as it reads them (past the limit, the count is the one error), and a tuple short of its
    # min_length as the items it read well, beside the errors of the others
    most = len(args) if fixed else limits.get("max_length") if origin is list else None
    running = None if fixed or origin is list else limits.get("max_length")
    least = limits.get("min_length") if origin is tuple and not fixed else None

    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if not isinstance(value, taken) or (strict and type(value) is not origin):
            problems.append(_problem(error, loc, f"Input should be a valid {kind}", value))
            return _FAIL
        value = cast(list[Any], value)
        if most is not None and len(value) > most:
            problems.append(_length_problem("too_long", loc, value, value, most, kind.title()))
            return _FAIL
        out: list[Any] | set[Any]
        count = len(problems)
        if fixed:  # as pydantic: each item read, each one short of the tuple's missing
            out = [
                c(v, (*loc, i), problems)
                for i, (c, v) in enumerate(zip(items, value, strict=False))
            ]
            problems.extend(
                _problem("missing", (*loc, i), "Field required", value)
                for i in range(len(value), len(items))
            )
        else:
            out = set() if origin in (set, frozenset) else []
            for i, v in enumerate(value):
                result = item(v, (*loc, i), problems)
                if result is _FAIL:
                    continue
                if isinstance(out, set):
                    out.add(result)
                else:
                    out.append(result)
                if running is not None and len(out) > running:
                    del problems[count:]
                    problems.append(
                        _length_problem("too_long", loc, value, value, running, kind.title())
                    )
                    return _FAIL
            if least is not None and len(problems) > count and len(out) < least:
                problems.append(_length_problem("too_short", loc, value, out, least, "Tuple"))
        if len(problems) > count:
            return _FAIL
        return origin(out)

    return _limited(check, limits, kind.title())


def _mapping(keys: Checker, values: Checker, most: int | None) -> Checker:
    """A dict; pydantic counts its entries as it reads them: past ``most`` (max_length) the
    count is the one error."""

    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if not isinstance(value, Mapping):
            problems.append(_problem("dict_type", loc, "Input should be a valid dictionary", value))
            return _FAIL
        count = len(problems)
        out = {}
        for key, item in value.items():
            where = (*loc, _loc_part(key))
            k = keys(key, (*where, "[key]"), problems)
            v = values(item, where, problems)
            if k is _FAIL or v is _FAIL:
                continue
            out[k] = v
            if most is not None and len(out) > most:
                del problems[count:]
                problems.append(_length_problem("too_long", loc, value, out, most, "Dictionary"))
                return _FAIL
        return _FAIL if len(problems) > count else out

    return check


# in pydantic-core's order, which decides the error where several fail (a nan fails all)
_BOUNDS: tuple[tuple[str, str, str, Callable[[Any, Any], bool]], ...] = (
    ("le", "less_than_equal", "less than or equal to", lambda v, b: v <= b),
    ("lt", "less_than", "less than", lambda v, b: v < b),
    ("ge", "greater_than_equal", "greater than or equal to", lambda v, b: v >= b),
    ("gt", "greater_than", "greater than", lambda v, b: v > b),
)


def _limited(
    checker: Checker, limits: dict[str, Any], field_type: str = "", number: type = int
) -> Checker:
    """``checker`` followed by the field's bounds, lengths and pattern; an error shows the
    value as given, as pydantic's do. ``field_type``: a collection's name in its length errors
    (``List``, ``Dictionary``), none for text; ``number``: the type of a bound in an error's
    ctx (a float field's ``le=1`` is 1.0 there, as pydantic's)."""
    if not limits:
        return checker
    bounds = [
        (key, kind, f"{words} {_number_words(limits[key])}", test, limits[key], number(limits[key]))
        for key, kind, words, test in _BOUNDS
        if key in limits
    ]
    least, most = limits.get("min_length"), limits.get("max_length")
    pattern = limits.get("pattern")
    search = re.compile(pattern).search if pattern is not None else None

    def check(given: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        value = checker(given, loc, problems)
        if value is _FAIL:
            return _FAIL
        for key, kind, words, test, bound, shown_bound in bounds:
            if not test(value, bound):
                problems.append(
                    _problem(kind, loc, f"Input should be {words}", given, **{key: shown_bound})
                )
                return _FAIL
        if least is not None and len(value) < least:
            problems.append(_length_problem("too_short", loc, given, value, least, field_type))
            return _FAIL
        if most is not None and len(value) > most:
            problems.append(_length_problem("too_long", loc, given, value, most, field_type))
            return _FAIL
        if search is not None and not search(value):
            problems.append(
                _problem(
                    "string_pattern_mismatch",
                    loc,
                    f"String should match pattern '{pattern}'",
                    given,
                    pattern=pattern,
                )
            )
            return _FAIL
        return value

    return check


def _number_words(bound: float) -> str:
    """A bound in an error's message, as pydantic writes it: 1.0 as 1, 0.5 as 0.5."""
    return str(int(bound)) if isinstance(bound, float) and bound.is_integer() else str(bound)


# pydantic-core stops reading these at their max_length and reports no actual length
_UNCOUNTED = frozenset(("Set", "Frozenset", "Dictionary"))


def _length_problem(
    kind: str, loc: tuple[Any, ...], given: Any, value: Any, limit: int, field_type: str
) -> dict[str, Any]:
    """A too_short or too_long error in pydantic's words and ctx."""
    key = "min_length" if kind == "too_short" else "max_length"
    edge = "least" if kind == "too_short" else "most"
    plural = "" if limit == 1 else "s"
    if not field_type:
        words = f"String should have at {edge} {limit} character{plural}"
        return _problem(f"string_{kind}", loc, words, given, **{key: limit})
    actual = None if kind == "too_long" and field_type in _UNCOUNTED else len(value)
    words = (
        f"{field_type} should have at {edge} {limit} item{plural} after validation, "
        f"not {'more' if actual is None else actual}"
    )
    return _problem(
        kind, loc, words, given, field_type=field_type, **{key: limit}, actual_length=actual
    )


def _str_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, str):
        return value.value if isinstance(value, enum.Enum) else value
    problems.append(_problem("string_type", loc, "Input should be a valid string", value))
    return _FAIL


def _str(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, enum.Enum) and not isinstance(value, str):
        return str(value.value)  # pydantic's lax text of any enum: its value
    if not isinstance(value, (bytes, bytearray)):
        return _str_strict(value, loc, problems)
    text = _decoded(value)  # YAML's !!binary
    if text is None:
        words = "Input should be a valid string, unable to parse raw data as a unicode string"
        problems.append(_problem("string_unicode", loc, words, value))
        return _FAIL
    return text


def _decoded(value: bytes | bytearray) -> str | None:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return None


def _int_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    problems.append(_problem("int_type", loc, "Input should be a valid integer", value))
    return _FAIL


_I64 = 1 << 63
_SIZE_WORDS = "Unable to parse input string as an integer, exceeded maximum size"
# the padding pydantic-core (Rust's trim) takes off a number's text: Unicode's White_Space,
# not the separators \x1c-\x1f that Python's strip also takes
_BLANKS = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
# pydantic-core's whole number as text: ASCII digits, "_" between them, zeros after a point
_WHOLE = f"[{_BLANKS}]*([-+]?[0-9]+(?:_[0-9]+)*)(?:\\.0+)?[{_BLANKS}]*"  # compiled at first use


def _int_lax(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if value.is_integer() and -_I64 < value < _I64:
            return int(value)
        if value.is_integer():
            problems.append(_problem("int_parsing_size", loc, _SIZE_WORDS, value))
        elif value == value and abs(value) != float("inf"):
            words = "Input should be a valid integer, got a number with a fractional part"
            problems.append(_problem("int_from_float", loc, words, value))
        else:
            problems.append(
                _problem("finite_number", loc, "Input should be a finite number", value)
            )
        return _FAIL
    text = (_decoded(value) or "") if isinstance(value, bytes) else value  # YAML's !!binary
    if isinstance(text, str):
        whole = re.fullmatch(_WHOLE, text)
        if whole is not None:
            return int(whole[1])
        words = "Input should be a valid integer, unable to parse string as an integer"
        problems.append(_problem("int_parsing", loc, words, value))
        return _FAIL
    if isinstance(value, enum.Enum) and type(value.value) is int:
        return value.value
    problems.append(_problem("int_type", loc, "Input should be a valid integer", value))
    return _FAIL


def _float_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    problems.append(_problem("float_type", loc, "Input should be a valid number", value))
    return _FAIL


def _float_lax(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, (int, float)):
        return float(value)
    text = (_decoded(value) or "") if isinstance(value, bytes) else value  # YAML's !!binary
    stripped = text.strip(_BLANKS) if isinstance(text, str) else ""
    if stripped.isascii():  # pydantic reads no other script's digits
        try:
            return float(stripped)
        except ValueError:
            pass
    if isinstance(text, str):
        words = "Input should be a valid number, unable to parse string as a number"
        problems.append(_problem("float_parsing", loc, words, value))
        return _FAIL
    problems.append(_problem("float_type", loc, "Input should be a valid number", value))
    return _FAIL


def _finite(checker: Checker) -> Checker:
    def check(given: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        value = checker(given, loc, problems)
        if value is not _FAIL and (value != value or value in (float("inf"), float("-inf"))):
            problems.append(
                _problem("finite_number", loc, "Input should be a finite number", given)
            )
            return _FAIL
        return value

    return check


def _bool_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, bool):
        return value
    problems.append(_problem("bool_type", loc, "Input should be a valid boolean", value))
    return _FAIL


_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("0", "off", "f", "false", "n", "no"))


def _bool_lax(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    text = (_decoded(value) or "") if isinstance(value, bytes) else value  # YAML's !!binary
    if isinstance(text, str):
        lowered = text.lower()  # not stripped: pydantic takes " true" for no boolean
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
    # pydantic parses text and 64-bit whole numbers (any but 0 and 1 is a parsing error);
    # other numbers and types are of the wrong type
    whole = type(value) is int or (type(value) is float and value.is_integer())
    parsed = isinstance(value, (str, bytes)) or (whole and -_I64 <= value < _I64)
    if parsed:
        words = "Input should be a valid boolean, unable to interpret input"
        problems.append(_problem("bool_parsing", loc, words, value))
    else:
        problems.append(_problem("bool_type", loc, "Input should be a valid boolean", value))
    return _FAIL
