"""Fewer garbage-collector passes while a batch of pairs is planned.

A batch allocates many small objects and keeps most of them (each pair's result, until the
report is written), so CPython's young-generation passes, one per 700 allocations by
default, find almost no garbage cycles and keep re-scanning survivors: at 10,000 profiles x
3 GPUs they cost 0.05 ms a pair, 8 % of the gate's CPU (benchmarks/speed.py, issue 17).
Objects still die by reference count as usual; only the cycle search runs less often.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BATCH_THRESHOLD = 10_000  # allocations between young passes while planning (CPython: 700)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the young generation's threshold for the block; the caller's is restored."""
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, BATCH_THRESHOLD), *older)
    try:
        yield
    finally:
        gc.set_threshold(young, *older)
