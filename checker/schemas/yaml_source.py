"""Safe YAML reading that remembers where every key stood.

PyYAML's SafeLoader already refuses Python tags; on top of it this module refuses duplicate
keys, alias bombs, deep nesting, oversized files and non-core tags, and returns a map from each
key path to its (line, column) so errors can point at the text the user wrote.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import marshal
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml
from yaml import MappingNode, ScalarNode, SequenceNode

from checker.schemas.error_words import shown
from checker.schemas.lazy_dataclass import lazy_dataclass

MAX_BYTES = 1 << 20  # profiles are small; a 1 MiB file is a mistake or an attack
MAX_NODES = 100_000  # counted with alias expansion, so "billion laughs" stops early
MAX_DEPTH = 64
_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}

_STR_TAG = "tag:yaml.org,2002:str"  # half of a profile's nodes: every key is one
_INT_TAG = "tag:yaml.org,2002:int"
_NUMBER_TAGS = {_INT_TAG, "tag:yaml.org,2002:float"}
# A number is read only when written in plain decimal. YAML 1.1 (PyYAML) reads 010 as 8,
# 0x10 as 16, 0b11 as 3, 1_000 as 1000 and 1:30 as 90, where YAML 1.2 readers (editors with
# the profile schema, Kubernetes tools) read 010 as 10 and 1_000 or 1:30 as text: the same
# file would mean two things, so such a value is refused with the spelling to use instead.
_PLAIN_NUMBER = re.compile(
    r"[-+]?(?:0|[1-9][0-9]*|[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
# 08 and 09 are no octal numbers, so YAML 1.1 reads them as text, where YAML 1.2 reads 8 and 9
LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")

KeyPath = tuple[str | int, ...]


class YAMLSourceError(ValueError):
    """Raised with a 1-based line and column; callers add the file name."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@lazy_dataclass
class Positions:
    """Where each key path's key (for mappings) or item starts, 1-based."""

    spots: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)

    def nearest(self, path: Sequence[str | int]) -> tuple[int, int] | None:
        """The spot of ``path`` or of its closest ancestor that has one."""
        parts = tuple(path)
        while parts:
            if parts in self.spots:
                return self.spots[parts]
            parts = parts[:-1]
        return self.spots.get((), None)


def _mark(node: yaml.Node | yaml.Event) -> tuple[int, int]:
    mark = node.start_mark  # a parser's nodes and events always carry one
    assert mark is not None
    return mark.line + 1, mark.column + 1


