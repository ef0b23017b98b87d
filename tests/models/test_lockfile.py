"""The lockfile: recorded Hub metadata, validated on read, rewritten atomically and sorted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.errors import ProfileError
from checker.models.lockfile import LockEntry, read_lockfile, record

SHA = "a" * 40


def _entry(model: str, revision: str = "main", layers: int = 2) -> LockEntry:
    return LockEntry(
        model=model, revision=revision, commit=SHA, safetensors_bytes=10, config={"n": layers}
    )


def test_a_missing_lockfile_is_empty(tmp_path: Path) -> None:
    assert read_lockfile(tmp_path / "none.json").models == ()


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_a_blank_lockfile_is_empty_and_recorded_into(tmp_path: Path, text: str) -> None:
    path = tmp_path / "vllm-wizard.lock.json"
    path.write_text(text)  # created by hand (touch) before the first --update-lockfile
    assert read_lockfile(path).models == ()
    record(path, _entry("acme/a"))
    assert [e.model for e in read_lockfile(path).models] == ["acme/a"]


def test_record_adds_replaces_and_sorts(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "vllm-wizard.lock.json"
    record(path, _entry("zeta/b"))
    record(path, _entry("Acme/a"))
    record(path, _entry("acme/A", layers=3))  # same model+revision: replaced
    record(path, _entry("acme/a", revision="v2"))
    models = read_lockfile(path).models
    assert [(e.model, e.revision, e.config["n"]) for e in models] == [
        ("acme/A", "main", 3),
        ("acme/a", "v2", 2),
        ("zeta/b", "main", 2),
    ]
    assert json.loads(path.read_text())["lockfile_version"] == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_find_matches_id_ignoring_case_and_revision_or_commit(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    record(path, _entry("Acme/Tiny"))
    lock = read_lockfile(path)
    assert lock.find("acme/tiny", None) is not None
    assert lock.find("acme/tiny", SHA) is not None
    assert lock.find("acme/tiny", "v2") is None
    assert lock.find("acme/other", None) is None


def test_a_broken_lockfile_is_an_error_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    path.write_text('{"lockfile_version": 1,\n "models": [}')
    with pytest.raises(ProfileError, match="not valid JSON") as caught:
        read_lockfile(path)
    assert caught.value.location == f"{path}:2:13"


def test_an_invalid_entry_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    bad = {"model": "a/b", "commit": "not-a-sha", "config": {}}
    path.write_text(json.dumps({"lockfile_version": 1, "models": [bad]}))
    with pytest.raises(ProfileError, match=r"models\.0\.commit"):
        read_lockfile(path)
    path.write_text(json.dumps({"lockfile_version": 2, "models": []}))
    with pytest.raises(ProfileError, match="lockfile_version"):
        read_lockfile(path)
