"""`vllm serve` / `vllm bench serve` flags of each vLLM release (checker/data/vllm_flags.yaml).

The profile loader reads them (engine arguments are validated at load time) and so does every
renderer.

Every flag an artifact carries is looked up here first, so a generated command never names a
flag or a choice that the pinned vLLM version would reject at start-up.
"""

from __future__ import annotations

import functools
from dataclasses import field
from typing import Any

from checker.errors import ArtifactError, UsageError
from checker.schemas.lazy_dataclass import lazy_dataclass
from checker.schemas.yaml_source import bundled_part


@lazy_dataclass(frozen=True)
class FlagSet:
    """The flags one vLLM release line accepts."""

    line: str  # "0.19": the table entry used
    release: str  # the release the flags were read from, e.g. "0.19.1"
    serve: frozenset[str]
    choices: dict[str, tuple[str, ...]]  # dtype / kv_cache_dtype / quantization -> values
    value_bools: frozenset[str]  # flags that take --flag=true|false instead of a --no- twin
    bench_serve: frozenset[str] | None  # None: this version has no `vllm bench serve`
    aliases: dict[str, str] = field(default_factory=dict)  # -tp -> --tensor-parallel-size
    human_ints: frozenset[str] = frozenset()  # flags parsed by human_readable_int
    auto_ints: frozenset[str] = frozenset()  # ... by human_readable_int_or_auto (auto = -1)
    suffixes: str = ""  # the suffixes human_readable_int multiplies in this release
    json: frozenset[str] = frozenset()  # flags whose value is a JSON object
    inverses: bool = False  # --enable-X also answers to --disable-X and the reverse

    def is_bool(self, flag: str) -> bool:
        """A switch: it has a --no- twin, or takes --flag=true|false (0.6's StoreBoolean)."""
        return "--no-" + flag[2:] in self.serve or flag in self.value_bools

    def closest(self, flag: str) -> str | None:
        import difflib  # only a typo needs it: kept off every start

        found = difflib.get_close_matches(flag, sorted(self.serve), n=1, cutoff=0.6)
        return found[0] if found else None

    def require(self, flag: str, key: str) -> None:
        """Refuse ``flag`` (asked for by profile key ``key``) unless this version has it."""
        if flag in self.serve:
            return
        close = self.closest(flag)
        raise ArtifactError(
            f"{key}: vLLM {self.line} has no flag {flag}",
            hint=f"did you mean {close}?" if close else "see `vllm serve --help` of that version",
            key=key,
        )

    def require_choice(self, kind: str, value: str, key: str) -> None:
        allowed = self.choices.get(kind, ())
        if value not in allowed:
            raise ArtifactError(
                f"{key}: vLLM {self.line} does not accept {value!r}",
                hint=f"choose one of: {', '.join(allowed)}",
                key=key,
            )


def _key(version: str) -> tuple[int, int]:
    parts = version.split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def known_lines() -> list[str]:
    return list(_lines())


@functools.cache
def _lines() -> tuple[str, ...]:
    lines: list[str] = bundled_part(
        "vllm_flags.yaml", "lines", lambda data: sorted(data["versions"], key=_key)
    )
    return tuple(lines)


@functools.cache
def _entry(line: str) -> dict[str, Any]:
    """One release line's flags: a start loads that line's, not the whole table."""
    entry: dict[str, Any] = bundled_part(
        "vllm_flags.yaml", f"line-{line}", lambda data: data["versions"][line]
    )
    return entry


@functools.cache
def flags_for(version: str) -> FlagSet:
    """Flags of ``version`` (e.g. "0.19.1"): the newest table entry at or below its major.minor."""
    try:
        wanted = _key(version)
    except ValueError:
        raise UsageError(f"vLLM version {version!r} is not MAJOR.MINOR[.PATCH]") from None
    lines = [v for v in known_lines() if _key(v) <= wanted]
    if not lines:
        raise UsageError(
            f"vLLM {version} is older than any version whose flags we know",
            hint=f"known: {', '.join(known_lines())}",
        )
    line = lines[-1]
    entry = _entry(line)
    bench = entry.get("bench_serve")
    return FlagSet(
        line=line,
        release=str(entry["release"]),
        serve=frozenset(entry["serve"]),
        choices={k: tuple(v) for k, v in entry["choices"].items()},
        value_bools=frozenset(entry.get("value_bools", ())),
        bench_serve=frozenset(bench) if bench else None,
        aliases=dict(entry.get("aliases") or {}),
        human_ints=frozenset(entry.get("human_readable_int") or ()),
        auto_ints=frozenset(entry.get("human_readable_int_or_auto") or ()),
        suffixes=str(entry.get("human_readable_suffixes") or ""),
        json=frozenset(entry.get("json") or ()),
        inverses=bool(entry.get("enable_disable_inverses")),
    )
