"""``check --format github``: hostile names and messages never end our workflow command or
start another one, and every annotation still points at the real file."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from checker.gate.formats.github import escape_data, escape_property
from tests.hardening.conftest import Run
from tests.hardening.hostile import (
    GPU,
    HOSTILE_FILE,
    PAYLOAD,
    UNKNOWN_MODEL_FILE,
    assert_nothing_ran,
    hostile_profiles,
)

# Our annotations: ::error|warning|notice [props]::message; props hold no raw ':' (escaped).
_COMMAND = re.compile(r"^::(error|warning|notice)(?: (?P<props>[^:]*))?::(?P<message>.*)$")


def _unescape(text: str) -> str:
    for code, char in (("%0D", "\r"), ("%0A", "\n"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
        text = text.replace(code, char)
    return text


def _props(raw: str) -> dict[str, str]:
    return {k: _unescape(v) for k, v in (p.split("=", 1) for p in raw.split(","))}


@pytest.fixture
def lines(cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(tmp_path)
    hostile_profiles(tmp_path)
    run = cli("check", ".", "--offline", "--no-comment", "--format", "github")
    assert run.code == 2 and "Traceback" not in run.err, run  # one input error, one failure
    assert_nothing_ran(tmp_path)
    return run.out.splitlines()


def test_every_line_is_text_or_one_of_our_commands(lines: list[str]) -> None:
    commands = [line for line in lines if line.startswith("::")]
    assert commands, lines
    for line in commands:
        match = _COMMAND.match(line)
        assert match, line
        assert "INJECTED" not in (match["props"] or "")
    assert not any(line.startswith(("::error file=x", "::error::PWNED")) for line in lines)
    assert all("\r" not in line for line in lines)


def test_annotations_point_at_the_real_files(lines: list[str]) -> None:
    files = {
        _props(m["props"])["file"] for line in lines if (m := _COMMAND.match(line)) and m["props"]
    }
    assert files == {HOSTILE_FILE, UNKNOWN_MODEL_FILE}


def test_the_hostile_model_id_arrives_whole_but_inert(lines: list[str]) -> None:
    (line,) = [a for a in lines if UNKNOWN_MODEL_FILE in a]
    match = _COMMAND.match(line)
    assert match is not None
    message = _unescape(match["message"])
    assert "$(touch PWNED)" in message and "INJECTED" in message  # shown, not obeyed


@pytest.mark.parametrize(
    "text", [PAYLOAD, HOSTILE_FILE, "%0A::error::x", "a\r\n::warning::b", "100%", ""]
)
def test_escaping_round_trips(text: str) -> None:
    data, prop = escape_data(text), escape_property(text)
    assert "\n" not in data + prop and "\r" not in data + prop
    assert ":" not in prop and "," not in prop
    assert _unescape(data) == text and _unescape(prop) == text


def test_gpu_target_names_are_escaped_in_titles(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(
        f"model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: {GPU}\n"
        "  targets: ['x::error::INJECTED,file=evil']\n"
    )
    run = cli("check", "p.yaml", "--offline", "--no-comment", "--format", "github")
    commands = [line for line in run.out.splitlines() if line.startswith("::")]
    assert commands and all(_COMMAND.match(line) for line in commands), commands
    for line in commands:
        match = _COMMAND.match(line)
        assert match is not None
        assert _props(match["props"])["file"] == "p.yaml"