class _Builder:
    def __init__(self, loader: yaml.SafeLoader):
        self.loader = loader
        self.constructors = loader.yaml_constructors
        self.positions = Positions()
        self.spots = self.positions.spots
        self.visited = 0

    def build(self, node: yaml.Node, path: KeyPath, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise YAMLSourceError(
                f"document expands to more than {MAX_NODES} nodes (alias bomb?)", *_mark(node)
            )
        if depth > MAX_DEPTH:
            raise _depth_error(*_mark(node))
        tag = node.tag  # the parser builds the three node classes, no subclass of them
        if tag == _STR_TAG and type(node) is ScalarNode:  # first: every key is one
            text = node.value  # what construct_yaml_str gives, without its bookkeeping
            if text[:1] in "0+-" and not node.style and LEADING_ZERO.fullmatch(text):
                raise YAMLSourceError(_not_plain_decimal(text, text), *_mark(node))
            return text
        if tag not in _CORE_TAGS:
            raise YAMLSourceError(_tag_refused(node), *_mark(node))
        if type(node) is MappingNode:
            return self._mapping(node, path, depth)
        if type(node) is SequenceNode:
            items = []
            for index, item in enumerate(node.value):
                self.spots.setdefault((*path, index), _mark(item))
                items.append(self.build(item, (*path, index), depth + 1))
            return items
        text = str(node.value)
        number = tag in _NUMBER_TAGS
        plain = number and _PLAIN_NUMBER.fullmatch(text) is not None
        try:
            # a plain decimal integer is int()'s own syntax, which construct_yaml_int ends in
            if plain and tag == _INT_TAG:
                value: Any = int(text)
            else:  # a scalar's constructor, without construct_object's bookkeeping
                value = self.constructors[tag](self.loader, node)
        except ValueError:  # an integer past Python's 4300-digit conversion limit
            raise YAMLSourceError(f"{text[:20]}... is too long a number", *_mark(node)) from None
        if number and not plain:
            raise YAMLSourceError(_not_plain_decimal(text, value), *_mark(node))
        return value

    def _mapping(self, node: MappingNode, path: KeyPath, depth: int) -> dict[str, Any]:
        self.loader.flatten_mapping(node)  # resolves "<<" merge keys
        result: dict[str, Any] = {}
        spots, build, inner = self.spots, self.build, depth + 1
        for key_node, value_node in node.value:
            key = build(key_node, path, inner)
            if not isinstance(key, str):
                raise YAMLSourceError(f"a key must be text, got {shown(key)}", *_mark(key_node))
            if key in result:
                raise YAMLSourceError(f"duplicate key {key!r}", *_mark(key_node))
            where = (*path, key)
            spots.setdefault(where, _mark(key_node))
            result[key] = build(value_node, where, inner)
        return result


def _tag_refused(node: yaml.Node) -> str:
    """Why a node of another YAML type than text, number, boolean, null, list or mapping is
    refused, in the file's terms."""
    if node.tag == "tag:yaml.org,2002:timestamp":  # an unquoted date such as a revision
        return f"{node.value} reads as a date, which is not allowed; quote it: '{node.value}'"
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!", 1)
    return f"the YAML tag {tag} is not allowed (plain values, lists and mappings only)"


def _not_plain_decimal(text: str, value: Any) -> str:
    """Why a number not written in plain decimal is refused, and what to write instead."""
    digits = text.lstrip("+-").replace("_", "")
    sign = "-" if text.startswith("-") else ""
    if ":" in text:
        how, meant = f"the base-60 number {value}", f"{value}"
    elif digits[:2].lower() in ("0x", "0b"):
        base = "hexadecimal" if digits[1] in "xX" else "binary"
        how, meant = f"the {base} number {value}", f"{value}"
    elif "_" in text:
        how, meant = f"{value}, with '_' as a digit separator", f"{value}"
    else:  # an integer with a leading zero: octal in YAML 1.1, decimal in YAML 1.2
        meant = sign + (digits.lstrip("0") or "0")
        how = f"the octal number {value}" if isinstance(value, int) else f"the text '{text}'"
    return (
        f"{shown(text)} is not a plain decimal number (YAML 1.1 reads it as {how}, other YAML "
        f"readers differently); write {meant}, or quote it ('{text}') if it is text"
    )


_RESOLVER = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=4096)
def _implicit_tag(kind: type[yaml.Node], value: str | None, implicit: Any) -> str:
    """The tag PyYAML's resolver gives a node: a function of these alone (no path resolvers
    are registered), so each key or value text of a fleet's files is resolved once, not
    matched against the resolver's patterns in every file."""
    return str(_RESOLVER.resolve(kind, value, implicit))  # type: ignore[no-untyped-call]


# libyaml's parser when PyYAML was built with it (several times faster); marks are the same.
_LOADER: type[yaml.SafeLoader] = type(
    "_Loader",
    (getattr(yaml, "CSafeLoader", yaml.SafeLoader),),
    {"resolve": staticmethod(_implicit_tag)},
)
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


# Our bundled data files (checker/data), read by path: importlib.resources would import zipfile
# and its readers at every start for files that are always plain files here.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


_MAX_CACHE_ENTRY = 64 << 20  # the largest data file's entry is under 100 KiB


def data_cache() -> Path | None:
    """Where parsed data files are cached, keyed by their content, so a command's cold start does
    not parse the same YAML again (vllm_flags.yaml alone costs more than all the rest of a
    one-profile check's planning): the user's cache directory ($XDG_CACHE_HOME, else ~/.cache),
    never the installed package; None without a home."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path(os.path.expanduser("~")) / ".cache"
    return root / "vllm-wizard" / "data" if root.is_absolute() else None


def load_data(text: str, cache: Path | None = None) -> Any:
    """Plain ``safe_load`` of our own bundled data files, with the fast loader, through a cache
    in ``cache`` (default: ``data_cache()``) that is written, best effort, unless Python writes
    no bytecode either (PYTHONDONTWRITEBYTECODE)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _through_cache(digest, "", lambda: yaml.load(text, Loader=_LOADER), cache)  # noqa: S506


