"""Our Section validator against pydantic 2 (the oracle): one declaration, built once as a
Section and once as its pydantic twin (tests/schemas/twin.py), must accept and refuse the same
inputs, give the same values of the same types, the same errors (type, location, limits) and
the same dumps; and a section behaves as pydantic's frozen models did (copy, equality, hash,
pickling, frozenness, validators, default factories)."""

from __future__ import annotations

import datetime
import enum
import math
import pickle
from typing import Annotated, Any, Literal

import pydantic
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.schemas.enums import FormatVersion1
from checker.schemas.error_words import error_text
from checker.schemas.profile import Profile
from checker.schemas.section import (
    BeforeValidator,
    ConfigDict,
    Field,
    Section,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from tests.conftest import EXAMPLES
from tests.schemas.twin import pydantic_twin, read_sections

_MISSING = object()


class Colour(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Inner(Section):
    model_config = ConfigDict(extra="forbid")

    a: int
    b: str = "b"


def pair(
    annotation: Any, default: Any = _MISSING, *, config: dict[str, Any] | None = None, **field: Any
) -> tuple[type[Section], type[pydantic.BaseModel]]:
    """A section with one field ``x`` and its pydantic twin."""
    given = {} if default is _MISSING else {"default": default}
    namespace = {
        "__annotations__": {"x": annotation},
        "x": Field(**given, **field),
        "model_config": config or ConfigDict(extra="forbid"),
    }
    ours = type("M", (Section,), namespace)
    return ours, pydantic_twin(ours)


def typed(value: Any) -> Any:
    """A value with the type of every part spelled out (1 and 1.0 and True differ)."""
    if isinstance(value, (Section, pydantic.BaseModel)):
        return ("model", typed(value.model_dump()))
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(map(repr, value)) if isinstance(value, (set, frozenset)) else value
        return (type(value).__name__, [typed(v) for v in items])
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.name)
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def problems(exc: Exception) -> list[tuple[Any, ...]]:
    """Each error's type, location, limits (ctx without the exception), input, message and
    the words error_words gives the user."""
    out = []
    for error in exc.errors():  # type: ignore[attr-defined]
        ctx = {k: v for k, v in (error.get("ctx") or {}).items() if k != "error"}
        shown = (typed(ctx), typed(error["input"]), error["msg"], error_text(error))
        out.append((error["type"], error["loc"], *shown))
    return out


def outcome(model: Any, data: Any) -> tuple[str, Any]:
    try:
        built = model.model_validate(data)
    except (ValidationError, pydantic.ValidationError) as exc:
        return "refused", problems(exc)
    return "built", (
        typed(built.model_dump()),
        _json_dump(built),
        sorted(built.model_fields_set),
        typed(built.x) if "x" in type(built).model_fields else None,
    )


def _json_dump(built: Any) -> Any:
    try:
        return typed(built.model_dump(mode="json"))
    except ValueError:  # bytes that are not UTF-8: pydantic cannot write them either
        return "unwritable"


def mismatches(ours: type[Section], theirs: type[pydantic.BaseModel], inputs: list[Any]) -> list:
    found = []
    for data in inputs:
        mine, oracle = outcome(ours, data), outcome(theirs, data)
        if mine != oracle:
            found.append((data, mine, oracle))
    return found


INF, NAN = float("inf"), float("nan")
VALUES: list[Any] = [
    0,
    1,
    2,
    -3,
    7,
    2**70,
    2**63,
    2**63 - 1,
    -(2**63),
    2.0**63,
    9.2e18,
    True,
    False,
    0.0,
    -0.0,
    1.0,
    1.5,
    -2.5,
    5.0,
    1e300,
    INF,
    -INF,
    NAN,
    "5",
    " 5 ",
    "5.0",
    "1.5",
    "1e3",
    "-7",
    "0x10",
    "1_000",
    "5.",
    "-5.00",
    "\u0665",
    "\xa05",
    "\x1d5",
    "half",
    "inf",
    "nan",
    "abc",
    "",
    "a",
    "b",
    "ab",
    "abcde",
    "auto",
    "red",
    "RED",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "False",
    "T",
    " y ",
    None,
    [],
    [1, 2],
    [1, "2"],
    [1.5],
    ["a", None],
    (1, 2),
    (1.5, 2),
    (1.0, 2.0, 3.0),
    ["x", 1.0, "y"],
    ["x", 1, 2, 3],
    [1, 1, 1],
    [1, 2, "x", 3],
    {1, 2},
    frozenset({"a"}),
    {},
    {"a": 1},
    {"a": "2", "b": "x"},
    {"a": 1, "c": 3},
    {"k": {"n": 1}},
    {1: 2},
    {2**70: "k", None: 1},
    {"a": "x", "b": 2, "c": 3},
    b"5",
    b"yes",
    b"\xff",
    bytearray(b"7"),
    datetime.date(2024, 1, 2),
    Colour.RED,
    Level.HIGH,
]


def _halved(value: Any) -> Any:
    if value == "half":
        raise ValueError("no halves")
    return value


ANNOTATIONS: dict[str, tuple[Any, dict[str, Any]]] = {
    "int": (int, {}),
    "float": (float, {}),
    "bool": (bool, {}),
    "str": (str, {}),
    "Colour|str": (Colour | str, {}),
    "float|bool": (float | bool, {}),
    "StrictInt": (StrictInt, {}),
    "StrictInt|str": (StrictInt | str, {}),
    "StrictFloat": (StrictFloat, {}),
    "StrictBool": (StrictBool, {}),
    "int|None": (int | None, {}),
    "StrictFloat|None": (StrictFloat | None, {}),
    "str|None": (str | None, {}),
    "int|auto|None": (int | Literal["auto"] | None, {}),
    "bounded-StrictInt|auto|None": (
        Annotated[StrictInt, Field(gt=0, le=100)] | Literal["auto"] | None,
        {},
    ),
    "bool|int|float|str": (bool | int | float | str, {}),
    "int|str": (int | str, {}),
    "str|int": (str | int, {}),
    "float|int": (float | int, {}),
    "tuple[int,...]|any": (tuple[int, ...] | Literal["any"], {}),
    "Literal[1]": (Literal[1], {}),
    "Literal[a,b]": (Literal["a", "b"], {}),
    "Literal[a,b]|None": (Literal["a", "b"] | None, {}),
    "str-enum": (Colour, {}),
    "int-enum": (Level, {}),
    "list[int]": (list[int], {}),
    "list[str]": (list[str], {}),
    "tuple[int,...]": (tuple[int, ...], {}),
    "tuple[float,float]": (tuple[float, float], {}),
    "tuple[float,float]|None": (tuple[float, float] | None, {}),
    "frozenset[str]": (frozenset[str], {}),
    "set[int]": (set[int], {}),
    "dict[str,int]": (dict[str, int], {}),
    "dict[str,str]": (dict[str, str], {}),
    "dict[str,Any]": (dict[str, Any], {}),
    "dict[str,int|dict]": (dict[str, Annotated[int, Field(ge=0)] | dict[str, Any]], {}),
    "Any": (Any, {}),
    "nested": (Inner, {}),
    "nested|None": (Inner | None, {}),
    "list[nested]": (list[Inner], {}),
    "Annotated-int-ge0-le5": (Annotated[int, Field(ge=0, le=5)], {}),
    "tuple[Annotated-int,...]": (tuple[Annotated[int, Field(ge=0, le=5)], ...], {}),
    "int-gt-lt": (int, {"gt": 0, "lt": 10}),
    "float-ge-le": (float, {"ge": 0.5, "le": 5}),
    "float-ge1.0-lt1e6": (float, {"ge": 1.0, "lt": 1e6}),
    "StrictFloat|None-gt-le": (StrictFloat | None, {"gt": 0, "le": 1}),
    "StrictInt|None-ge-le": (StrictInt | None, {"ge": 1, "le": 4096}),
    "str-lengths": (str, {"min_length": 2, "max_length": 4}),
    "str-pattern": (str, {"pattern": r"^a"}),
    "str|None-pattern": (str | None, {"pattern": r"b$", "max_length": 3}),
    "list-lengths": (list[int], {"min_length": 1, "max_length": 2}),
    "tuple-lengths": (tuple[int, ...], {"min_length": 2, "max_length": 2}),
    "set-lengths": (set[int], {"min_length": 2, "max_length": 2}),
    "frozenset-lengths": (frozenset[str], {"min_length": 1, "max_length": 1}),
    "dict-max-length": (dict[str, int], {"max_length": 1}),
    "FormatVersion1": (FormatVersion1, {}),
    "FormatVersion1|str": (FormatVersion1 | str, {}),
    "before-int|list": (Annotated[int, BeforeValidator(_halved)] | list[int], {}),
}


@pytest.mark.parametrize("name", sorted(ANNOTATIONS))
@pytest.mark.parametrize("finite", [False, True], ids=["inf-nan", "finite"])
def test_a_field_validates_as_pydantic_does(name: str, finite: bool) -> None:
    annotation, limits = ANNOTATIONS[name]
    ours, theirs = pair(annotation, config=ConfigDict(allow_inf_nan=not finite), **limits)
    assert mismatches(ours, theirs, [{"x": value} for value in VALUES]) == []


PAIRS = {name: pair(annotation, **limits) for name, (annotation, limits) in ANNOTATIONS.items()}
TEXTS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(
        [" 5 ", "5.00", "+5", "1__0", "1e2", "-Infinity", "Off", "t", "\xa05", "\u0661"]
    ),
)
GENERATED = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXTS, st.binary(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.one_of(TEXTS, st.integers()), inner, max_size=3),
        st.frozensets(st.integers(), max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(sorted(PAIRS)), GENERATED)
