"""@lazy_dataclass behaves as @dataclass, its methods compiled at first use."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest

from checker.schemas.lazy_dataclass import lazy_dataclass


@lazy_dataclass(frozen=True)
class Point:
    """A frozen point."""

    x: int
    y: int = 2
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PlainPoint:
    """The same, as dataclass writes it."""

    x: int
    y: int = 2
    tags: list[str] = field(default_factory=list)


@lazy_dataclass(frozen=True, slots=True)
class Slotted:
    a: float
    b: str = "b"


@lazy_dataclass
class Mutable:
    count: int
    double: int = 0

    def __post_init__(self) -> None:
        self.double = 2 * self.count


@lazy_dataclass
class Options:
    name: str
    seen: list[int] = field(init=False, default_factory=list)
    level: int = field(default=1, kw_only=True)


@dataclass
class PlainOptions:
    name: str
    seen: list[int] = field(init=False, default_factory=list)
    level: int = field(default=1, kw_only=True)


def test_keyword_only_and_non_init_fields_as_dataclass_takes_them() -> None:
    assert vars(Options("a", level=2)) == vars(PlainOptions("a", level=2))
    assert vars(Options("a")) == {"name": "a", "seen": [], "level": 1}
    with pytest.raises(TypeError):
        Options("a", 2)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Options("a", seen=[1])  # type: ignore[call-arg]


def test_methods_are_compiled_at_first_use_only() -> None:
    @lazy_dataclass(frozen=True)
    class Late:
        value: int

    assert Late.__init__.__code__.co_name == "first_call"
    assert Late.__repr__.__code__.co_name == "first_call"
    Late(1)
    assert Late.__init__.__code__.co_name == "__init__"
    assert Late.__repr__.__code__.co_name == "first_call"  # never printed: never compiled


def test_a_lazy_dataclass_acts_as_dataclass_writes_it() -> None:
    lazy, plain = Point(1, tags=["t"]), PlainPoint(1, tags=["t"])
    assert repr(lazy).replace("Point", "PlainPoint", 1) == repr(plain)
    assert lazy == Point(1, 2, ["t"]) and lazy != Point(1, 3, ["t"])
    assert lazy != plain  # another class, as dataclass compares
    assert Point(1).tags is not Point(1).tags  # the factory runs per instance
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    assert dataclasses.replace(lazy, y=5) == Point(1, 5, ["t"])
    assert dataclasses.asdict(lazy) == {"x": 1, "y": 2, "tags": ["t"]}
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags"]
    assert pickle.loads(pickle.dumps(lazy)) == lazy


def test_slots_post_init_and_mutable_classes() -> None:
    slotted = Slotted(1.5)
    assert not hasattr(slotted, "__dict__") and slotted == Slotted(1.5, "b")
    assert repr(slotted) == "Slotted(a=1.5, b='b')"
    assert hash(slotted) == hash((1.5, "b"))  # as dataclass hashes: the fields' tuple
    assert pickle.loads(pickle.dumps(slotted)) == slotted
    with pytest.raises(dataclasses.FrozenInstanceError):
        slotted.a = 2.0  # type: ignore[misc]
    mutable = Mutable(3)
    assert mutable.double == 6
    mutable.count = 4
    assert mutable != Mutable(4)  # double stays 6; a new one's is 8
    assert Mutable(4) == Mutable(4)
    assert Mutable.__hash__ is None  # eq without frozen: unhashable, as dataclass makes it
