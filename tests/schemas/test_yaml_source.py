"""Nesting limits are ours, whichever YAML parser PyYAML was built with; bundled data files
are parsed once and then read from a cache."""

from __future__ import annotations

import datetime
import hashlib
import json
import marshal
import os
import sys
from pathlib import Path

import pytest
import yaml

from checker.schemas import yaml_source
from checker.schemas.yaml_source import (
    MAX_DEPTH,
    YAMLSourceError,
    bundled_part,
    decode_text,
    load_data,
    parse_yaml,
)

PARSERS = [yaml.SafeLoader] + ([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])


@pytest.mark.parametrize("loader", PARSERS, ids=lambda loader: loader.__name__)
@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        # flow collections far past libyaml's own cap (1000) and Python's recursion limit
        # (the error points at the first collection opened inside MAX_DEPTH others)
        ("model: " + "[" * 5000 + "]" * 5000 + "\n", 1, len("model: ") + MAX_DEPTH + 1),
        ("a: 1\nmodel: " + "{x: " * 3000 + "1" + "}" * 3000 + "\n", 2, 4 * MAX_DEPTH + 5),
        ("model:\n  - [" + "[" * 1100, 2, 4 + MAX_DEPTH),
        # block style: the key of the mapping nested MAX_DEPTH + 1 deep
        (
            "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 2)),
            MAX_DEPTH + 1,
            2 * MAX_DEPTH + 1,
        ),
    ],
    ids=["flow-seq", "flow-map", "unclosed", "block"],
)
def test_too_deep_is_our_located_error(
    monkeypatch: pytest.MonkeyPatch,
    loader: type[yaml.SafeLoader],
    text: str,
    line: int,
    column: int,
) -> None:
    monkeypatch.setattr(yaml_source, "_LOADER", loader)
    parse_yaml.cache_clear()
    with pytest.raises(YAMLSourceError) as caught:
        parse_yaml(text)
    assert caught.value.message == f"nesting deeper than {MAX_DEPTH} levels"
    assert (caught.value.line, caught.value.column) == (line, column)


@pytest.mark.parametrize("loader", PARSERS, ids=lambda loader: loader.__name__)
def test_at_the_limit_still_loads(
    monkeypatch: pytest.MonkeyPatch, loader: type[yaml.SafeLoader]
) -> None:
    monkeypatch.setattr(yaml_source, "_LOADER", loader)
    parse_yaml.cache_clear()
    data, _ = parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    for _ in range(MAX_DEPTH - 1):
        (data,) = data
    assert data == []


@pytest.mark.parametrize("loader", PARSERS, ids=lambda loader: loader.__name__)
def test_malformed_before_the_limit_stays_a_syntax_error(
    monkeypatch: pytest.MonkeyPatch, loader: type[yaml.SafeLoader]
) -> None:
    monkeypatch.setattr(yaml_source, "_LOADER", loader)
    parse_yaml.cache_clear()
    with pytest.raises(YAMLSourceError) as caught:
        parse_yaml("model: [a, b\nx: }" + "[" * 5000)
    assert caught.value.message.startswith("invalid YAML:")
    assert caught.value.line is not None


def test_data_files_are_parsed_once_then_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    text = "rules:\n  VW101: {name: a, ratio: 0.5, list: [1, null, true]}\n"
    first = load_data(text, tmp_path)
    assert len(list(tmp_path.glob("*.marshal"))) == 1
    monkeypatch.setattr(yaml, "load", _no_parse)
    assert (
        load_data(text, tmp_path)
        == first
        == {"rules": {"VW101": {"name": "a", "ratio": 0.5, "list": [1, None, True]}}}
    )
    with pytest.raises(AssertionError):  # another text is parsed, not served a stale entry
        load_data(text + "more: 1\n", tmp_path)


