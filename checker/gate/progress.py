"""Progress of a long run on stderr: a bar on a terminal, a few counter lines elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]  # (done, total)
_WIDTH = 30


def progress_reporter(stream: TextIO, *, quiet: bool, label: str = "audit") -> Progress | None:
    if quiet:
        return None
    if stream.isatty():
        return _bar(stream, label)
    return _counter(stream, label)


def _bar(stream: TextIO, label: str) -> Progress:
    def show(done: int, total: int) -> None:
        filled = _WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        end = "\n" if done >= total else ""
        stream.write(f"\r{label} [{bar}] {done}/{total}{end}")
        stream.flush()

    return show


def _counter(stream: TextIO, label: str) -> Progress:
    """A line at each tenth of the way (logs keep every line, so not one per step)."""
    shown: set[int] = set()

    def show(done: int, total: int) -> None:
        tenth = 10 * done // max(total, 1)
        if done and tenth not in shown:
            shown.add(tenth)
            stream.write(f"{label}: {done}/{total} planned\n")
            stream.flush()

    return show
