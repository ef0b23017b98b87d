from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from checker.gate.sources.discovery import (
    RealFolders,
    glob_regex,
    looks_like_profile,
    parse_spec,
    read_working_file,
    select,
    walk_yaml,
    working_tree_candidates,
)
from checker.gate.sources.profiles import profile_folder

PROFILE = "profile_version: 1\nmodel:\n  id: Qwen/Qwen3-8B\n"


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _discover(root: Path, *paths: str) -> tuple[list[str], list[str]]:
    specs = [parse_spec(p, root) for p in paths]
    chosen, unmatched, _ = select(
        specs, working_tree_candidates(specs, root), read_working_file(root)
    )
    return chosen, [s.text for s in unmatched]


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("profiles/*.yaml", "profiles/a.yaml", True),
        ("profiles/*.yaml", "profiles/sub/a.yaml", False),
        ("profiles/**/*.yaml", "profiles/a.yaml", True),
        ("profiles/**/*.yaml", "profiles/x/y/a.yaml", True),
        ("**/*.vllm.yml", "deep/er/a.vllm.yml", True),
        ("p/?.yaml", "p/ab.yaml", False),
        ("p/[ab].yaml", "p/b.yaml", True),
        ("p/[!ab].yaml", "p/b.yaml", False),
        ("p/a+b.yaml", "p/a+b.yaml", True),
    ],
)
def test_glob_regex(pattern: str, path: str, hit: bool) -> None:
    assert (re.fullmatch(glob_regex(pattern), path) is not None) is hit


def test_profile_shape() -> None:
    assert looks_like_profile(PROFILE)
    assert looks_like_profile("model:\n  id: x\n")
    assert not looks_like_profile("model: gpt\n")  # a string, not a mapping
    assert not looks_like_profile("jobs:\n  build: {}\n")
    assert looks_like_profile("model:\n  id: [unclosed\n")  # broken, but meant as a profile
    assert not looks_like_profile("key: [unclosed\n")


def test_directories_globs_and_files(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "profiles/a.yaml": PROFILE,
            "profiles/sub/b.yml": PROFILE,
            "profiles/ci.yaml": "on: push\n",  # not a profile: skipped in a walk
            "profiles/.hidden/c.yaml": PROFILE,
            "profiles/node_modules/d.yaml": PROFILE,
            "profiles/readme.md": "model:\n",
            "other/e.yaml": "on: push\n",
        },
    )
    assert _discover(tmp_path, "profiles") == (["profiles/a.yaml", "profiles/sub/b.yml"], [])
    assert _discover(tmp_path, "profiles/*.yaml") == (["profiles/a.yaml"], [])
    assert _discover(tmp_path, "./profiles/**/*.y*ml")[0] == [
        "profiles/a.yaml",
        "profiles/sub/b.yml",
    ]
    # a named file is checked whatever it looks like, and named twice counts once
    assert _discover(tmp_path, "other/e.yaml", "other/e.yaml", "profiles/a.yaml")[0] == [
        "other/e.yaml",
        "profiles/a.yaml",
    ]
    assert _discover(tmp_path, "profiles/*.json", "missing.yaml") == (
        [],
        ["profiles/*.json", "missing.yaml"],
    )


def test_paths_are_relative_to_cwd(tmp_path: Path) -> None:
    _tree(tmp_path, {"repo/profiles/a.yaml": PROFILE, "repo/sub/x.txt": ""})
    sub = tmp_path / "repo" / "sub"
    assert _discover(sub, "../profiles")[0] == ["../profiles/a.yaml"]
    assert _discover(sub, str(tmp_path / "repo" / "profiles" / "*.yaml"))[0] == [
        "../profiles/a.yaml"
    ]


def test_a_files_real_folder_is_its_folders_unless_it_is_a_link(tmp_path: Path) -> None:
    _tree(tmp_path, {"real/a.yaml": PROFILE, "other/b.yaml": PROFILE})
    (tmp_path / "via").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "c.yaml").symlink_to(tmp_path / "other" / "b.yaml")
    real = RealFolders()
    for rel in ("real/a.yaml", "via/a.yaml", "via/c.yaml", "real/c.yaml", "other/b.yaml"):
        expected = Path(os.path.realpath(tmp_path / rel)).parent
        assert profile_folder(tmp_path, rel, real) == expected == profile_folder(tmp_path, rel)


def test_found_files_are_named_from_the_walks_start(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.yaml": "", "p/b.yml": "", "p/q/c.yaml": "", "p/d.txt": "", ".x/e.yaml": ""})
    assert sorted(walk_yaml(".", tmp_path)) == ["a.yaml", "p/b.yml", "p/q/c.yaml"]
    assert sorted(walk_yaml("p", tmp_path)) == ["p/b.yml", "p/q/c.yaml"]
    assert sorted(walk_yaml("..", tmp_path / "p" / "q")) == ["../b.yml", "c.yaml"]
