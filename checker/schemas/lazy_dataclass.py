"""``@lazy_dataclass``: ``@dataclass`` (frozen, slots or neither) whose ``__init__``,
``__repr__``, ``__eq__`` and ``__hash__`` are each compiled when first called, not when the
class is defined. dataclasses compiles all four at definition, several ms for a wide class
(Settings: 57 fields) at every cold start, where a run may never print or compare one.

To type checkers it is ``dataclass`` itself. Classes keep everything else dataclasses gives
(``fields``, ``replace``, ``asdict``, frozen assignment errors, slots, pickling). No InitVar
fields: ``fields()`` does not give them back to the compiled ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import TYPE_CHECKING, Any

__all__ = ["lazy_dataclass"]

_METHODS = {"__init__", "__repr__", "__eq__"}
_FACTORY = object()  # a parameter's default where its field has a default factory

if TYPE_CHECKING:
    from dataclasses import dataclass as lazy_dataclass
else:

    def lazy_dataclass(cls=None, /, *, frozen=False, slots=False):
        """``dataclass(cls, frozen=frozen, slots=slots)``, its methods compiled at first use."""

        def wrap(cls):
            own = vars(cls).keys() & (_METHODS | {"__hash__"})  # the class's own: kept
            if not cls.__doc__:  # dataclass would tokenize object's signature to write one
                cls.__doc__ = cls.__name__
            made = dataclass(cls, frozen=frozen, slots=slots, init=False, repr=False, eq=False)
            for name in _METHODS - own:
                setattr(made, name, _first_call(made, name, frozen))
            if "__hash__" not in own:  # as dataclass decides for eq=True without unsafe_hash
                made.__hash__ = _first_call(made, "__hash__", frozen) if frozen else None
            return made

        return wrap if cls is None else wrap(cls)


def _first_call(kind: type, name: str, frozen: bool) -> Callable[..., Any]:
    """A stand-in for ``kind``'s dataclass method ``name``: compiles it, puts it on the class
    in its own place and calls it."""

    def first_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        method = (
            _compiled_init(kind, frozen)
            if name == "__init__"
            else _compiled_method(kind, name, frozen)
        )
        setattr(kind, name, method)
        return method(self, *args, **kwargs)

    first_call.__qualname__ = f"{kind.__qualname__}.{name}"
    return first_call


def _compiled_init(kind: type, frozen: bool) -> Callable[..., None]:
    """``kind``'s ``__init__`` as dataclass writes it (the same parameters, defaults, default
    factories, keyword-only fields and ``__post_init__`` call) without the annotations
    dataclass compiles into it: half the source, for the widest classes most of the cost."""
    namespace: dict[str, Any] = {"_set": object.__setattr__, "_FACTORY": _FACTORY}
    params: list[str] = []
    keywords: list[str] = []
    assigned: list[tuple[str, str]] = []
    for f in fields(kind):
        name, value = f.name, f.name
        if f.default_factory is not MISSING:
            namespace[f"_factory_{name}"] = f.default_factory
            value = f"_factory_{name}()"
            if f.init:
                value = f"{value} if {name} is _FACTORY else {name}"
            param = f"{name}=_FACTORY"
        elif f.default is not MISSING:
            namespace[f"_default_{name}"] = f.default
            param = f"{name}=_default_{name}"
        else:
            param = name
        if f.init:
            (keywords if f.kw_only else params).append(param)
        elif f.default_factory is MISSING:
            if f.default is MISSING or "__slots__" not in vars(kind):
                continue  # dataclass leaves it unset, or to the class attribute
            value = f"_default_{name}"
        assigned.append((name, value))
    if not frozen:
        body = [f"self.{name} = {value}" for name, value in assigned]
    elif "__slots__" in vars(kind):
        body = [f"_set(self, {name!r}, {value})" for name, value in assigned]
    else:  # one dict update, not an object.__setattr__ call a field (Settings has 61)
        items = ", ".join(f"{name!r}: {value}" for name, value in assigned)
        body = [f"self.__dict__.update({{{items}}})"] if assigned else []
    if hasattr(kind, "__post_init__"):
        body.append("self.__post_init__()")
    signature = ", ".join(["self", *params, *(["*", *keywords] if keywords else [])])
    return compile_init(kind, signature, body, namespace)


def compile_init(
    kind: type, signature: str, body: list[str], namespace: dict[str, Any]
) -> Callable[..., None]:
    """``kind``'s ``__init__(signature)`` running ``body``'s lines, compiled in ``namespace``
    (the names the lines use); shared with checker.schemas.records."""
    source = f"def __init__({signature}):\n" + "".join(f"    {b}\n" for b in body or ["pass"])
    exec(source, namespace)  # noqa: S102 - our own field names, as dataclasses does
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{kind.__qualname__}.__init__"
    return init


def _compiled_method(kind: type, name: str, frozen: bool) -> Callable[..., Any]:
    """``kind``'s ``__repr__``, ``__eq__`` or ``__hash__`` as dataclass writes it, compiled on a
    stand-in class with the same fields (the same Field objects) that asks for this one."""
    own = fields(kind)
    namespace: dict[str, Any] = {f.name: f for f in own}
    namespace.update(
        __annotations__={f.name: f.type for f in own},
        __module__=kind.__module__,
        __qualname__=kind.__qualname__,
        __doc__=kind.__doc__ or kind.__name__,  # none: dataclass would build one from a signature
    )
    if hasattr(kind, "__post_init__"):
        namespace["__post_init__"] = kind.__post_init__
    stand_in: type = dataclass(
        type(kind.__name__, (), namespace),
        frozen=frozen,
        init=name == "__init__",
        repr=name == "__repr__",
        eq=name in ("__eq__", "__hash__"),
    )
    method: Callable[..., Any] = vars(stand_in)[name]
    return method
