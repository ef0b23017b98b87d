"""What plan / generate / check say about the model source: the Hub failing, the lockfile."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from checker.cli import main
from checker.models import hub as hub_module
from tests.models.conftest import FAST
from tests.models.fake_hub import FakeHub
from tests.models.test_resolve import _tiny_repo

CATALOGUED = "model: {id: Qwen/Qwen3-8B, max_model_len: 8192}\nhardware: {gpu_name: L4}\n"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_hub_names_the_profile_line_and_the_model(
    hub: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(hub_module, "RetryPolicy", lambda: FAST)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    profile = tmp_path / "p.yaml"
    profile.write_text("profile_version: 1\nmodel:\n  id: acme/nowhere\nhardware: {gpu_name: L4}\n")
    assert main(["plan", "-p", str(profile), "--online"]) == 2
    err = capsys.readouterr().err
    assert f"{profile}:3: model 'acme/nowhere': cannot reach the Hugging Face Hub" in err
    assert main(["plan", "-m", "acme/nowhere", "--gpu", "L4", "--online"]) == 2
    assert "error: model 'acme/nowhere': cannot reach" in capsys.readouterr().err


def test_update_lockfile_says_when_it_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("p.yaml").write_text(CATALOGUED)
    lock = ["--lockfile", "lock.json", "--update-lockfile"]
    for argv in (["plan", "-p", "p.yaml"], ["generate", "-p", "p.yaml", "-o", "out"]):
        assert main([*argv, *lock]) == 0
        err = capsys.readouterr().err
        assert "note: --update-lockfile: nothing recorded in lock.json" in err
        assert "Qwen/Qwen3-8B comes from the catalog metadata" in err
    assert main(["check", "p.yaml", *lock]) == 0
    assert "nothing recorded in lock.json" in capsys.readouterr().err
    assert not Path("lock.json").exists()


def test_generate_records_a_hub_model_in_the_lockfile(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    hub.repos["acme/tiny"] = _tiny_repo()
    Path("p.yaml").write_text("model: {id: acme/tiny}\nhardware: {gpu_name: L4}\n")
    argv = ["generate", "-p", "p.yaml", "-o", "out", "--lockfile", "lock.json", "--update-lockfile"]
    assert main(argv) == 0
    assert [m["model"] for m in json.loads(Path("lock.json").read_text())["models"]] == [
        "acme/tiny"
    ]
