"""Escaping for every sink untrusted text (profile values, model names) reaches.

Shell: shlex.quote. YAML: a double-quoted scalar written by PyYAML itself. Compose and
Kubernetes also expand ``$VAR`` / ``$(VAR)`` in values, so a literal ``$`` is doubled there.
Markdown: no table breaks, no code-span breaks, no raw HTML, no @mention pings.
Terminal: control characters (ANSI escapes) are shown, never sent.
"""

from __future__ import annotations

import functools
import re
import shlex
from typing import Any

import yaml


def sh(value: object) -> str:
    """One shell word. With ESC, CR, BEL or a bidi override in it, bash's ``$'...'`` form: the
    script shows an escape where a raw character would drive a terminal or hide code."""
    text = str(value)
    if not _INVISIBLE.search(text):
        return shlex.quote(text)
    return "$'" + "".join(_ansi_c(ch) for ch in text) + "'"


def _ansi_c(ch: str) -> str:
    if ch in "\\'":
        return "\\" + ch
    if not _INVISIBLE.match(ch):
        return ch
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}"


def yaml_str(value: object) -> str:
    """``value`` as one double-quoted YAML scalar on a single line. PyYAML escapes control
    characters itself; bidi overrides it would pass become ``\\uXXXX`` escapes too."""
    text = yaml.safe_dump(
        str(value), default_style='"', width=float("inf"), allow_unicode=True
    ).rstrip("\n")
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def yaml_value(value: Any) -> str:
    """A YAML scalar: numbers and booleans as such, everything else a quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return yaml_str(value)


def dollar(value: object) -> str:
    """Escape ``$`` for Compose interpolation and Kubernetes ``$(VAR)`` expansion ($$ -> $)."""
    return str(value).replace("$", "$$")


# Control characters plus the bidirectional overrides/isolates that can reorder what a
# reviewer sees ("Trojan Source"): never passed through to a reader.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(value: object) -> str:
    """``value`` with control and bidi-override characters shown as escapes."""
    text = str(value)
    if text.isprintable():  # none of them (all are unprintable): a scan, not a regex search
        return text
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# Everything that could end a printed line, drive a terminal or reorder what a reader sees.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal(value: object) -> str:
    """``value`` for one printed line (stdout, stderr, a CI log): every control character
    (newline, CR, ESC, ...) and bidi override shown as an escape, and ``::`` split, so no value
    can start a line the Actions runner obeys as a workflow command (``::set-output``)."""
    shown = str(value)
    if not shown.isprintable():  # else none to escape (all are unprintable): no regex search
        shown = _LINE_BREAKING.sub(_escaped, shown)
    return shown.replace("::", ":\\x3a")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# Inline text never starts a line here, so only inline syntax needs escaping ($ is math).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")


def md_text(value: object) -> str:
    """Inline markdown text: literal characters, no HTML, no pings, one line."""
    return _md_text(value if isinstance(value, str) else str(value))


@functools.lru_cache(maxsize=4096)  # a fleet's report repeats its paths, targets and messages
def _md_text(value: str) -> str:
    text = visible(" ".join(value.split()))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return text.replace("@", "@&#8203;")


def md_code(value: object, *, table: bool = False) -> str:
    """An inline code span that ``value`` cannot close (in a table cell, pipes escaped too:
    the span's fence and padding have none)."""
    code = _md_code(value if isinstance(value, str) else str(value))
    return code.replace("|", "\\|") if table else code


@functools.lru_cache(maxsize=4096)  # a fleet's report repeats its targets, models and values
def _md_code(value: str) -> str:
    text = visible(" ".join(value.split()))  # a code span shows ESC or bidi, never obeys
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_fence(lines: list[str], info: str = "text") -> str:
    """A fenced code block longer than any backtick run inside it."""
    body = "\n".join(visible(line) for line in lines)  # shown, not obeyed
    runs = re.findall(r"`{3,}", body) if "```" in body else ()
    longest = max((len(run) for run in runs), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"
