"""A bounded cache of pure results keyed on an object's identity and a few small values.

The planner's inputs (ModelInfo, GPUSpec) are frozen sections whose own ``__hash__``
walks dozens of fields on every call, and a fleet check shares a few of them over thousands
of plans: keyed on identity, a look-up costs a tuple's hash. An entry holds its object, so
the object's id cannot be reused while the entry lives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByIdentity(Generic[V]):
    """``compute()`` for (``obj``, ``key``), once per pair of them; the oldest entry goes when
    ``maxsize`` are held."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: dict[tuple[int, Hashable], tuple[object, V]] = {}

    def get(self, obj: object, key: Hashable, compute: Callable[[], V]) -> V:
        slot = (id(obj), key)
        hit = self._entries.get(slot)
        if hit is not None and hit[0] is obj:
            return hit[1]
        value = compute()
        if len(self._entries) >= self._maxsize:
            del self._entries[next(iter(self._entries))]
        self._entries[slot] = (obj, value)
        return value

    def __len__(self) -> int:
        return len(self._entries)
