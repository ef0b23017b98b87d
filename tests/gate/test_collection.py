"""The gate plans its batches with fewer collector passes, and gives the caller's back."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checker.gate import check as check_module
from checker.gate.audit import run as audit_module
from checker.gate.audit.fleet import load_fleet
from checker.gate.audit.run import AuditOptions, run_audit
from checker.gate.check import CheckOptions, run_check
from checker.gate.collection import BATCH_THRESHOLD, fewer_collections
from tests.gate.test_check import llama, write


@pytest.fixture(autouse=True)
def default_threshold() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_the_callers_threshold_comes_back_after_a_block_and_after_an_error() -> None:
    with fewer_collections():
        assert gc.get_threshold() == (BATCH_THRESHOLD, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(KeyError), fewer_collections():
        raise KeyError("x")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_caller_that_collects_even_less_often_keeps_its_setting() -> None:
    gc.set_threshold(50_000, 5, 5)
    with fewer_collections():
        assert gc.get_threshold() == (50_000, 5, 5)
    assert gc.get_threshold() == (50_000, 5, 5)


def _recording(module: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    seen: list[int] = []
    planned = module.check_pair

    def check_pair(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_threshold()[0])
        return planned(*args, **kwargs)

    monkeypatch.setattr(module, "check_pair", check_pair)
    return seen


def test_check_plans_its_pairs_under_the_batch_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "profiles/a.yaml", llama(8192))
    seen = _recording(check_module, monkeypatch)
    run_check(CheckOptions(paths=("profiles",), cwd=tmp_path, offline=True))
    assert seen == [BATCH_THRESHOLD, BATCH_THRESHOLD]  # the profile's two targets
    assert gc.get_threshold() == (700, 10, 10)


def test_audit_plans_its_pairs_under_the_batch_threshold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "fleet.yaml", "- L4\n")
    write(tmp_path, "profiles/a.yaml", llama(8192))
    seen = _recording(audit_module, monkeypatch)
    fleet = load_fleet(tmp_path / "fleet.yaml")
    run_audit(AuditOptions(fleet=fleet, paths=("profiles",), jobs=1, cwd=tmp_path))
    assert seen == [BATCH_THRESHOLD]
    assert gc.get_threshold() == (700, 10, 10)
