"""checker.schemas.json_text against pydantic-core's ``to_json`` (inf and nan as null), the
writer our JSON reports and ``plan --json`` used before: the same text, byte for byte, for
generated values (numbers at every scale, text with control and astral characters, enums,
tuples, sets, nested lists and mappings with keys of every kind), records, sections (against
their pydantic twins), both indents, and the ``exclude`` forms the reports use."""

from __future__ import annotations

import datetime
import enum
from typing import Any

import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.gate.result import PACKED
from checker.schemas.json_text import float_text, json_text
from checker.schemas.records import Record, record
from checker.schemas.section import ConfigDict, Field, Section
from tests.schemas.twin import pydantic_twin

SETTINGS = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
INDENTS = st.sampled_from([None, 2])


class Mode(str, enum.Enum):
    FAST = "fast"
    SLOW = "slow"


class Count(int, enum.Enum):
    ONE = 1
    TWO = 2


class Plain(enum.Enum):
    HALF = 0.5
    WORD = "w"


def pydantic_text(value: Any, *, indent: int | None = None, exclude: Any = None) -> str:
    text: bytes = pydantic_core.to_json(value, indent=indent, exclude=exclude, inf_nan_mode="null")
    return text.decode()


# a float at each scale, both signs, plus Python's whole range (subnormals, inf, nan)
SCALED = st.builds(
    lambda mantissa, exponent, sign: sign * mantissa * 10.0**exponent,
    st.floats(1, 10, exclude_max=True),
    st.integers(-30, 30),
    st.sampled_from([1, -1]),
)
FLOATS = st.one_of(
    SCALED,
    SCALED.map(lambda f: float(f"{f:.3g}")),  # short decimals: 2.5e-05, 1e+16
    st.floats(),
    st.sampled_from([0.0, -0.0, 1e-5, -2.5e-5, 1e-7, 1e16, 1e15, 123456789.0, 5e-324]),
)
INTS = st.one_of(st.integers(-(2**70), 2**70), st.integers(), st.sampled_from([2**64, -(2**63)]))
SPECIAL_TEXT = ["\x00", "\x1f", "\x7f", "\u2028", "\u2029", "\U0001f600", '"\\/', "é\ufeff"]
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"])),  # surrogates are not UTF-8
    st.lists(st.sampled_from(SPECIAL_TEXT)).map("".join),
)
ENUMS = st.sampled_from([*Mode, *Count, *Plain])
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT, ENUMS)
KEYS = st.one_of(TEXT, st.integers(), FLOATS, st.booleans(), st.none(), ENUMS)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(KEYS, inner, max_size=4),
    ),
    max_leaves=20,
)


@SETTINGS
@given(VALUES, INDENTS)
def test_values_are_written_as_pydantic_core_wrote_them(value: Any, indent: int | None) -> None:
    assert json_text(value, indent=indent) == pydantic_text(value, indent=indent)


@SETTINGS
@given(FLOATS)
def test_a_float_alone_as_pydantic_core(number: float) -> None:
    assert float_text(number) == pydantic_text(number)


@pytest.mark.parametrize(
    "value",
    [
        frozenset({1, 2, 3}),
        {"a"},  # one: a set of text is ordered by its hashes, which vary per process
        b"bytes",
        datetime.date(2024, 1, 2),
        datetime.datetime(2024, 1, 2, 3, 4, 5),
        datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc),
        datetime.time(1, 2, 3),
        {(1, "a"): 1, b"k": 2, datetime.date(2024, 1, 2): 3},
        {},
        [],
        [[], {}, ()],
    ],
    ids=repr,
)
@pytest.mark.parametrize("indent", [None, 2])
def test_what_yaml_gives_beside_json_kinds(value: Any, indent: int | None) -> None:
    assert json_text(value, indent=indent) == pydantic_text(value, indent=indent)


# -- records and sections ------------------------------------------------------------------


@record
class Leaf(Record):
    figure: float
    name: str
    mode: Mode
    extra: Any = None


@record
class Pair(Record):
    gpu: str
    plan: Leaf | None
    packed_plan: bytes | None = None
    figures: tuple[float, ...] = ()


@record
class Check(Record):
    verdict: str
    pairs: list[Pair]


@record
class Report(Record):
    check: Check
    counts: dict[str, int]