def test_a_part_of_a_data_file_is_cached_as_an_entry_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(yaml_source, "DATA_DIR", tmp_path)
    data = tmp_path / "part-test.json"
    data.write_text('{"lines": {"a": [1, 2], "b": [3]}}', encoding="utf-8")
    yaml_source._bundled_digest.cache_clear()
    assert bundled_part("part-test.json", "b", lambda d: d["lines"]["b"]) == [3]
    parse = json.loads
    monkeypatch.setattr(json, "loads", _no_parse)  # a later start reads the part's entry alone
    assert bundled_part("part-test.json", "b", lambda d: d["lines"]["b"]) == [3]
    with pytest.raises(AssertionError):  # another part of the file is derived from the file
        bundled_part("part-test.json", "a", lambda d: d["lines"]["a"])
    data.write_text('{"lines": {"b": [4]}}', encoding="utf-8")
    yaml_source._bundled_digest.cache_clear()
    with pytest.raises(AssertionError):  # an edited file is parsed again, not served stale
        bundled_part("part-test.json", "b", lambda d: d["lines"]["b"])
    monkeypatch.setattr(json, "loads", parse)
    assert bundled_part("part-test.json", "b", lambda d: d["lines"]["b"]) == [4]
    yaml_source._bundled_digest.cache_clear()


def test_data_cache_is_not_written_where_bytecode_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert load_data("a: 1\n", tmp_path / "cache") == {"a": 1}
    assert not (tmp_path / "cache").exists()


def test_a_date_in_data_is_parsed_without_a_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    assert load_data("day: 2024-01-02\n", tmp_path) == {"day": datetime.date(2024, 1, 2)}
    assert list(tmp_path.iterdir()) == []  # marshal cannot hold a date: nothing half-written


