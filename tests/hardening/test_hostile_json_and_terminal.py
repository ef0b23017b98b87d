"""Machine-readable outputs keep hostile values exact (JSON escapes them, SARIF encodes paths as
URIs); terminal outputs show control characters instead of sending them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.hardening.conftest import Run
from tests.hardening.hostile import (
    HOSTILE_FILE,
    PAYLOAD,
    REVISION,
    UNKNOWN_MODEL_FILE,
    VALUES_FILE,
    assert_nothing_ran,
    hostile_profiles,
)

_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    hostile_profiles(tmp_path)
    return tmp_path


def test_plan_json_keeps_the_values_exact(cli: Callable[..., Run], tree: Path) -> None:
    run = cli("plan", "--profile", VALUES_FILE, "--json")
    assert run.code == 0, run
    plan = json.loads(run.out)
    assert plan["config"]["revision"] == REVISION
    assert_nothing_ran(tree)


def test_check_json_keeps_names_and_messages_exact(cli: Callable[..., Run], tree: Path) -> None:
    run = cli("check", ".", "--offline", "--no-comment", "--format", "json")
    report = json.loads(run.out)
    verdicts = {p["profile"]: p["verdict"] for p in report["pairs"]}
    assert verdicts == {HOSTILE_FILE: "FAIL", UNKNOWN_MODEL_FILE: "ERROR", VALUES_FILE: "PASS"}
    (error,) = [p["error"] for p in report["pairs"] if p["error"]]
    assert "org/" + PAYLOAD[:40] in error["message"] or repr(PAYLOAD)[1:40] in error["message"]


def test_sarif_locations_are_uris_of_the_real_files(cli: Callable[..., Run], tree: Path) -> None:
    run = cli("check", ".", "--offline", "--no-comment", "--format", "sarif")
    sarif = json.loads(run.out)
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for result in sarif["runs"][0]["results"]
        for loc in result["locations"]
    }
    for uri in uris:
        assert not re.search(r"[\s<>\"`|{}^\\]", uri), uri  # characters a URI may not hold raw
    assert {unquote(u) for u in uris} == {HOSTILE_FILE, UNKNOWN_MODEL_FILE}


def _control_profile(folder: Path) -> str:
    # YAML double quotes turn \e and \a into real ESC/BEL characters in the value
    (folder / "esc.yaml").write_text(
        'model:\n  id: Qwen/Qwen3-8B\n  revision: "\\e]0;TITLE\\a\\e[2J\\rrev"\n'
        'hardware:\n  gpu_name: "H100-SXM-80GB"\n  targets: ["L4\\e[5m"]\n'
    )
    return "esc.yaml"


@pytest.mark.parametrize(
    "argv",
    [
        ("plan", "--profile", "esc.yaml"),
        ("plan", "--profile", "esc.yaml", "--explain"),
        ("check", "esc.yaml", "--offline", "--no-comment"),
    ],
    ids=["plan", "plan-explain", "check-text"],
)
def test_terminal_output_shows_control_characters(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    monkeypatch.chdir(tmp_path)
    _control_profile(tmp_path)
    run = cli(*argv)
    assert "Traceback" not in run.err
    assert not _RAW_CONTROL.search(run.out + run.err), (run.out + run.err)[:2000]
