"""vLLM's engine arguments as one object, parsed once with vLLM's own spellings and value syntax.

A profile says what the server runs with in two places: its own keys (``model.max_model_len``,
``hardware.tp_size``, ``vllm.kv_cache_memory_bytes`` ...) and ``outputs.vllm_args``. Both are
spellings of one set of engine arguments. At load time every ``vllm_args`` key is mapped to its
canonical flag the way vLLM's parser does it (short aliases such as ``-tp``, ``_`` for ``-``,
``--no-X``, ``-O3``), every value is parsed as vLLM parses it (human-readable integers, JSON
objects, switches), and a flag whose home is a profile key moves there, so the plan reads it.
What stays in ``vllm_args`` is carried through the request to the plan and from the plan to every
artifact. The flag facts come from checker/data/vllm_flags.yaml; where each flag lives and
whether the plan models it, from checker/data/vllm_flag_effects.yaml.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any

from checker.errors import CheckerError, ProfileError
from checker.schemas.error_words import error_text
from checker.schemas.inputs import INT64_MAX, EngineInput
from checker.schemas.lazy_dataclass import lazy_dataclass
from checker.schemas.profile import ProfileVLLM
from checker.schemas.section import ValidationError
from checker.schemas.vllm_flags import FlagSet, flags_for, known_lines
from checker.schemas.yaml_source import KeyPath, Positions, bundled_data

_KEY = re.compile(r"^-{0,2}[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")
_OPT_LEVEL = re.compile(r"^-O(?:=?(?P<level>[0-9]))?$")
_HUMAN = re.compile(r"(\d+(?:\.\d+)?)([kKmMgGtT])")
_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
AUTO = -1  # human_readable_int_or_auto's value for "auto"


class EngineArgError(ValueError):
    """A key or value vLLM's parser would refuse; ``hint`` says what to write instead."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def human_readable_int(text: str, suffixes: str) -> int:
    """vLLM's ``human_readable_int`` (vllm/utils/argparse_utils.py): ``32k`` = 32,000 and ``32K``
    = 32,768; decimals only with a lowercase (decimal) suffix; ``suffixes`` are the ones the
    pinned release multiplies (t/T from 0.19 on)."""
    value = text.strip()
    match = _HUMAN.fullmatch(value)
    if match and match[2] in suffixes:
        number, suffix = match.groups()
        if suffix in _DECIMAL:
            return int(float(number) * _DECIMAL[suffix])
        if "." in number:
            raise EngineArgError(
                f"decimals are not allowed with binary suffixes like {suffix}",
                hint=f"did you mean {number}{suffix.lower()}?",
            )
        return _int64(int(number) * _BINARY[suffix], text)
    try:
        number = int(value)
    except ValueError:
        allowed = f"a suffix {'/'.join(suffixes)}" if suffixes else "no suffix in this release"
        raise EngineArgError(f"{text!r} is not an integer ({allowed})") from None
    return _int64(number, text)


def _int64(number: int, text: str) -> int:
    """Counts and byte sizes reach torch as 64-bit integers; past that a value is a typo."""
    if abs(number) > INT64_MAX:
        raise EngineArgError(f"{text[:40]!r} is larger than a 64-bit integer")
    return number


@lazy_dataclass(frozen=True)
class Home:
    """Where the profile and the plan request hold one flag's value."""

    flag: str  # "--max-num-seqs"
    profile: str | None  # "vllm.max_num_seqs"; None: it stays in outputs.vllm_args
    request: str | None  # "engine.max_num_seqs": the PlanRequest field the plan reads
    keys: Mapping[str, str] = field(default_factory=dict)  # JSON option key -> request field
    # the key of the request field's mapping the value goes to, over what the field's own flag
    # gives (--rope-scaling is hf_overrides' rope_scaling); None: the value is the field
    key: str | None = None
    value: str = "any"  # a keyed value's type as vLLM's parser takes it: object, number, integer
    # JSON option key -> the first release line that has it (the plan reads it from there on)
    key_lines: Mapping[str, str] = field(default_factory=dict)


def effects_table() -> dict[str, Any]:
    data: dict[str, Any] = bundled_data("vllm_flag_effects.yaml")
    return data


@functools.cache
def homes() -> dict[str, Home]:
    """Flag -> its home: the one mapping between vLLM's flags and profile / request fields."""
    rows: dict[str, dict[str, Any]] = effects_table()["homes"]
    return {
        f: Home(
            f,
            r.get("profile"),
            r.get("request"),
            r.get("keys", {}),
            r.get("key"),
            r.get("value", "any"),
            r.get("key_lines", {}),
        )
        for f, r in rows.items()
    }