def test_generated_values_validate_as_pydantic(name: str, value: Any) -> None:
    ours, theirs = PAIRS[name]
    assert mismatches(ours, theirs, [{"x": value}]) == []


def test_a_json_dump_writes_inf_and_nan_as_none_only_where_typed_any() -> None:
    """pydantic's json-mode dump reads an Any value by its own type and writes an inf or nan
    there as None, but keeps it in a float field (a profile's vllm_args dumped to YAML)."""

    class Figures(Section):
        ratio: float = INF
        flags: dict[str, Any] = Field(default_factory=lambda: {"k": [INF, {"m": NAN}], "n": 1.5})

    dumped = Figures().model_dump(mode="json")
    assert dumped == {"ratio": INF, "flags": {"k": [None, {"m": None}], "n": 1.5}}
    assert dumped == pydantic_twin(Figures)().model_dump(mode="json")
    assert Figures().model_dump()["flags"]["k"][0] == INF


def test_missing_and_extra_keys_as_pydantic() -> None:
    class Two(Section):
        model_config = ConfigDict(extra="forbid")

        need: int
        rest: str = "r"
        made: list[int] = Field(default_factory=list)

    class Loose(Section):
        model_config = ConfigDict(extra="ignore")

        need: int = 0

    inputs = [
        {},
        {"need": 1},
        {"need": 1, "rest": "s"},
        {"need": "x", "bogus": 1, "other": None},
        {"rest": 5, "bogus": 1},
        {"need": 1, "made": [1, "2"]},
        {"made": None},
        [("need", 1)],
        None,
        "need",
        5,
    ]
    for ours in (Two, Loose):
        assert mismatches(ours, pydantic_twin(ours), inputs) == []


