"""Mangled real log lines: the reader reads what it can and never fails with anything but its own
clear error (a figure it cannot read as a number leaves the line unrecognised)."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.logs.reader import LogReadError, read_log

DATA = Path(__file__).resolve().parent.parent / "data" / "vllm_startup_logs.public.yaml"
LINES = sorted(
    {
        line
        for case in yaml.safe_load(DATA.read_text("utf-8"))["cases"]
        for line in case["raw_excerpt"]
    }
)


@st.composite
def mangled_lines(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(LINES))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(line)))
        junk = draw(st.text(alphabet="0123456789.,-x GiB()\x1b[m\r\x00'{}:=", max_size=4))
        cut = draw(st.integers(0, 3))
        line = line[:at] + junk + line[at + cut :]
    return line


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(mangled_lines(), min_size=1, max_size=6))
def test_mangled_logs_are_read_or_refused_clearly(lines: list[str]) -> None:
    try:
        log = read_log("\n".join(lines), source="fuzz.log")
    except LogReadError as exc:
        assert str(exc).startswith("fuzz.log: no vLLM start-up line recognised")
        return
    for rank in log.ranks:
        for facts in rank.figures.values():
            assert all(isinstance(f.value, (int, float)) for f in facts)


def test_a_figure_that_is_not_a_number_leaves_the_line_unread() -> None:
    log = read_log("Available KV cache memory: 1.2.3 GiB\nAvailable KV cache memory: 4.5 GiB")
    assert [(f.value, f.line) for f in log.values("kv_cache_gib")] == [(4.5, 2)]