@functools.cache  # read for every profile: the few flags with a profile key, once
def _profile_homes() -> tuple[tuple[str, str, str], ...]:
    """(flag, profile section, profile key) of each flag that has a profile key."""
    found = []
    for home in homes().values():
        if home.profile:
            section, name = home.profile.split(".")
            found.append((home.flag, section, name))
    return tuple(found)


@functools.cache
def env_homes() -> dict[str, Home]:
    """Environment variable -> its home (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS`` ...)."""
    rows: dict[str, dict[str, str]] = effects_table()["env"]
    return {v: Home(v, r.get("profile"), r.get("request")) for v, r in rows.items()}


_CLASSES = {
    "modeled": "modeled",
    "no_memory_effect": "no_memory_effect",
    "not_modeled": "not_modeled",
    "older_modeled": "modeled",
    "older_no_memory_effect": "no_memory_effect",
    "older_not_modeled": "not_modeled",
}


@functools.cache
def classification() -> dict[str, tuple[str, str]]:
    """Flag of any release -> (class, why): modeled / no_memory_effect / not_modeled."""
    table = effects_table()
    found: dict[str, tuple[str, str]] = {}
    for section, kind in _CLASSES.items():
        for group in table[section]:
            for flag in group["flags"]:
                if flag in found:
                    raise ValueError(f"vllm_flag_effects.yaml: {flag} is classified twice")
                found[flag] = (kind, " ".join(str(group["why"]).split()))
    return found


def not_modeled(flag: str, value: Any = None, version: str | None = None) -> str | None:
    """What a flag the plan does not account for affects; None if it is modeled or harmless.
    For a JSON option whose keys the plan reads in part, only the other keys count (and those
    newer than ``version``'s release line, which it does not have)."""
    kind, why = classification().get(flag, ("not_modeled", "its memory effect is not classified"))
    if kind != "not_modeled":
        return None
    home = homes().get(flag)
    read = dict(home.keys) if home else {}
    if home and version:
        lines = known_lines()
        pinned = lines.index(flags_for(version).line)
        read = {
            k: v for k, v in read.items() if lines.index(home.key_lines.get(k, lines[0])) <= pinned
        }
    if read and isinstance(value, Mapping):
        others = sorted(k for k in value if k not in read)
        if not others:
            return None
        return f"keys {', '.join(others)} are not read by the plan ({why})"
    return why


def canonical_flag(key: str, flags: FlagSet) -> tuple[str, str | None]:
    """``key`` as vLLM's parser reads it: (long flag, how the value is to be read).

    The second item is None for a plain key, ``"negate"`` for ``no-X`` (a switch turned off),
    ``"-O"`` plus the digit for ``-O3``-style keys (the level is in the key) and ``".a.b"`` for a
    dotted key of a JSON option (FlexibleArgumentParser.parse_args nests it: ``{"a": {"b": v}}``).
    """
    if not _KEY.match(key):
        raise EngineArgError("not a flag name", hint="e.g. max-lora-rank")
    base, dot, path = key.partition(".")
    if dot:  # --compilation-config.cudagraph_mode: one key of a JSON option
        flag, how = canonical_flag(base, flags)
        if how or flag not in flags.json or not path:
            raise EngineArgError(f"{flag} takes no dotted keys: it is not a JSON option")
        return flag, dot + path
    level = _OPT_LEVEL.match(key)
    if level:
        target = flags.aliases.get("-O") or (
            "--optimization-level" if "--optimization-level" in flags.serve else None
        )
        if target is None:
            raise EngineArgError(f"vLLM {flags.line} has no option -O")
        return target, f"-O{level['level']}" if level["level"] else None
    if key.startswith("-") and not key.startswith("--"):
        if key in flags.aliases:
            return flags.aliases[key], None
        raise EngineArgError(
            f"vLLM {flags.line} has no option {key}",
            hint=f"short options of this release: {', '.join(sorted(flags.aliases)) or 'none'}",
        )
    flag = "--" + key.lstrip("-").replace("_", "-")
    flag = flags.aliases.get(flag, flag)  # a second long name (--device-memory-utilization)
    if flag.startswith("--no-") and "--" + flag[5:] in flags.serve and flag in flags.serve:
        return "--" + flag[5:], "negate"
    inverse = _inverse(flag)
    if flag not in flags.serve and flags.inverses and inverse and flags.is_bool(inverse):
        return inverse, "negate"
    if flag not in flags.serve:
        close = flags.closest(flag)
        raise EngineArgError(
            f"vLLM {flags.line} has no flag {flag}",
            hint=f"did you mean {close}?" if close else "see `vllm serve --help` of that version",
        )
    return flag, None