def _through_cache(
    digest: str, part: str, parse: Callable[[], Any], cache: Path | None = None
) -> Any:
    """``parse()``, a pure function of the text whose SHA-256 is ``digest``, from its entry in
    the cache (``part``: which derivation of that text; "" the whole), else computed and
    stored there."""
    folder = cache or data_cache()
    if folder is None:
        return parse()
    # "d1": entries that hold (key, data); a release that stored the bare data as
    # <digest>.<tag>.marshal may share the folder and keeps its own files
    name = f"{digest[:32]}.{sys.implementation.cache_tag}.d1{'.' + part if part else ''}.marshal"
    path = folder / name
    key = f"{digest}:{part}" if part else digest
    # the entry carries the full digest of its text: a file that is valid marshal but not this
    # text's entry (another program's, an older format, a disk fault) is parsed again, not served
    with contextlib.suppress(OSError, ValueError, EOFError, TypeError):
        stored = marshal.loads(read_prefix(path, _MAX_CACHE_ENTRY))  # a FIFO is refused
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key:
            return stored[1]
    data = parse()
    if not sys.dont_write_bytecode:
        with contextlib.suppress(OSError, ValueError):  # a read-only cache; a YAML date
            _store(path, marshal.dumps((key, data)))
    return data


def bundled_text(name: str) -> str:
    """The text of ``checker/data/<name>`` (a path under it, with '/')."""
    return (DATA_DIR / name).read_text(encoding="utf-8")


@functools.cache
def bundled_data(name: str) -> Any:
    """One of our data files (``checker/data/<name>``), parsed once per process."""
    return load_data(bundled_text(name))


@functools.cache
def _bundled_digest(name: str) -> str:
    return hashlib.sha256(bundled_text(name).encode("utf-8")).hexdigest()


def bundled_part(name: str, part: str, derive: Callable[[Any], Any]) -> Any:
    """``derive`` of data file ``name``'s content (parsed as JSON for a .json file), cached as
    an entry of its own: a later start loads that part (one release's flags) and not the whole
    file. ``derive`` must be pure and give plain data (marshal's types); ``part``, unique among
    the file's parts and safe in a file name, names it."""

    def parse() -> Any:
        whole = json.loads(bundled_text(name)) if name.endswith(".json") else bundled_data(name)
        return derive(whole)

    return _through_cache(_bundled_digest(name), part, parse)


def _store(path: Path, blob: bytes) -> None:
    """Write ``blob`` atomically: a concurrent reader (an audit worker) sees all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        temp.write_bytes(blob)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


@functools.lru_cache(maxsize=64)
def parse_yaml(text: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain data plus key positions.

    Cached by text, since the gate reads a file once to see whether it is a profile and again
    to load it: callers must treat the result as read-only."""
    bad = _NON_PRINTABLE.search(text)  # what PyYAML's reader refuses, checked the same way
    if bad:
        row = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - text.rfind("\n", 0, bad.start())
        raise YAMLSourceError(
            f"invalid YAML: character {bad.group()!r} is not allowed", row, column
        )
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Positions()
        builder = _Builder(loader)
        builder.spots[()] = _mark(node)
        return builder.build(node, (), 0), builder.positions
    except (yaml.YAMLError, RecursionError) as exc:
        # Too deep a text fails inside the parser before our builder sees it, in words that
        # change between PyYAML/libyaml releases (libyaml caps flow levels at 1000, the pure
        # parser recurses): find our own limit first so the error is ours, at its place.
        too_deep = _too_deep(text)
        if too_deep is not None:
            raise too_deep from None
        if isinstance(exc, yaml.MarkedYAMLError):
            words, mark = _in_words(exc, text)
            line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
            raise YAMLSourceError(f"invalid YAML: {words}", line, col) from None
        raise YAMLSourceError(f"invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def _in_words(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, yaml.Mark | None]:
    """PyYAML's problem and where to show it, with the fix where its words do not say it (a
    tab, an unclosed quote, a second document: the usual slips in a hand-written file)."""
    mark = exc.problem_mark or exc.context_mark
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        return "a tab character: YAML indents with spaces only", mark
    if exc.context_mark is not None and "quoted scalar" in (exc.context or ""):
        return "this quote is not closed", exc.context_mark
    if "another document" in (exc.problem or ""):
        return "a second document ('---'): one file holds one document; split it", mark
    return str(exc.problem or exc.context), mark


def _too_deep(text: str) -> YAMLSourceError | None:
    """The error for the first node nested past ``MAX_DEPTH``, or None when there is none.

    Events come one at a time without recursion, so the walk reaches our limit (64) long before
    any parser's own, except that libyaml scans up to about 1 KiB ahead for simple keys and may
    hit its cap inside that window: the rest of the depth is then counted in the window's
    brackets, which is all such a window of flow text can hold."""
    loader = _LOADER(text)
    depth = 0  # collections open around the next node, as the builder counts depth
    seen = 0  # where the last event ended
    try:
        while loader.check_event():
            event: yaml.Event = loader.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.NodeEvent) and depth > MAX_DEPTH:
                return _depth_error(*_mark(event))
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            seen = event.end_mark.index if event.end_mark else seen
    except yaml.MarkedYAMLError as exc:
        stop = exc.problem_mark.index if exc.problem_mark else len(text)
        for index in range(seen, min(stop + 1, len(text))):
            char = text[index]
            if char in "[{":
                if depth > MAX_DEPTH:
                    row = text.count("\n", 0, index) + 1
                    return _depth_error(row, index - text.rfind("\n", 0, index))
                depth += 1
            elif char in "]}":
                depth -= 1
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _depth_error(line: int, column: int) -> YAMLSourceError:
    return YAMLSourceError(f"nesting deeper than {MAX_DEPTH} levels", line, column)


