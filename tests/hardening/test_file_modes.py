"""Files we create get the mode the umask gives (like any other tool), executables included;
a file that exists keeps its own mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.hardening.conftest import Run

PROFILE = EXAMPLES / "profiles" / "llama-3.1-8b-l4.yaml"


@pytest.fixture(params=[0o022, 0o002, 0o077], ids=lambda m: f"umask-{m:03o}")
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield int(request.param)
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_reports_and_schema_follow_the_umask(
    cli: Callable[..., Run], tmp_path: Path, umask: int
) -> None:
    schema, report = tmp_path / "schema.json", tmp_path / "report.json"
    assert cli("schema", "-o", str(schema)).code == 0
    run = cli("check", str(PROFILE), "--offline", "--format", "json", "--output", str(report))
    assert run.code in (0, 1), run
    assert _mode(schema) == _mode(report) == 0o666 & ~umask


def test_generated_scripts_are_executable_under_the_umask(
    cli: Callable[..., Run], tmp_path: Path, umask: int
) -> None:
    run = cli(
        "generate", "--profile", str(PROFILE), "--offline", "-o", str(tmp_path),
        "--emit", "command,compose",
    )  # fmt: skip
    assert run.code == 0, run
    scripts = list(tmp_path.glob("*.sh"))
    others = [p for p in tmp_path.iterdir() if p.suffix != ".sh"]
    assert scripts and others
    assert {_mode(p) for p in scripts} == {0o777 & ~umask}
    assert {_mode(p) for p in others} == {0o666 & ~umask}


def test_an_existing_file_keeps_its_mode(cli: Callable[..., Run], tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text("old\n")
    schema.chmod(0o640)
    assert cli("schema", "-o", str(schema)).code == 0
    assert _mode(schema) == 0o640 and schema.read_text() != "old\n"