def _inverse(flag: str) -> str | None:
    """--enable-X for --disable-X and the reverse (EnableDisableAction); None for other flags."""
    for prefix, other in (("--enable-", "--disable-"), ("--disable-", "--enable-")):
        if flag.startswith(prefix):
            return other + flag.removeprefix(prefix)
    return None


def parse_value(flag: str, value: Any, flags: FlagSet, how: str | None = None) -> Any:
    """A value as vLLM would read it for ``flag`` (text from a command line or YAML data)."""
    if how and how.startswith("."):
        if isinstance(value, str):
            value = _dotted_leaf(value, flags)
        for part in reversed(how[1:].split(".")):
            value = {part: value}
        return value
    if how and how.startswith("-O"):
        if value not in (True, None):
            raise EngineArgError(f"{how} carries its level; write `{how}: true`")
        return int(how[2:])
    if how == "negate":
        if not isinstance(value, bool):
            raise EngineArgError(f"the inverse of {flag} is a switch: write true or false")
        return not value
    if value is None:
        return None
    if flags.is_bool(flag):
        text = value.lower() if isinstance(value, str) else None
        if text in ("true", "false") and flag in flags.value_bools:
            return text == "true"  # 0.6's StoreBoolean takes --flag=true|false
        if not isinstance(value, bool):
            raise EngineArgError(f"{flag} is a switch: write true or false, not {value!r}")
        return value
    if flag in flags.human_ints or flag in flags.auto_ints:
        return _integer(flag, value, flags)
    if flag in flags.json:
        return _json_value(flag, value)
    if isinstance(value, dict) and flags.json:
        raise EngineArgError(f"{flag} takes one value, not a mapping")
    return value


def _dotted_leaf(text: str, flags: FlagSet) -> Any:
    """A dotted key's text value as parse_args reads it: JSON, else a human-readable
    integer, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return human_readable_int(text, flags.suffixes)
    except EngineArgError:
        return text


def _merge_into(target: dict[str, Any], update: dict[str, Any], path: str = "") -> list[str]:
    """Merge dotted-key objects as parse_args does; returns the keys given twice."""
    twice: list[str] = []
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            twice += _merge_into(target[key], value, f"{path}{key}.")
        elif key in target:
            twice.append(path + key)
        else:
            target[key] = value
    return twice


def _integer(flag: str, value: Any, flags: FlagSet) -> int:
    if flag in flags.auto_ints and (value == AUTO or str(value).strip().lower() == "auto"):
        return AUTO
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise EngineArgError(f"{flag} takes an integer such as 32768 or 32k, not {value!r}")
    if isinstance(value, int):
        return _int64(value, str(value))
    return human_readable_int(value, flags.suffixes)


def flag_integer(flag: str, text: str, version: str | None) -> int:
    """A command-line integer as ``version``'s vLLM parser reads it (32768, 32k, 1M; auto as
    -1 where the flag takes it); EngineArgError names what the release accepts."""
    return _integer(flag, text, _pinned_flags({"vllm": {"version": version}}))


def _json_value(flag: str, value: Any) -> Any:
    """A mapping, or JSON object text as vLLM's parse_dataclass / json.loads reads it."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise EngineArgError(f"{flag}: not valid JSON ({exc.msg})") from None
    if isinstance(value, (list, bool)):
        raise EngineArgError(f'{flag} takes a JSON object, e.g. {{"key": value}}')
    return value


def section_value(flag: str, value: Any, flags: FlagSet) -> Any:
    """A profile key's value in vLLM's syntax (``vllm.max_num_batched_tokens: 32k``); ``auto``
    and ``-1`` (vLLM's fit-the-KV length) read as ``"auto"``."""
    if flag in flags.human_ints or flag in flags.auto_ints:
        if isinstance(value, str) or value == AUTO:
            value = _integer(flag, value, flags)
        if value == AUTO:
            return "auto"
    return value


def _pinned_flags(data: Mapping[str, Any]) -> FlagSet:
    vllm = data.get("vllm")
    version = vllm.get("version") if isinstance(vllm, dict) else None
    try:
        return flags_for(version if isinstance(version, str) else known_lines()[-1])
    except CheckerError:
        # A malformed or unknown version is reported on its own line; the newest flags still
        # read the engine arguments, so they are not also reported as unknown keys.
        return flags_for(known_lines()[-1])