def read_text(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """Read a small UTF-8 text file, refusing directories, huge files and other encodings."""
    if path.is_dir():
        raise YAMLSourceError("is a directory, not a file")
    try:
        data = read_prefix(path, max_bytes + 1)  # never more: the size is judged before decoding
    except NotRegularFileError:
        raise YAMLSourceError(NotRegularFileError.WHY) from None
    return decode_text(data, max_bytes)


class NotRegularFileError(OSError):
    WHY = "not a regular file (a FIFO, device or directory)"

    def __init__(self) -> None:
        super().__init__(errno.EINVAL, self.WHY)


def why_not_a_file(path: Path) -> str:
    """In words, why ``path`` (whose ``is_file()`` is false) is no file to read: a link that
    loops or leads nowhere is named as such, not as a missing file."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop"
        if path.is_symlink():
            return f"a symbolic link to {shown(os.readlink(path))}, which does not exist"
        return "no such file"
    return "a directory, not a file" if stat.S_ISDIR(mode) else NotRegularFileError.WHY


def read_prefix(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file at ``path``. Anything else is refused before
    it is read: opening a FIFO waits for a writer, and a device may never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens at once
    try:
        handle = os.fdopen(fd, "rb")
    except BaseException:  # a directory opens, then fdopen refuses it: the descriptor is ours
        os.close(fd)
        raise
    with handle:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            raise NotRegularFileError()
        os.set_blocking(fd, True)
        # read(limit) would first allocate all ``limit`` bytes (a megabyte for every profile a
        # fleet check reads): ask for the size the file has, and on if it grew meanwhile
        wanted = min(limit, found.st_size + 1)
        data = handle.read(wanted)
        if len(data) == wanted < limit:
            data += handle.read(limit - wanted)
        return data


def decode_text(data: bytes, max_bytes: int = MAX_BYTES) -> str:
    """A file's bytes as text, refusing more than ``max_bytes`` and anything but UTF-8."""
    if len(data) > max_bytes:
        raise YAMLSourceError(
            f"file is larger than {max_bytes // 1024} KiB, the limit for a profile or config"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YAMLSourceError(f"not UTF-8 text (byte {exc.start}){_what_instead(data)}") from None


def _what_instead(data: bytes) -> str:
    """What a file that is not UTF-8 is, where its first bytes say so, and the way out."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Windows PowerShell's Out-File and '>'
        return ": UTF-16; save it as UTF-8"
    if data[:2] == b"\x1f\x8b":
        return ": gzip data; decompress it first (gzip -dc)"
    return ": a binary file, not text" if b"\x00" in data[:8192] else "; save it as UTF-8"