@pytest.mark.parametrize("xdg", [True, False], ids=["XDG_CACHE_HOME", "home"])
def test_the_data_cache_is_the_users_never_the_installed_package(
    xdg: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    if xdg:
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    else:
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    expected = tmp_path / ("xdg" if xdg else "home/.cache") / "vllm-wizard" / "data"
    assert yaml_source.data_cache() == expected
    assert load_data("a: [1, 2]\n") == {"a": [1, 2]}
    [cached] = expected.glob("*.marshal")
    assert not list(yaml_source.DATA_DIR.rglob(cached.name))  # nothing beside the package's data


def test_a_read_only_or_unusable_cache_gives_the_same_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    text = "rules: {VW101: {ratio: 0.5}}\n"
    blocked = tmp_path / "file"  # a file where the cache folder would be: nothing is written
    blocked.write_text("", encoding="utf-8")
    assert load_data(text, blocked / "cache") == {"rules": {"VW101": {"ratio": 0.5}}}
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        assert load_data(text, read_only) == {"rules": {"VW101": {"ratio": 0.5}}}
    finally:
        read_only.chmod(0o700)
    monkeypatch.setattr(yaml_source, "data_cache", lambda: None)  # no home at all
    assert load_data(text) == {"rules": {"VW101": {"ratio": 0.5}}}


@pytest.mark.parametrize(
    "blob",
    [b"\xff" * 7, b"", "truncated", "other data", "bare data"],
    ids=["garbage", "empty", "truncated", "other-data", "bare-data"],
)
def test_a_damaged_or_foreign_cache_entry_is_parsed_again_and_repaired(
    blob: bytes | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file another program, an older format or a disk fault left under the entry's name must
    # never be served as the data file's content (it made every command an internal error)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    text = "rules: {VW101: {ratio: 0.5}}\n"
    load_data(text, tmp_path)
    [entry] = tmp_path.glob("*.marshal")
    good = entry.read_bytes()
    entry.write_bytes(
        good[: len(good) // 2]
        if blob == "truncated"
        else marshal.dumps({"x": 1})
        if blob == "other data"
        else marshal.dumps({"rules": {}})
        if blob == "bare data"
        else blob
    )
    assert load_data(text, tmp_path) == {"rules": {"VW101": {"ratio": 0.5}}}
    assert entry.read_bytes() == good  # repaired for the next run


def test_a_cache_entry_that_is_a_pipe_is_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # reading a FIFO left under the entry's name blocked every command for ever
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    text = "rules: {VW101: {ratio: 0.5}}\n"
    load_data(text, tmp_path)
    [entry] = tmp_path.glob("*.marshal")
    entry.unlink()
    os.mkfifo(entry)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # nothing replaces the FIFO
    assert load_data(text, tmp_path) == {"rules": {"VW101": {"ratio": 0.5}}}


def test_an_older_releases_entry_is_left_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a release whose entries are the bare data (before they carried their digest) may share
    # the cache: it must neither read our entries as its data nor have its own rewritten
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    text = "rules: {VW101: {ratio: 0.5}}\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    older = tmp_path / f"{digest}.{sys.implementation.cache_tag}.marshal"
    older.write_bytes(marshal.dumps({"rules": {"VW101": {"ratio": 0.5}}}))
    assert load_data(text, tmp_path) == {"rules": {"VW101": {"ratio": 0.5}}}
    assert marshal.loads(older.read_bytes()) == {"rules": {"VW101": {"ratio": 0.5}}}
    assert len(list(tmp_path.glob("*.marshal"))) == 2


def _no_parse(*args: object, **kwargs: object) -> object:
    raise AssertionError("parsed again")


def test_no_bundled_data_file_repeats_a_key() -> None:
    # the fast loader keeps the last of two equal keys; a merged second copy of a version's
    # entry would silently replace the first
    data = Path(__file__).resolve().parents[2] / "checker" / "data"
    for path in sorted(data.glob("*.yaml")):
        parse_yaml(path.read_text("utf-8"))  # raises YAMLSourceError on a repeated key


@pytest.mark.parametrize("limit", [5, 11, 12, 1 << 20])
def test_read_prefix_reads_what_a_file_holds_up_to_the_limit_whatever_its_stat_said(
    limit: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The size fstat reports only sizes the first read: a file that grew since (or a /proc
    file, which reports 0) is still read on, to ``limit`` bytes at most."""
    path = tmp_path / "p.yaml"
    path.write_bytes(b"model: {}\n#")  # 11 bytes
    real_fstat = os.fstat

    def understated(fd: int) -> os.stat_result:
        found = list(real_fstat(fd))
        found[6] = 1  # st_size
        return os.stat_result(found)

    monkeypatch.setattr(os, "fstat", understated)
    assert yaml_source.read_prefix(path, limit) == b"model: {}\n#"[:limit]


def test_read_prefix_of_a_directory_refuses_it_and_keeps_no_descriptor_open(tmp_path: Path) -> None:
    """A directory opens on Linux and only fdopen refuses it: the descriptor is closed then
    (a cache entry that is a directory is read on every run)."""
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        with pytest.raises(IsADirectoryError):
            yaml_source.read_prefix(tmp_path, 64)
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("model:\n  id: x\n".encode("utf-16"), "not UTF-8 text (byte 0): UTF-16; save it as UTF-8"),
        (
            b"\x1f\x8b\x08\x00\xff",
            "not UTF-8 text (byte 1): gzip data; decompress it first (gzip -dc)",
        ),
        (b"\x7fELF\x02\x00\x00\xff", "not UTF-8 text (byte 7): a binary file, not text"),
        (b"model:\n  id: caf\xe9\n", "not UTF-8 text (byte 16); save it as UTF-8"),
    ],
    ids=["utf16", "gzip", "binary", "latin1"],
)
def test_a_file_that_is_not_utf8_says_what_it_is(data: bytes, says: str) -> None:
    with pytest.raises(YAMLSourceError) as caught:
        decode_text(data)
    assert caught.value.message == says


def _tags(node: yaml.Node) -> list[str]:
    inner: list[yaml.Node] = []
    if isinstance(node, yaml.MappingNode):
        inner = [n for pair in node.value for n in pair]
    elif isinstance(node, yaml.SequenceNode):
        inner = list(node.value)
    return [str(node.tag), *(tag for n in inner for tag in _tags(n))]


def test_nodes_are_tagged_as_pyyaml_tags_them() -> None:
    """Tags are resolved once per distinct scalar: twice over, each as PyYAML's own loader."""
    text = (
        "a: 1\nb: 1.5\nc: true\nd: ~\ne: '1'\nf: yes\ng: 2001-01-01\nh: [0x10, .inf, '', x]\n"
        "i: {j: null, k: -0.0, '': NO}\n"
    )
    for _ in range(2):
        ours = yaml_source._LOADER(text).get_single_node()
        theirs = yaml.SafeLoader(text).get_single_node()
        assert ours is not None and theirs is not None
        assert _tags(ours) == _tags(theirs)