def test_errors_in_nested_sections_and_lists_are_located_as_pydantic() -> None:
    class Outer(Section):
        model_config = ConfigDict(extra="forbid")

        inner: Inner
        items: list[Inner] = Field(default_factory=list)
        by_name: dict[str, Inner] = Field(default_factory=dict)

    inputs = [
        {"inner": {"a": "x", "z": 1}},
        {"inner": {"a": 1}, "items": [{"a": 1}, {"b": 2}, 3]},
        {"inner": {"a": 1}, "by_name": {"k": {"a": []}, "j": None}},
        {"inner": {"a": 1}, "items": "ab"},
        {"inner": {"a": 1, "b": "c"}, "items": [{"a": "2"}], "by_name": {"k": {"a": 3.0}}},
    ]
    assert mismatches(Outer, pydantic_twin(Outer), inputs) == []


SWEEP: list[Any] = [
    *(None, "x", "", "1", "auto", -1, 0, 1, 2.5, 1e300, NAN, True),
    *([], ["a"], [1, "a"], [{}], (1, 2), {}, {"k": "v"}, {"k": 1}),
]


@pytest.mark.parametrize("section", read_sections(), ids=lambda s: s.__name__)
def test_each_section_we_read_validates_as_its_pydantic_twin(section: type[Section]) -> None:
    """Every section of every file and request we read, its validators included (seed
    spellings, Kubernetes labels, rule ids, ...), with each key set to each of a sweep of
    values (the others required given as null) and an unknown key."""
    required = {name: None for name, info in section.model_fields.items() if info.is_required()}
    inputs = [{}, required]
    inputs += [{**required, key: v} for key in [*section.model_fields, "bogus"] for v in SWEEP]
    assert mismatches(section, pydantic_twin(section), inputs) == []


