"""Control characters and bidi overrides ("Trojan Source") never reach a reader unescaped."""

from __future__ import annotations

import pytest

from checker.gate.formats.github import escape_data, escape_property
from checker.render.escape import _INVISIBLE, _LINE_BREAKING, md_text, visible

HIDDEN = ["\x1b[31m", "\u202e", "\u2066", "\x07", "\x9b"]


@pytest.mark.parametrize("char", HIDDEN)
def test_markdown_and_annotations_show_them(char: str) -> None:
    text = f"model{char}name"
    for out in (visible(text), md_text(text), escape_data(text), escape_property(text)):
        assert char[0] not in out
        assert "u00" in out or "u20" in out


def test_ordinary_text_is_untouched() -> None:
    assert visible("Qwen/Qwen3-8B \u00e9\u2713") == "Qwen/Qwen3-8B \u00e9\u2713"


def test_every_escaped_character_is_unprintable() -> None:
    # visible() and terminal() return printable text as it is, without searching it
    escaped = [chr(c) for c in range(0x110000) if _INVISIBLE.match(chr(c))]
    escaped += [chr(c) for c in range(0x110000) if _LINE_BREAKING.match(chr(c))]
    assert escaped and not any(char.isprintable() for char in escaped)
