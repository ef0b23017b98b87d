"""How a section's validator is compiled from its annotations at first use (see
checker.schemas.section for the rules it follows): one closure per field type, taking (value,
location, problems) and giving the validated value, or FAIL with what is wrong added to
problems."""

from __future__ import annotations

import enum
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any, Literal, Union, cast

from checker.schemas.section import (
    FAIL,
    MISSING,
    SET_SLOT,
    STRICT,
    BeforeValidator,
    FieldInfo,
    Section,
    ValidationError,
    ValidationInfo,
    field_types,
    problem,
    validator_of,
)

# A checker takes (value, loc, problems) and gives the validated value, or FAIL having
# appended what is wrong to problems.
Checker = Callable[[Any, tuple[Any, ...], list[dict[str, Any]]], Any]


def compile_section(cls: type[Section]) -> Callable[[Any, tuple[Any, ...], list[Any]], Any]:
    config = cls.model_config
    finite = not config.get("allow_inf_nan", True)
    forbid = config.get("extra", "forbid") == "forbid"
    hints = field_types(cls)
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
    # For valid input, read in the input's order (a few given fields of a section with many,
    # such as a request's 79 engine settings): every field starts at its default, in field
    # order, and factories fill the ones left out. Anything wrong is read again in field
    # order, which decides the order of the problems.
    steps = {name: (checker, befores, afters) for name, _, checker, befores, afters in plan}
    template = {name: info.default for name, info in cls.model_fields.items()}  # MISSING: set
    fields = cls.model_fields.items()
    factories = [(n, i.default_factory) for n, i in fields if i.default_factory is not None]
    required = frozenset(n for n, i in fields if i.is_required())

    def valid(data: dict[str, Any], loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        """The section from ``data`` (only known keys, every required one), or FAIL. A
        problem's location is left at ``loc``: the caller reads it again on FAIL."""
        state = template.copy()
        for name, given in data.items():
            checker, befores, afters = steps[name]
            value = _run_hooks(befores, given, loc, problems) if befores else given
            if value is FAIL or (value := checker(value, loc, problems)) is FAIL:
                return FAIL
            if afters and (value := _run_hooks(afters, value, loc, problems)) is FAIL:
                return FAIL
            state[name] = value
        for name, factory in factories:
            if name not in data:
                state[name] = factory()
        section = new(cls)
        SET_SLOT(section, "_section_set", frozenset(data))
        section.__dict__.update(state)
        if model_checks:
            return _run_hooks(model_checks, section, loc, problems)
        return section

    def check(data: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if isinstance(data, cls):
            return data
        if rewrites:
            data = _run_hooks(rewrites, data, loc, problems)
            if data is FAIL:
                return FAIL
        before_count = len(problems)
        if type(data) is dict and known.issuperset(data) and required.issubset(data):
            section = valid(data, loc, problems)
            if section is not FAIL and len(problems) == before_count:
                return section
            del problems[before_count:]
        if not isinstance(data, Mapping):
            problems.append(
                problem(
                    "model_type",
                    loc,
                    f"Input should be a valid dictionary or instance of {cls.__name__}",
                    data,
                    class_name=cls.__name__,
                )
            )
            return FAIL
        state: dict[str, Any] = {}
        for name, info, checker, befores, afters in plan:
            if name not in data:
                if info.default_factory is not None:
                    state[name] = info.default_factory()
                elif info.default is not MISSING:
                    state[name] = info.default
                else:
                    problems.append(problem("missing", (*loc, name), "Field required", data))
                continue
            value = _run_hooks(befores, data[name], (*loc, name), problems)
            if value is not FAIL:
                value = checker(value, (*loc, name), problems)
            if value is not FAIL:
                value = _run_hooks(afters, value, (*loc, name), problems, given=data[name])
            state[name] = value
        if forbid:
            problems.extend(_extra(k, data[k], loc) for k in data if k not in known)
        if len(problems) > before_count:
            return FAIL
        section = new(cls)
        SET_SLOT(section, "_section_set", known.intersection(data))
        section.__dict__.update(state)
        if model_checks:
            section = _run_hooks(model_checks, section, loc, problems, given=data)
        return section

    return check


def _extra(key: Any, value: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
    if isinstance(key, str):
        return problem("extra_forbidden", (*loc, key), "Extra inputs are not permitted", value)
    # YAML's "1: x" or "null: x": pydantic refuses the key itself
    return problem("invalid_key", (*loc, _loc_part(key)), "Keys should be strings", key)


def _loc_part(key: Any) -> Any:
    """A key in an error's location as pydantic gives it: text or a 64-bit int as it is,
    anything else as text."""
    if isinstance(key, str) or (type(key) is int and -_I64 <= key < _I64):
        return key
    return str(key)


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
    given: Any = MISSING,
) -> Any:
    """``value`` through each hook in turn; a hook's ValueError is a problem at ``loc`` (with
    ``given`` as its input, where that is not the value: a model check's raw mapping, an after
    validator's field as written)."""
    try:
        for hook in hooks:
            value = hook(value)
    except (ValueError, AssertionError) as exc:
        problems.append(_value_problem(exc, loc, value if given is MISSING else given))
        return FAIL
    return value


def _value_problem(exc: Exception, loc: tuple[Any, ...], value: Any) -> dict[str, Any]:
    if isinstance(exc, ValidationError):  # a nested section built inside a validator
        first = exc.errors()[0]
        return {**first, "loc": (*loc, *first["loc"])}
    kind = "assertion_error" if isinstance(exc, AssertionError) else "value_error"
    words = "Assertion failed" if kind == "assertion_error" else "Value error"
    return problem(kind, loc, f"{words}, {exc}", value, error=exc)


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
        return FAIL if value is FAIL else checker(value, loc, problems)

    return check


def _any(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    return value


def _none(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if value is None:
        return None
    problems.append(problem("none_required", loc, "Input should be None", value))
    return FAIL


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
        taken = FAIL
        for checker in exact:
            result = checker(value, loc, [])
            if result is not FAIL:
                if type(result) is type(value):
                    return result
                if taken is FAIL:
                    taken = result
        if taken is not FAIL:
            return taken
        found: list[dict[str, Any]] = []
        for checker, label in zip(lax, labels, strict=True):
            tried: list[dict[str, Any]] = []
            result = checker(value, (*loc, label), tried)
            if result is not FAIL:
                return result
            found.extend(tried)
        problems.extend(found)
        return FAIL

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
            if found is not MISSING:
                return found
        problems.append(
            problem("literal_error", loc, f"Input should be {words}", value, expected=words)
        )
        return FAIL

    return check


def _lax_whole(
    value: Any, options: dict[int, Any], loc: tuple[Any, ...], problems: list[Any]
) -> Any:
    """Where whole numbers are allowed (``options``: each whole number's result), pydantic's
    lax reading of a literal or enum: true is 1 and 1.0 is 1, and an int past 64 bits is a
    size error (FAIL); MISSING where that does not apply."""
    if type(value) is bool or (type(value) is float and value.is_integer()):
        return options.get(int(value), MISSING)
    if type(value) is int and not -_I64 <= value < _I64:
        problems.append(problem("int_parsing_size", loc, _SIZE_WORDS, value))
        return FAIL
    return MISSING


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
            if member is not MISSING:
                return member
        problems.append(problem("enum", loc, f"Input should be {words}", value, expected=words))
        return FAIL

    return check


def _nested(kind: type[Section]) -> Checker:
    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if type(value) is kind:  # a section passed on whole (a profile's default SLO targets)
            return value
        if type(value) is dict and (shared := validated_once(kind, value)) is not None:
            return shared
        return validator_of(kind)(value, loc, problems)

    return check


def validated_once(kind: type[Section], data: dict[str, Any]) -> Section | None:
    """``kind`` from ``data``, validated once per set of values and shared (sections are
    frozen); None where a value is a collection or ``data`` is no valid section (validated where
    it stands then, to locate its problems)."""
    values = data.values()
    types = tuple(map(type, values))
    if not _COLLECTIONS.isdisjoint(types):  # (1,) == (True,): their members' types are not keyed
        return None
    # True == 1 == 1.0 and -0.0 == 0.0, but they validate apart: their types and signs are keyed
    signs = tuple(math.copysign(1, v) for v in values if type(v) is float) if float in types else ()
    try:
        return _shared_section(validator_of(kind), tuple(data.items()), types, signs)
    except (TypeError, _Invalid):  # TypeError: an unhashable value
        return None


_COLLECTIONS = frozenset((tuple, frozenset, list, dict, set))


class _Invalid(Exception):
    """A mapping that is no valid section."""


# A fleet's profiles and targets share most of their sections (the same hardware, workload and
# policy written in file after file, each GPU target's hardware): each validated once.
@functools.lru_cache(maxsize=256)
def _shared_section(
    validate: Checker,
    items: tuple[tuple[str, Any], ...],
    types: tuple[type, ...],
    signs: tuple[float, ...],
) -> Section:
    problems: list[dict[str, Any]] = []
    section = validate(dict(items), (), problems)
    if section is FAIL or problems:
        raise _Invalid
    return cast(Section, section)


def _instance(kind: type) -> Checker:
    """Any other class: an instance of it, as given."""

    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if isinstance(value, kind):
            return value
        problems.append(
            problem(
                "is_instance_of",
                loc,
                f"Input should be an instance of {kind.__name__}",
                value,
                class_name=kind.__name__,
            )
        )
        return FAIL

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
            problems.append(problem(error, loc, f"Input should be a valid {kind}", value))
            return FAIL
        value = cast(list[Any], value)
        if most is not None and len(value) > most:
            problems.append(_length_problem("too_long", loc, value, value, most, kind.title()))
            return FAIL
        out: list[Any] | set[Any]
        count = len(problems)
        if fixed:  # as pydantic: each item read, each one short of the tuple's missing
            out = [
                c(v, (*loc, i), problems)
                for i, (c, v) in enumerate(zip(items, value, strict=False))
            ]
            problems.extend(
                problem("missing", (*loc, i), "Field required", value)
                for i in range(len(value), len(items))
            )
        else:
            out = set() if origin in (set, frozenset) else []
            for i, v in enumerate(value):
                result = item(v, (*loc, i), problems)
                if result is FAIL:
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
                    return FAIL
            if least is not None and len(problems) > count and len(out) < least:
                problems.append(_length_problem("too_short", loc, value, out, least, "Tuple"))
        if len(problems) > count:
            return FAIL
        return origin(out)

    return _limited(check, limits, kind.title())


def _mapping(keys: Checker, values: Checker, most: int | None) -> Checker:
    """A dict; pydantic counts its entries as it reads them: past ``most`` (max_length) the
    count is the one error."""

    def check(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        if not isinstance(value, Mapping):
            problems.append(problem("dict_type", loc, "Input should be a valid dictionary", value))
            return FAIL
        count = len(problems)
        out = {}
        for key, item in value.items():
            where = (*loc, _loc_part(key))
            k = keys(key, (*where, "[key]"), problems)
            v = values(item, where, problems)
            if k is FAIL or v is FAIL:
                continue
            out[k] = v
            if most is not None and len(out) > most:
                del problems[count:]
                problems.append(_length_problem("too_long", loc, value, out, most, "Dictionary"))
                return FAIL
        return FAIL if len(problems) > count else out

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
        if value is FAIL:
            return FAIL
        for key, kind, words, test, bound, shown_bound in bounds:
            if not test(value, bound):
                problems.append(
                    problem(kind, loc, f"Input should be {words}", given, **{key: shown_bound})
                )
                return FAIL
        if least is not None and len(value) < least:
            problems.append(_length_problem("too_short", loc, given, value, least, field_type))
            return FAIL
        if most is not None and len(value) > most:
            problems.append(_length_problem("too_long", loc, given, value, most, field_type))
            return FAIL
        if search is not None and not search(value):
            problems.append(
                problem(
                    "string_pattern_mismatch",
                    loc,
                    f"String should match pattern '{pattern}'",
                    given,
                    pattern=pattern,
                )
            )
            return FAIL
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
        return problem(f"string_{kind}", loc, words, given, **{key: limit})
    actual = None if kind == "too_long" and field_type in _UNCOUNTED else len(value)
    words = (
        f"{field_type} should have at {edge} {limit} item{plural} after validation, "
        f"not {'more' if actual is None else actual}"
    )
    return problem(
        kind, loc, words, given, field_type=field_type, **{key: limit}, actual_length=actual
    )


def _str_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, str):
        return value.value if isinstance(value, enum.Enum) else value
    problems.append(problem("string_type", loc, "Input should be a valid string", value))
    return FAIL


def _str(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, enum.Enum) and not isinstance(value, str):
        return str(value.value)  # pydantic's lax text of any enum: its value
    if not isinstance(value, (bytes, bytearray)):
        return _str_strict(value, loc, problems)
    text = _decoded(value)  # YAML's !!binary
    if text is None:
        words = "Input should be a valid string, unable to parse raw data as a unicode string"
        problems.append(problem("string_unicode", loc, words, value))
        return FAIL
    return text


def _decoded(value: bytes | bytearray) -> str | None:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return None


def _int_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    problems.append(problem("int_type", loc, "Input should be a valid integer", value))
    return FAIL


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
            problems.append(problem("int_parsing_size", loc, _SIZE_WORDS, value))
        elif value == value and abs(value) != float("inf"):
            words = "Input should be a valid integer, got a number with a fractional part"
            problems.append(problem("int_from_float", loc, words, value))
        else:
            problems.append(problem("finite_number", loc, "Input should be a finite number", value))
        return FAIL
    text = (_decoded(value) or "") if isinstance(value, bytes) else value  # YAML's !!binary
    if isinstance(text, str):
        whole = re.fullmatch(_WHOLE, text)
        if whole is not None:
            return int(whole[1])
        words = "Input should be a valid integer, unable to parse string as an integer"
        problems.append(problem("int_parsing", loc, words, value))
        return FAIL
    if isinstance(value, enum.Enum) and type(value.value) is int:
        return value.value
    problems.append(problem("int_type", loc, "Input should be a valid integer", value))
    return FAIL


def _float_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    problems.append(problem("float_type", loc, "Input should be a valid number", value))
    return FAIL


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
        problems.append(problem("float_parsing", loc, words, value))
        return FAIL
    problems.append(problem("float_type", loc, "Input should be a valid number", value))
    return FAIL


def _finite(checker: Checker) -> Checker:
    def check(given: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
        value = checker(given, loc, problems)
        if value is not FAIL and (value != value or value in (float("inf"), float("-inf"))):
            problems.append(problem("finite_number", loc, "Input should be a finite number", given))
            return FAIL
        return value

    return check


def _bool_strict(value: Any, loc: tuple[Any, ...], problems: list[dict[str, Any]]) -> Any:
    if isinstance(value, bool):
        return value
    problems.append(problem("bool_type", loc, "Input should be a valid boolean", value))
    return FAIL


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
        problems.append(problem("bool_parsing", loc, words, value))
    else:
        problems.append(problem("bool_type", loc, "Input should be a valid boolean", value))
    return FAIL
