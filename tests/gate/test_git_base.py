from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import UsageError
from checker.gate.sources.discovery import Unreadable
from checker.gate.sources.git_base import open_revision
from tests.gate.gitrepo import commit_all, make_repo


def test_reads_files_at_a_revision_relative_to_cwd(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "profiles").mkdir()
    (repo / "profiles" / "a.yaml").write_text("v: 1\n")
    first = commit_all(repo, "one")
    (repo / "profiles" / "a.yaml").write_text("v: 2\n")
    (repo / "profiles" / "b.yaml").write_text("new\n")
    commit_all(repo, "two")

    base = open_revision("HEAD~1", repo / "profiles")
    assert base.commit == first
    assert base.files == ("a.yaml",)
    assert base.read("a.yaml") == "v: 1\n"
    assert base.read("b.yaml") == Unreadable("not a file at HEAD~1")
    assert base.read("../../outside.yaml") == Unreadable("outside the repository")
    top = open_revision("main", repo)
    assert top.files == ("profiles/a.yaml", "profiles/b.yaml")


@pytest.mark.parametrize("ref", ["no-such-branch", "-rf", ""])
def test_missing_or_odd_revision_is_a_usage_error(tmp_path: Path, ref: str) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / "x").write_text("x")
    commit_all(repo, "one")
    with pytest.raises(UsageError) as err:
        open_revision(ref, repo)
    assert repr(ref) in err.value.message


def test_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not in one"):
        open_revision("HEAD", tmp_path)