LEAVES = st.builds(
    Leaf, figure=st.one_of(INTS.map(float), FLOATS), name=TEXT, mode=ENUMS, extra=VALUES
)
PAIRS = st.builds(
    Pair,
    gpu=TEXT,
    plan=st.one_of(st.none(), LEAVES),
    packed_plan=st.one_of(st.none(), st.binary(max_size=4).map(lambda b: b.hex().encode())),
    figures=st.lists(FLOATS, max_size=3).map(tuple),
)
REPORTS = st.builds(
    Report,
    check=st.builds(Check, verdict=TEXT, pairs=st.lists(PAIRS, max_size=3)),
    counts=st.dictionaries(TEXT, st.integers(), max_size=3),
)
# the forms the reports pass (grep record_json( in checker): the audit report's and a pair's
EXCLUDES = st.sampled_from(
    [None, {"check": {"pairs": {"__all__": {"plan", *PACKED}}}}, {"check": True}, {"counts"}]
)


@SETTINGS
@given(REPORTS, INDENTS, EXCLUDES)
def test_records_with_the_reports_exclude_forms(
    report: Report, indent: int | None, exclude: Any
) -> None:
    assert json_text(report, indent=indent, exclude=exclude) == pydantic_text(
        report, indent=indent, exclude=exclude
    )


@SETTINGS
@given(PAIRS, INDENTS)
def test_a_pair_without_its_packed_plan(pair: Pair, indent: int | None) -> None:
    assert json_text(pair, indent=indent, exclude=PACKED) == pydantic_text(
        pair, indent=indent, exclude=PACKED
    )


class Part(Section):
    model_config = ConfigDict(extra="forbid")

    size: float
    tags: tuple[str, ...] = ()


class Whole(Section):
    model_config = ConfigDict(extra="forbid")

    name: str
    mode: Mode = Mode.FAST
    count: Count | None = None
    part: Part
    parts: list[Part] = Field(default_factory=list)
    loose: dict[str, Any] = Field(default_factory=dict)
    pair: tuple[float, float] | None = None


PARTS = st.fixed_dictionaries(
    {"size": st.one_of(INTS, FLOATS)}, optional={"tags": st.lists(TEXT, max_size=3)}
)
WHOLES = st.fixed_dictionaries(
    {"name": TEXT, "part": PARTS},
    optional={
        "mode": st.sampled_from(["fast", "slow"]),
        "count": st.sampled_from([1, 2, None]),
        "parts": st.lists(PARTS, max_size=3),
        "loose": st.dictionaries(TEXT, VALUES, max_size=3),
        "pair": st.tuples(FLOATS, FLOATS),
    },
)


@SETTINGS
@given(WHOLES, INDENTS)
def test_sections_as_their_pydantic_twins(data: dict[str, Any], indent: int | None) -> None:
    ours, theirs = Whole.model_validate(data), pydantic_twin(Whole).model_validate(data)
    assert json_text(ours, indent=indent) == pydantic_text(theirs, indent=indent)
    assert ours.model_dump_json(indent=indent) == theirs.model_dump_json(indent=indent)
    # a section inside a record or a list is written as its own JSON
    leaf = Leaf(figure=1, name="n", mode=Mode.SLOW, extra=[ours, {"w": ours}])
    twin_leaf = Leaf(figure=1, name="n", mode=Mode.SLOW, extra=[theirs, {"w": theirs}])
    assert json_text(leaf, indent=indent) == pydantic_text(twin_leaf, indent=indent)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(TypeError, match="object cannot be written as JSON"):
        json_text({"a": object()})


@record
class Fresh(Record):  # written by this test alone: its writers start interpreted
    name: str
    figure: float | None
    count: int
    flag: bool
    mode: Mode
    parts: list[Leaf]
    loose: dict[Any, Any]


@pytest.mark.parametrize("indent", [None, 2])
def test_the_compiled_writers_write_what_the_interpreted_ones_wrote(indent: int | None) -> None:
    leaf = Leaf(figure=2.5e-5, name="é\x00", mode=Mode.FAST, extra={1.5: [None, True, 1e16]})
    fresh = Fresh(
        name='a "b"', figure=1e-7, count=3, flag=True, mode=Mode.SLOW, parts=[leaf, leaf],
        loose={Count.ONE: (), "x": {"y": float("nan")}, None: Plain.HALF},
    )  # fmt: skip
    assert {json_text(fresh, indent=indent) for _ in range(20)} == {
        pydantic_text(fresh, indent=indent)
    }
    # written at a depth inside an enclosing text (a report's pairs): each line indented
    margin = "\n" + " " * 2 * (indent or 0)
    assert {json_text(fresh, indent=indent, level=2) for _ in range(20)} == {
        pydantic_text(fresh, indent=indent).replace("\n", margin)
    }