@settings(max_examples=1000, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(read_sections()), st.data())
def test_generated_sections_validate_as_pydantic(
    section: type[Section], data: st.DataObject
) -> None:
    keys = st.sampled_from([*section.model_fields, "bogus"])
    given = data.draw(st.dictionaries(keys, GENERATED, max_size=4))
    assert mismatches(section, pydantic_twin(section), [given]) == []


def test_the_example_profiles_validate_as_the_pydantic_twin() -> None:
    profiles = sorted((EXAMPLES / "profiles").glob("*.yaml"))
    inputs = [yaml.safe_load(path.read_text()) for path in profiles]
    assert len(inputs) > 5
    assert mismatches(Profile, pydantic_twin(Profile), inputs) == []
    # (the loader moves vLLM flags written under vllm: into outputs.vllm_args first)
    assert sum(outcome(Profile, data)[0] == "built" for data in inputs) >= 5


# -- a validated section behaves as pydantic's frozen model -----------------------------------


class Shape(Section):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: float = 1.0
    tags: tuple[str, ...] = ()
    colour: Colour = Colour.RED
    inner: Inner | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


SHAPES = [
    {"name": "a"},
    {"name": "b", "size": 2, "tags": ["x", "y"], "colour": "blue"},
    {"name": "c", "inner": {"a": "3"}, "extra": {"k": [1, 2]}},
    {"name": "d", "size": 2.5, "colour": "red", "inner": {"a": 1, "b": "z"}},
]


@pytest.mark.parametrize("data", SHAPES)
def test_dumps_as_pydantic(data: dict[str, Any]) -> None:
    ours, theirs = Shape.model_validate(data), pydantic_twin(Shape).model_validate(data)
    for mode in ("python", "json"):
        for kwargs in ({}, {"exclude_unset": True}, {"exclude_defaults": True}):
            mine = ours.model_dump(mode=mode, **kwargs)
            assert typed(mine) == typed(theirs.model_dump(mode=mode, **kwargs)), (mode, kwargs)
        for exclude in ({"size", "tags"}, {"inner": {"b"}}, {"inner": True, "name": True}):
            mine = ours.model_dump(mode=mode, exclude=exclude)
            assert typed(mine) == typed(theirs.model_dump(mode=mode, exclude=exclude)), exclude
    assert ours.model_fields_set == theirs.model_fields_set
    assert ours.model_dump_json() == theirs.model_dump_json()
    assert ours.model_dump_json(indent=2) == theirs.model_dump_json(indent=2)


