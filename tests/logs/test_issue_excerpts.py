"""Log lines from public GitHub threads, of releases and GPUs the planner logs do not cover."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from checker.logs.reader import read_log

DATA = Path(__file__).resolve().parent.parent / "data" / "vllm_log_excerpts.issues.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(DATA.read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_reader_reads_every_printed_figure(case: dict[str, Any]) -> None:
    assert case["source"].startswith("https://github.com/")
    log = read_log("\n".join(case["lines"]), source=case["id"])
    for name, value in case.get("expect", {}).items():
        assert [f.value for f in log.values(name)] == [value], name
    for label, figures in case.get("ranks", {}).items():
        rank = log.rank(label)
        assert rank is not None, label
        assert {n: rank.first(n).value for n in figures if rank.first(n)} == figures, label
    for name, value in case.get("settings", {}).items():
        assert log.settings[name].value == value, name
    got = [{"kind": f.kind, "rank": f.rank, "figures": f.figures} for f in log.failures]
    assert got == case.get("failures", [])
