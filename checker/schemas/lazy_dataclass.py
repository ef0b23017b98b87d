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
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

__all__ = ["lazy_dataclass"]

_METHODS = {"__init__", "__repr__", "__eq__"}

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
        method = _compiled_method(kind, name, frozen)
        setattr(kind, name, method)
        return method(self, *args, **kwargs)

    first_call.__qualname__ = f"{kind.__qualname__}.{name}"
    return first_call


def _compiled_method(kind: type, name: str, frozen: bool) -> Callable[..., Any]:
    """``kind``'s method ``name`` as dataclass writes it, compiled on a stand-in class with the
    same fields (the same Field objects) that asks dataclass for this one method."""
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