class Written(Section):
    model_config = ConfigDict(extra="forbid")

    name: str
    source: str = Field(default="", exclude=True)
    quant: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)
    parts: list[Inner] = Field(default_factory=list)


@pytest.mark.parametrize(
    "data",
    [
        {"name": "a"},
        {"name": "a", "source": "f.yaml", "quant": {"bits": 4}},
        {"name": "b", "quant": None, "parts": [{"a": 1}, {"a": "2", "b": "c"}]},
    ],
)
def test_excluded_fields_are_left_out_as_pydantic(data: dict[str, Any]) -> None:
    """A field declared exclude=True (a calibration's source file) or exclude_if (a lock
    entry's absent quant config) is left out of dumps and JSON."""
    ours, theirs = Written.model_validate(data), pydantic_twin(Written).model_validate(data)
    for mode in ("python", "json"):
        assert typed(ours.model_dump(mode=mode)) == typed(theirs.model_dump(mode=mode))
        mine = ours.model_dump(mode=mode, exclude={"parts": {"__all__": {"b"}}})
        assert typed(mine) == typed(
            theirs.model_dump(mode=mode, exclude={"parts": {"__all__": {"b"}}})
        )
    for indent in (None, 2):
        assert ours.model_dump_json(indent=indent) == theirs.model_dump_json(indent=indent)


@pytest.mark.parametrize("data", SHAPES)
def test_copies_compare_hash_and_pickle_as_pydantic(data: dict[str, Any]) -> None:
    ours, theirs = Shape.model_validate(data), pydantic_twin(Shape).model_validate(data)
    update = {"size": 3, "tags": ("z",)}  # not validated: 3 stays an int
    mine, oracle = ours.model_copy(update=update), theirs.model_copy(update=update)
    assert typed(mine.model_dump()) == typed(oracle.model_dump())
    # the float field's int: written as a float in JSON, as pydantic's
    assert typed(mine.model_dump(mode="json")) == typed(oracle.model_dump(mode="json"))
    assert mine.model_dump_json() == oracle.model_dump_json()
    assert mine.model_fields_set == oracle.model_fields_set
    assert ours.model_copy() == ours
    assert (mine == ours) is (oracle == theirs) is False
    assert Shape.model_validate(data) == ours
    for section in (ours, theirs):  # hashed by its fields, as pydantic's: a dict is not hashable
        with pytest.raises(TypeError, match="unhashable type: 'dict'"):
            hash(section)
    back = pickle.loads(pickle.dumps(ours))
    assert back == ours
    assert type(back) is Shape
    assert back.model_fields_set == ours.model_fields_set
    with pytest.raises((TypeError, pydantic.ValidationError)):
        ours.name = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        theirs.name = "other"  # type: ignore[misc]
    assert ours.name == data["name"]


def test_constructed_as_pydantic_constructs() -> None:
    """Unvalidated: values as given, defaults for the rest, the given fields set (an unknown
    key is neither kept nor counted)."""
    theirs = pydantic_twin(Shape)
    for values in ({}, {"name": "a"}, {"name": "a", "size": "raw", "bogus": 1}):
        mine, oracle = Shape.model_construct(**values), theirs.model_construct(**values)
        assert mine.model_fields_set == oracle.model_fields_set
        if "name" in values:
            assert typed(mine.model_dump()) == typed(oracle.model_dump(warnings=False))
    mine = Shape.model_construct(_fields_set={"name"}, name="x", size=2)
    assert mine.model_fields_set == {"name"}
    assert mine.size == 2


def test_equality_is_by_type_and_fields() -> None:
    class Same(Section):
        a: int

    class Other(Section):
        a: int

    assert Same(a=1) == Same(a=1)
    assert Same(a=1) != Same(a=2)
    assert Same(a=1) != Other(a=1)
    assert hash(Same(a=1)) == hash(Same(a=1)) == hash(Same(a=1).model_copy())
    assert hash(Same(a=1)) != hash(Same(a=2))
    assert {Same(a=1): "x"}[Same.model_validate({"a": "1"})] == "x"


