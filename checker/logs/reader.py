"""Read a vLLM start-up log: every figure per rank, the settings, and the failure. Pure: text in.

A line is matched wherever vLLM's own text sits in it, so docker / compose / Kubernetes / CRI
prefixes and timestamps in front need no stripping; ANSI colour is removed first. The process
label vLLM puts in front of a worker's lines ("(EngineCore_DP0 pid=7)", "(Worker_TP3 pid=9)",
"(VllmWorker rank=2 pid=5)", "(VllmWorkerProcess pid=1786)") names the rank; lines without one
belong to "main" (the V0 driver worker). Unknown lines are ignored.
"""

from __future__ import annotations

import ast
import re
import shlex
from typing import Any

from checker.errors import CheckerError
from checker.logs.lines import line_table
from checker.schemas.section import Field, Section

MAX_LINE_CHARS = 16384  # longer lines (a pasted chat template) are read up to here
MAIN = "main"
_WRAPPED_LINES = 3  # a pasted message wrapped over up to four lines is still read

Value = bool | int | float | str

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# "(EngineCore pid=243)", "(Worker_TP3 pid=447)", "(VllmWorker rank=2 pid=5)",
# "(RayWorkerWrapper pid=12, ip=10.0.0.2)"
_LABEL = re.compile(
    r"\((?P<name>[A-Za-z][\w-]*(?: [A-Za-z][\w]*(?:=\w+)?)*?) pid=(?P<pid>\d+)[^)]*\)"
)
_RANKED = re.compile(r"(?:TP|PP|DP|EP)\d|rank=")
_ENGINE_INDEX = re.compile(r"\bEngine (\d{3}):")
_NUMBER = re.compile(r"(-?[0-9][0-9,]*(?:\.[0-9]+)?|-?\.[0-9]+)\s*(GiB|GB|MiB|KiB|bytes)?")
_UNIT_GIB = {
    None: 1.0,
    "GiB": 1.0,
    "GB": 1.0,
    "MiB": 1 / 1024,
    "KiB": 1 / 1024**2,
    "bytes": 1 / 1024**3,
}
_STRING_SETTINGS = {"version", "engine", "flashinfer_sampler"}
# key=value in the engine config line; 'key': value in the non-default args dict
_CONFIG_PAIR = re.compile(r"(?<![\w.])(\w+)=('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,\s]+)")
_ARGS_PAIR = re.compile(r"'(\w+)':\s*('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,{}]+)")


class LogReadError(CheckerError):
    """A log we cannot read: nothing vLLM prints at start-up is in it."""


class Fact(Section):
    """One value the log states, with the 1-based line it came from."""

    value: Value
    line: int


class RankFigures(Section):
    """The figures one process printed, in the order it printed them."""

    rank: str = Field(description="Process label, e.g. 'Worker_TP1' or 'EngineCore pid=243'")
    figures: dict[str, list[Fact]] = Field(default_factory=dict)

    def first(self, name: str) -> Fact | None:
        found = self.figures.get(name)
        return found[0] if found else None


class Failure(Section):
    """A start-up failure the log reports."""

    kind: str = Field(description="no-kv-memory, kv-too-small, cuda-oom, sampler-warmup-oom, ...")
    line: int
    rank: str
    text: str = Field(description="The matched words of the log line (untrusted text)")
    figures: dict[str, Value] = Field(default_factory=dict)


class StartupLog(Section):
    """Everything recognised in one vLLM start-up log."""

    source: str
    lines_read: int
    settings: dict[str, Fact] = Field(default_factory=dict)
    non_default_args: dict[str, Value] = Field(default_factory=dict)
    nested_args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Dict-valued non-default args (speculative_config, ...)"
    )
    ranks: list[RankFigures] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    format_release: str | None = Field(
        default=None,
        description="The release whose log format this is, for a log naming no version",
    )

    def values(self, name: str) -> list[Fact]:
        """Every value of figure ``name``, over all ranks, in rank order."""
        return [fact for rank in self.ranks for fact in rank.figures.get(name, [])]

    def first(self, name: str) -> Fact | None:
        found = self.values(name)
        return min(found, key=lambda f: f.line) if found else None

    def rank(self, label: str) -> RankFigures | None:
        return next((r for r in self.ranks if r.rank == label), None)


