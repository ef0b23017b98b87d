"""Tokens in the environment never reach an output, a log line or a written file.

Every command runs with HF_TOKEN, HUGGING_FACE_HUB_TOKEN, GITHUB_TOKEN and GH_TOKEN set to
recognisable canaries; stdout, stderr and every file left in the working folder are scanned.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.gate.conftest import pr_event, runner_env
from tests.hardening.conftest import GH_SECRET, GPU, HF_SECRET, Run, run_process
from tests.hardening.hostile import VALUES_FILE, hostile_profiles

CANARIES = (HF_SECRET, GH_SECRET)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    hostile_profiles(tmp_path)
    (tmp_path / "fleet.yaml").write_text(f"- {GPU}\n- L4:2\n")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.setenv(name, HF_SECRET)
    for name in ("GITHUB_TOKEN", "GH_TOKEN"):
        monkeypatch.setenv(name, GH_SECRET)
    yield tmp_path
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for canary in CANARIES:
                assert canary.encode() not in data, f"{canary[:8]}... written to {path}"


def _clean(run: Run) -> None:
    for canary in CANARIES:
        assert canary not in run.out and canary not in run.err, canary[:8]


COMMANDS = [
    ("plan", "--profile", VALUES_FILE, "--json"),
    ("plan", "--profile", VALUES_FILE, "--explain"),
    ("plan", "-m", "acme/not-anywhere", "--gpu", GPU, "--offline"),
    (
        "generate",
        "--profile",
        VALUES_FILE,
        "--output-dir",
        "out",
        "--emit",
        "command,docker,compose,k8s,report,bench,profile",
    ),
    ("check", ".", "--offline", "--format", "json", "--output", "r.json", "--report-file", "r.md"),
    ("check", ".", "--offline", "--format", "sarif", "--no-comment"),
    ("check", ".", "--offline", "--format", "markdown", "--no-comment"),
    ("audit", VALUES_FILE, "--fleet", "fleet.yaml", "--offline", "-j", "1", "--output-dir", "a"),
    ("schema", "-o", "schema.json"),
    ("gpus", "--json"),
    ("detect",),
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_commands_never_show_tokens(
    cli: Callable[..., Run], tree: Path, argv: tuple[str, ...]
) -> None:
    _clean(cli(*argv))


def test_publishing_against_an_unreachable_api(
    cli: Callable[..., Run], tree: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None
) -> None:
    api = f"http://x-access-token:{GH_SECRET}@127.0.0.1:{_closed_port()}"
    env = {**runner_env(tree, api, pr_event(3)), "GITHUB_TOKEN": GH_SECRET}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    run = cli("check", VALUES_FILE, "--offline", "--format", "github")
    assert run.code == 0 and "PR comment not posted" in run.err, run
    _clean(run)


def test_hub_endpoint_with_credentials_in_it(
    cli: Callable[..., Run], tree: Path, monkeypatch: pytest.MonkeyPatch, fast_retries: None
) -> None:
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://user:{HF_SECRET}@127.0.0.1:{_closed_port()}")
    run = cli("plan", "-m", "acme/remote-only", "--gpu", GPU, "--online")
    assert run.code == 2, run
    _clean(run)


def test_debug_tracebacks_hold_no_token(tree: Path) -> None:
    env = {"HF_TOKEN": HF_SECRET, "GITHUB_TOKEN": GH_SECRET, "HF_HUB_OFFLINE": "1"}
    run = run_process(["--debug", "plan", "-m", "acme/not-anywhere", "--gpu", GPU], tree, env)
    assert "Traceback" in run.err
    _clean(run)