def test_one_field_declaration_serves_two_sections_each_with_its_own_type() -> None:
    bounded = Field(default=1, ge=1, le=10, description="shared words")

    class Lax(Section):
        n: int = bounded

    class Strict(Section):
        n: StrictInt = bounded

    assert Lax.model_validate({"n": "3"}).n == 3
    with pytest.raises(ValidationError) as strict_error:
        Strict.model_validate({"n": "3"})
    assert strict_error.value.errors()[0]["type"] == "int_type"
    for section in (Lax, Strict):  # the bounds and words hold in both
        with pytest.raises(ValidationError):
            section.model_validate({"n": 11})
        assert section.model_fields["n"].description == "shared words"
    assert Lax.model_fields["n"] is not Strict.model_fields["n"]


def test_a_section_instance_is_taken_as_it_is() -> None:
    class Holder(Section):
        inner: Inner

    inner = Inner(a=1)
    assert Holder.model_validate({"inner": inner}).inner is inner
    assert Inner.model_validate(inner) is inner
    twin_inner = pydantic_twin(Inner)(a=1)
    assert pydantic_twin(Holder).model_validate({"inner": twin_inner}).inner is twin_inner


# -- validators and default factories --------------------------------------------------------


class Hooked(Section):
    model_config = ConfigDict(extra="forbid")

    low: int = 0
    high: int = 10
    name: str = ""
    seen: list[str] = Field(default_factory=list)

    @field_validator("low", "high", mode="before")
    @classmethod
    def _words(cls, value: Any, info: ValidationInfo) -> Any:
        if value == "max":
            return 100 if info.field_name == "high" else 50
        return value

    @field_validator("name")
    @classmethod
    def _upper(cls, value: str) -> str:
        if value.startswith("!"):
            raise ValueError("no shouting")
        assert value != "?", "no questions"
        return value.upper()

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lo" in data:
            data = {**data, "low": data["lo"]}
            del data["lo"]
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Hooked:
        if self.low > self.high:
            raise ValueError("low above high")
        return self


HOOKED_INPUTS: list[Any] = [
    {},
    {"low": "max", "high": "max"},
    {"lo": 3},
    {"lo": "x"},
    {"low": 20},
    {"low": "max"},
    {"name": "abc"},
    {"name": "!abc"},
    {"name": b"!abc"},  # an after validator's error shows the field as written
    {"name": "?"},
    {"name": 5, "low": "y"},
    {"name": "!", "low": 20},
    {"bogus": 1, "low": 20},
    None,
    "x",
]


def test_field_and_model_validators_as_pydantic() -> None:
    assert mismatches(Hooked, pydantic_twin(Hooked), HOOKED_INPUTS) == []
    # and they ran: the field's name told, the raw input rewritten, the words kept
    assert Hooked.model_validate({"low": "max", "high": "max"}).low == 50
    assert Hooked.model_validate({"lo": 3, "name": "ab"}).model_dump()["name"] == "AB"
    with pytest.raises(ValidationError) as caught:
        Hooked.model_validate({"low": 20})
    (error,) = caught.value.errors()
    assert (error["type"], error["loc"], error_text(error)) == ("value_error", (), "low above high")


def test_a_default_factory_is_called_for_each_section_and_defaults_are_not_validated() -> None:
    calls = []

    def fresh() -> list[int]:
        calls.append(1)
        return []

    class Made(Section):
        items: list[int] = Field(default_factory=fresh)
        odd: int = "not an int"  # type: ignore[assignment]

    first, second = Made(), Made.model_validate({})
    assert len(calls) == 2
    assert first.items is not second.items
    assert first.odd == "not an int"  # as pydantic: a default is taken as declared
    assert Made.model_validate({"items": [1]}).items == [1]
    assert len(calls) == 2  # not called for a given value
    assert Made.model_fields["items"].get_default(call_default_factory=True) == []
    theirs = pydantic_twin(Made)
    assert theirs().odd == "not an int"
