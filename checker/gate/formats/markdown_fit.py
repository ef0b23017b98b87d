"""Cut markdown to a size limit without leaving a code fence or a <details> block open."""

from __future__ import annotations

import re
from collections.abc import Callable

Measure = Callable[[str], int]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)")
_OPEN_DETAILS = re.compile(r"<details\b", re.IGNORECASE)
_CLOSE_DETAILS = re.compile(r"</details\s*>", re.IGNORECASE)


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    """GitHub counts a comment's length in characters; UTF-16 units never undercount them."""
    return len(text.encode("utf-16-le")) // 2


def fit_markdown(text: str, limit: int, note: str, *, measure: Measure = len) -> str:
    """``text`` if it fits in ``limit``; else its longest prefix that ends on a line and, after
    closing what was open, still leaves room for ``note``, which is appended."""
    if measure(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    fence: str | None = None  # the open fence's marker, e.g. "```"
    depth = 0  # <details> blocks open outside code
    for line in text.splitlines(keepends=True):
        next_fence, next_depth = _track(line, fence, depth)
        if used + measure(line) + measure(_closers(next_fence, next_depth) + note) <= limit:
            kept.append(line if line.endswith("\n") else line + "\n")
            used += measure(kept[-1])
            fence, depth = next_fence, next_depth
            continue
        if used < limit // 2:  # a very long line: keep the part that fits rather than nothing
            room = limit - used - measure(_closers(fence, depth) + note) - 1
            part = _prefix(line, room, measure)
            if _track(part, fence, depth) == (fence, depth) and part:
                kept.append(part + "\n")
        break
    tail = _closers(fence, depth) + note
    if measure(tail) > limit:
        raise ValueError(f"limit {limit} leaves no room for the truncation note")
    return "".join(kept) + tail


def _prefix(line: str, room: int, measure: Measure) -> str:
    """Longest prefix of ``line`` within ``room``, not ending inside an HTML tag."""
    low, high = 0, len(line)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(line[:mid]) <= room:
            low = mid
        else:
            high = mid - 1
    part = line[:low].rstrip("\n")
    cut = part.rfind("<")
    return part[:cut] if cut > part.rfind(">") else part


def _track(line: str, fence: str | None, depth: int) -> tuple[str | None, int]:
    match = _FENCE.match(line)
    if fence is not None:
        closes = (
            match is not None
            and match.group(1)[0] == fence[0]
            and len(match.group(1)) >= len(fence)
            and not match.group(2).strip()  # a closing fence carries no info string
        )
        return (None if closes else fence), depth
    if match:
        return match.group(1), depth
    opened = len(_OPEN_DETAILS.findall(line)) - len(_CLOSE_DETAILS.findall(line))
    return None, max(depth + opened, 0)


def _closers(fence: str | None, depth: int) -> str:
    return (f"{fence}\n" if fence else "") + "\n</details>\n" * depth + "\n"