class _Normaliser:
    """One pass over a profile's raw data; problems are collected, each at its line."""

    def __init__(self, flags: FlagSet, positions: Positions, source: str) -> None:
        self.flags, self.positions, self.source = flags, positions, source
        self.written = Positions(dict(positions.spots))  # where the user wrote each key
        self.problems: list[ProfileError] = []

    def problem(self, message: str, where: KeyPath, hint: str | None) -> None:
        spot = self.written.nearest(where)
        location = f"{self.source}:{spot[0]}:{spot[1]}" if spot else self.source
        key = ".".join(map(str, where))
        self.problems.append(ProfileError(message, location=location, hint=hint, key=key))

    def section_values(self, data: dict[str, Any]) -> None:
        """Profile keys written in vLLM's syntax (``vllm.max_num_batched_tokens: 32k``)."""
        for flag, section, name in _profile_homes():
            values = data.get(section)
            if isinstance(values, dict) and name in values:
                try:
                    values[name] = section_value(flag, values[name], self.flags)
                except EngineArgError as exc:
                    del values[name]  # reported here, not again by the schema
                    self.problem(f"{section}.{name}: {exc.message}", (section, name), exc.hint)

    def given(self, data: dict[str, Any]) -> list[tuple[KeyPath, Any]]:
        """Engine arguments written as flags: ``outputs.vllm_args`` and the ``vllm:`` keys that
        are vLLM flags rather than the section's own keys (two spellings of one object). A
        ``vllm:`` key that is neither stays for the schema to report, with its did-you-mean."""
        found: list[tuple[KeyPath, Any]] = []
        vllm = data.get("vllm")
        if isinstance(vllm, dict):
            own = ProfileVLLM.model_fields
            for key in [k for k in vllm if isinstance(k, str) and k not in own]:
                try:
                    canonical_flag(key, self.flags)
                except EngineArgError:
                    continue
                found.append((("vllm", key), vllm.pop(key)))
        outputs = data.get("outputs")
        raw = outputs.get("vllm_args") if isinstance(outputs, dict) else None
        if isinstance(raw, dict):
            found += [(("outputs", "vllm_args", str(k)), v) for k, v in raw.items()]
        return found

    def engine_args(self, data: dict[str, Any], given: list[tuple[KeyPath, Any]]) -> dict[str, Any]:
        """Each (where, value) written as a vLLM flag, canonical; a flag with a profile key moves
        there, the others are returned as the passthrough ``vllm_args``."""
        kept: dict[str, Any] = {}
        seen: dict[str, str] = {}
        values: dict[str, Any] = {}  # flag -> the value kept (JSON objects merge in place)
        for where, value in given:
            label = ".".join(map(str, where))
            try:
                flag, how = canonical_flag(str(where[-1]), self.flags)
                parsed = parse_value(flag, value, self.flags, how)
            except EngineArgError as exc:
                self.problem(f"{label}: {exc.message}", where, exc.hint)
                continue
            if flag in seen and isinstance(parsed, dict) and isinstance(values.get(flag), dict):
                twice = _merge_into(values[flag], parsed)  # dotted keys of one JSON option
                if twice:
                    message = (
                        f"{label}: {flag} key {twice[0]} is given twice (also in {seen[flag]})"
                    )
                    self.problem(message, where, "keep one")
                continue
            if flag in seen:
                self.problem(
                    f"{label}: {flag} is given twice (also as {seen[flag]})", where, "keep one"
                )
                continue
            seen[flag] = label
            values[flag] = parsed
            home = homes().get(flag)
            path: KeyPath = ("outputs", "vllm_args", flag[2:])
            if home and home.profile:
                section, name = home.profile.split(".")
                target = data.setdefault(section, {})
                if not isinstance(target, dict):
                    continue  # the schema reports the section itself
                if name in target:
                    spot = self.written.spots.get((section, name))
                    at = f" (line {spot[0]})" if spot else ""
                    hint = f"keep {home.profile} and drop this key"
                    self.problem(
                        f"{label}: {flag} is also given as {home.profile}{at}", where, hint
                    )
                    continue
                try:
                    target[name] = section_value(flag, parsed, self.flags)
                except EngineArgError as exc:
                    self.problem(f"{label}: {exc.message}", where, exc.hint)
                    continue
                path = (section, name)
            else:
                invalid = request_value_error(home, parsed)
                if invalid:
                    self.problem(f"{label}: {invalid}", where, None)
                    continue
                kept[flag[2:]] = parsed
            if where in self.written.spots:
                self.positions.spots[path] = self.written.spots[where]
        return kept