def _rank_of(line: str) -> tuple[str, str | None]:
    """(rank label, process id) of a line."""
    match = _LABEL.search(line)
    pid = match["pid"] if match else None
    if match is None:
        label = MAIN
    elif _RANKED.search(match["name"]):
        label = match["name"]
    else:
        label = f"{match['name']} pid={match['pid']}"
    engine = _ENGINE_INDEX.search(line)
    return (f"{label} engine {int(engine.group(1))}" if engine else label), pid


def number(text: str) -> int | float:
    """A printed figure: "1,505,552" -> 1505552, "1.93GiB" -> 1.93, "224.00 MiB" -> 0.21875."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a number: {text!r}")
    digits, unit = match.group(1).replace(",", ""), match.group(2)
    if unit is None and "." not in digits:
        return int(digits)
    value = float(digits) * _UNIT_GIB[unit]
    return value if unit in (None, "GiB", "GB") else round(value, 6)


def _scalar(raw: str) -> Value | None:
    """A config/args value as Python: quotes stripped, None dropped, torch.X -> X."""
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text == "None":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return number(text)
    except ValueError:
        return text.removeprefix("torch.")


def _pairs(pattern: re.Pattern[str], text: str) -> dict[str, Value]:
    found: dict[str, Value] = {}
    for key, raw in pattern.findall(text):
        value = _scalar(raw)
        if value is not None:
            found.setdefault(key, value)
    return found


def _nested_args(text: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """The non-default args text with each ``'key': {...}`` value inside the outer dict cut
    out (left as None), and those values that are Python literals parsed (speculative_config,
    kv_transfer_config, ...). Cutting them out keeps their inner keys ('method', 'model') from
    reading as top-level args."""
    nested: dict[str, dict[str, Any]] = {}
    parts: list[str] = []
    depth, start, done, quote = 0, 0, 0, ""
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote and text[i - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
            if depth == 2:
                start = i
        elif char == "}":
            if depth == 2:
                key = re.search(r"'(\w+)':\s*$", text[:start])
                try:
                    value = ast.literal_eval(text[start : i + 1])
                except (ValueError, SyntaxError, RecursionError):
                    value = None
                if key and isinstance(value, dict):
                    nested.setdefault(key.group(1), value)
                parts += [text[done:start], "None"]
                done = i + 1
            depth -= 1
    return "".join([*parts, text[done:]]), nested


def _clean(raw: str) -> str:
    return _ANSI.sub("", raw[:MAX_LINE_CHARS]).replace("\r", "")


def _continued(text: str, following: list[str]) -> str:
    """A shell command with its backslash-continued lines joined."""
    rest = iter(following)
    while text.rstrip().endswith("\\"):
        more = next(rest, None)
        if more is None:
            break
        text = text.rstrip()[:-1] + " " + _clean(more).strip()
    return text


def serve_flags(text: str) -> dict[str, Value]:
    """The settings of a ``vllm serve MODEL --flag value`` command line pasted into a log."""
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: the words up to it
        words = text.split()
    found: dict[str, Value] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            key, eq, raw = word[2:].partition("=")
            if not eq and i + 1 < len(words) and not words[i + 1].startswith("--"):
                raw, i = words[i + 1], i + 1
            value = _scalar(raw) if (eq or raw) else True
            if value is not None:
                found.setdefault(key.replace("-", "_"), value)
        elif "model" not in found and not word.startswith("-"):
            found["model"] = word
        i += 1
    return found


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.table = line_table()
        self.settings: dict[str, Fact] = {}
        self.args: dict[str, Value] = {}
        self.nested: dict[str, dict[str, Any]] = {}
        self.ranks: dict[str, dict[str, list[Fact]]] = {}
        self.failures: list[Failure] = []
        self.recognised = 0
        self.releases: set[str] = set()
        self.ranked_pids: dict[str, str] = {}  # pid -> its rank label once it has one

    def _setting(self, name: str, value: Value, line: int) -> None:
        if name not in self.settings:  # the first statement wins: later lines restate it
            self.settings[name] = Fact(value=value, line=line)

    def _named(self, pairs: dict[str, Value], line: int) -> None:
        for key, value in pairs.items():
            name = self.table.setting_keys.get(key)
            if name is not None and not (key == "model_tag" and "model" in pairs):
                self._setting(name, value, line)

    def read_line(self, raw: str, number_: int, following: list[str]) -> None:
        line = _clean(raw)
        for entry in self.table.lines:
            match = entry.pattern.search(line)
            if match is None and entry.anchor and entry.anchor in line:
                rest = [_clean(f).strip() for f in following]
                # wrapped at a space, or a terminal's hard wrap inside a word ("cach" + "e")
                for glue in (" ", ""):
                    match = entry.pattern.search(glue.join([line, *rest]))
                    if match is not None:
                        break
            if match is None:
                continue
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                values: dict[str, Value] = {
                    k: v if k in _STRING_SETTINGS else number(v) for k, v in groups.items()
                }
            except ValueError:  # "1.2.3 GiB": not the line we know, however alike
                continue
            self.recognised += 1
            if entry.release:
                self.releases.add(entry.release)
            rank, pid = _rank_of(line[: match.start()])
            if pid and not rank.endswith(f"pid={pid}"):
                self.ranked_pids[pid] = rank
            figures: dict[str, Value] = {}
            for name, value in values.items():
                if name in self.table.settings:
                    self._setting(name, value, number_)
                if name in _STRING_SETTINGS:
                    continue
                figures[name] = value
                if name not in self.table.settings:
                    self.ranks.setdefault(rank, {}).setdefault(name, []).append(
                        Fact(value=value, line=number_)
                    )
            if entry.id == "engine-config":  # the resolved config: key=value, comma separated
                self._named(_pairs(_CONFIG_PAIR, line[match.end() :]), number_)
            elif entry.id == "non-default-args":
                flat, nested = _nested_args(line[match.end() - 1 :])
                args = _pairs(_ARGS_PAIR, flat)
                self.args.update(args)
                self.nested.update(nested)
                self._named(args, number_)
            elif entry.id == "serve-command":
                self._named(serve_flags(_continued(line[match.end() :], following)), number_)
            if entry.failure:
                self.failures.append(
                    Failure(
                        kind=entry.failure,
                        line=number_,
                        rank=rank,
                        text=match.group(0)[:500],
                        figures=figures,
                    )
                )

    def _merged(self) -> dict[str, dict[str, list[Fact]]]:
        """A worker logs as "(Worker pid=441)" until its rank is set, then as "(Worker_TP0
        pid=441)": its early figures join the rank's."""
        merged: dict[str, dict[str, list[Fact]]] = {}
        for label, figures in self.ranks.items():
            pid = label.rpartition(" pid=")[2] if " pid=" in label else None
            target = merged.setdefault(self.ranked_pids.get(pid or "", label), {})
            for name, facts in figures.items():
                target[name] = sorted([*target.get(name, []), *facts], key=lambda f: f.line)
        return merged

    def result(self, lines_read: int) -> StartupLog:
        return StartupLog(
            source=self.source,
            lines_read=lines_read,
            settings=self.settings,
            non_default_args=self.args,
            nested_args=self.nested,
            ranks=[
                RankFigures(rank=label, figures=figures)
                for label, figures in self._merged().items()
                if figures
            ],
            failures=self.failures,
            format_release=max(
                self.releases, key=lambda v: tuple(map(int, v.split("."))), default=None
            ),
        )


def read_log(text: str, source: str = "<log>") -> StartupLog:
    """Every recognised line of ``text``; raises LogReadError when none is recognised."""
    if not text.strip():  # e.g. `kubectl logs` failed before the pipe and printed nothing
        piped = source == "<stdin>"
        raise LogReadError(
            "empty: nothing came through the pipe" if piped else "empty: no line to read",
            location=source,
            hint="check that the command before '|' printed the log"
            if piped
            else "give the log of 'vllm serve' (or the LLM engine) from its start",
        )
    reader = _Reader(source)
    count = 0
    lines = text.splitlines()
    for count, raw in enumerate(lines, start=1):
        reader.read_line(raw, count, lines[count : count + _WRAPPED_LINES])
    if not reader.recognised:
        raise LogReadError(
            f"no vLLM start-up line recognised in {count} line(s)",
            location=source,
            hint="give the log of 'vllm serve' (or the LLM engine) from its start; lines such "
            "as 'Model loading took', 'Available KV cache memory' or '# GPU blocks' are read",
        )
    return reader.result(count)