def normalise_engine_args(
    data: dict[str, Any], positions: Positions, source: str
) -> tuple[dict[str, Any], list[ProfileError]]:
    """The profile data with its engine arguments in canonical form: every flag written in
    ``outputs.vllm_args`` or as a ``vllm:`` key is in ``outputs.vllm_args`` or, if it has one,
    in its profile key (its position recorded there), plus the problems found."""
    work = _Normaliser(_pinned_flags(data), positions, source)
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    work.section_values(data)
    given = work.given(data)
    if given:
        outputs = data.get("outputs")
        if outputs is None:
            outputs = data["outputs"] = {}
        kept = work.engine_args(data, given)
        if isinstance(outputs, dict):
            outputs["vllm_args"] = kept
    return data, work.problems


def request_value_error(home: Home | None, value: Any) -> str | None:
    """Why the plan request cannot take ``value`` for a flag read straight from
    ``outputs.vllm_args`` (a field of EngineInput), in the field's own terms; None if it can."""
    if home is None or not home.request or home.profile:
        return None
    if home.key:
        return _keyed_value_error(home, value)
    section, field = home.request.split(".")
    if section != "engine":
        return None
    try:
        EngineInput.model_validate({field: value})
    except ValidationError as exc:
        return "; ".join(error_text(e) for e in exc.errors())
    return None


def _keyed_value_error(home: Home, value: Any) -> str | None:
    """A keyed flag's value as its add_argument type takes it: json.loads (an object), float or
    int."""
    if home.value == "object" and not isinstance(value, Mapping):
        return f'{home.flag} takes a JSON object, e.g. {{"rope_type": "dynamic", "factor": 2.0}}'
    if home.value in ("number", "integer") and _keyed_value(home, value) is None:
        kind = "a number such as 1000000.0" if home.value == "number" else "an integer"
        return f"{home.flag} takes {kind}, not {value!r}"
    return None


def _keyed_value(home: Home, value: Any) -> Any:
    """The value vLLM's parser gives (float / int of the text); None if it refuses it."""
    if home.value not in ("number", "integer"):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value) if home.value == "number" else int(value)
    except ValueError:
        return None


def request_fields(vllm_args: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Request section -> {field: value} for the passthrough flags whose home is a request
    field only (no profile key): the rows the plan reads straight from ``vllm_args``."""
    fields: dict[str, dict[str, Any]] = {}
    keyed: list[tuple[Home, Any]] = []
    for name, value in vllm_args.items():
        home = homes().get("--" + name)
        if home and home.key:
            keyed.append((home, value))
            continue
        if home and home.request and not home.profile:
            section, field_name = home.request.split(".")
            fields.setdefault(section, {})[field_name] = value
        if home and home.keys and isinstance(value, Mapping):
            for key, target in home.keys.items():
                if key in value:
                    section, field_name = target.split(".")
                    fields.setdefault(section, {})[field_name] = value[key]
    for home, value in keyed:  # ModelConfig: hf_overrides_kw.update({key: value}) after
        section, field_name = str(home.request).split(".")
        merged = dict(fields.setdefault(section, {}).get(field_name) or {})
        fields[section][field_name] = {**merged, str(home.key): _keyed_value(home, value)}
    return fields


def wire(value: Any) -> Any:
    """A value as it travels on a command line, for comparing planned and parsed arguments."""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return value
    return str(value)


def parse_argv(argv: Iterable[str], flags: FlagSet) -> dict[str, Any]:
    """``--flag=value``, switches (``--flag``, ``--no-flag``) and ``--flag v1 v2`` lists, read
    as vLLM's parser reads them: canonical flag -> value in wire form (see ``wire``)."""
    found: dict[str, Any] = {}
    current: str | None = None  # a bare option that may collect the words after it
    for word in argv:
        if not word.startswith("-"):
            if current is None:
                raise ValueError(f"stray argument {word!r}")
            items = found[current]
            found[current] = [*items, word] if isinstance(items, list) else [word]
            continue
        key, eq, value = word.partition("=")
        flag, how = canonical_flag(key, flags)
        if flag in found:
            raise ValueError(f"{flag} given twice")
        current = None
        if eq:
            found[flag] = wire(parse_value(flag, value, flags))
        elif how == "negate":
            found[flag] = False
        else:
            found[flag] = True  # a switch, unless words follow (a list)
            current = None if flags.is_bool(flag) else flag
    return found
