"""Hub and GitHub faults seen from the CLI: a clear line, exit 2 (or an unchanged gate verdict
for the PR comment), retries only where they can help, no token in any output, no file half
written. Real local servers; only the retry delays are shortened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from checker.models.resolve import clear_cache
from tests.gate.conftest import pr_event, runner_env
from tests.gate.fake_github import FakeGitHub
from tests.gate.fake_github import Fault as GitHubFault
from tests.hardening.conftest import GH_SECRET, GPU, HF_SECRET, Run, assert_clean_usage_error
from tests.models.fake_hub import FakeHub, Fault, Repo

MODEL = "acme/private-7b"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, fast_retries: None) -> Iterator[FakeHub]:
    """An online fake Hub reached through HF_ENDPOINT, with HF_TOKEN set to a canary."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    clear_cache()
    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        config = (Path(__file__).parents[1] / "data/configs/Qwen__Qwen2.5-1.5B.json").read_bytes()
        fake.repos[MODEL] = Repo(files={"config.json": config})
        yield fake
    clear_cache()


def _plan(cli: Callable[..., Run], *extra: str) -> Run:
    return cli("plan", "-m", MODEL, "--gpu", GPU, "--json", "--online", *extra)


def _no_secret(run: Run, *files: Path) -> None:
    seen = run.out + run.err + "".join(f.read_text() for f in files if f.exists())
    assert HF_SECRET not in seen and GH_SECRET not in seen


HUB_FAULTS = [
    # (id, fault on config.json, words in the message, requests expected)
    ("401", Fault("config.json", status=401), "HTTP 401", 1),
    ("403", Fault("config.json", status=403), "HTTP 403", 1),
    ("429", Fault("config.json", status=429, headers={"Retry-After": "0"}), "HTTP 429", 3),
    ("500", Fault("config.json", status=500), "HTTP 500", 3),
    ("503-then-ok", Fault("config.json", status=503, times=1), None, 2),
    ("timeout", Fault("config.json", delay_s=1.0), "did not answer", 3),
    ("truncated", Fault("config.json", truncate_to=40), "config.json", 3),
]


@pytest.mark.parametrize(
    ("fault", "words", "requests"), [c[1:] for c in HUB_FAULTS], ids=[c[0] for c in HUB_FAULTS]
)
def test_hub_faults(
    cli: Callable[..., Run],
    hub: FakeHub,
    tmp_path: Path,
    fault: Fault,
    words: str | None,
    requests: int | None,
) -> None:
    hub.faults.append(fault)
    lock = tmp_path / "models.lock.json"
    lock.write_text("{}\n")
    run = _plan(cli, "--lockfile", str(lock), "--update-lockfile")
    _no_secret(run, lock)
    if words is None:  # recovered after a retry
        assert run.code == 0, run
        assert json.loads(run.out)["model"]["model_id"] == MODEL
    else:
        assert_clean_usage_error(run, words)
        assert lock.read_text() == "{}\n"  # nothing recorded, nothing half written
    if requests is not None:
        assert len(hub.requests_for("config.json")) == requests


def test_hub_unknown_repository_is_not_retried(cli: Callable[..., Run], hub: FakeHub) -> None:
    run = cli("plan", "-m", "acme/nothing-here", "--gpu", GPU, "--online")
    assert_clean_usage_error(run, "acme/nothing-here")
    assert len(hub.requests_for("config.json")) == 1
    _no_secret(run)


def test_hub_answering_html_is_invalid_json(cli: Callable[..., Run], hub: FakeHub) -> None:
    hub.repos[MODEL] = Repo(files={"config.json": b"<html><body>Service Unavailable</body>"})
    run = _plan(cli)
    assert_clean_usage_error(run, MODEL, "JSON")
    _no_secret(run)


def test_hub_down_is_a_clear_error(
    cli: Callable[..., Run], hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.server.shutdown()
    hub.server.server_close()  # the port now refuses connections
    run = _plan(cli)
    assert_clean_usage_error(run, "cannot reach")
    _no_secret(run)


@pytest.mark.parametrize(
    "argv",
    [
        ("plan", "-m", MODEL, "--gpu", GPU),  # offline is the default
        ("plan", "-m", MODEL, "--gpu", GPU, "--offline"),
        ("check", "p.vllm.yaml", "--gpu", GPU),
        ("check", "p.vllm.yaml", "--check-artifacts", "--fix"),  # the generate hook
        ("audit", "p.vllm.yaml", "--fleet", "fleet.yaml", "-j", "1", "--quiet"),
        ("generate", "-p", "p.vllm.yaml", "-o", "out"),
        ("plan", "-m", MODEL, "--gpu", GPU, "--online", "HF_HUB_OFFLINE=1"),
    ],
)
def test_offline_never_asks_the_hub(
    cli: Callable[..., Run],
    hub: FakeHub,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: tuple[str, ...],
) -> None:
    monkeypatch.chdir(tmp_path)
    profile = f"model:\n  id: {MODEL}\nhardware:\n  gpu_name: {GPU}\n"
    Path("p.vllm.yaml").write_text(profile + "outputs:\n  artifacts: {command: serve.sh}\n")
    Path("fleet.yaml").write_text(f"- {GPU}\n")
    if argv[-1] == "HF_HUB_OFFLINE=1":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        argv = argv[:-1]
    run = cli(*argv)
    said = run.out + run.err + (Path("audit.md").read_text() if argv[0] == "audit" else "")
    assert "not asked" in said and MODEL in said
    assert run.code == 2, run
    assert hub.seen == []


def test_update_lockfile_asks_the_hub_and_refuses_offline(
    cli: Callable[..., Run], hub: FakeHub, tmp_path: Path
) -> None:
    lock = tmp_path / "models.lock.json"
    base = ("plan", "-m", MODEL, "--gpu", GPU, "--lockfile", str(lock), "--update-lockfile")
    run = cli(*base, "--offline")
    assert_clean_usage_error(run, "--offline")
    assert hub.seen == [] and not lock.exists()
    run = cli(*base)  # recording is an explicit opt-in to the Hub
    assert run.code == 0, run
    assert MODEL in lock.read_text()


PROFILE = "model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: H100-SXM-80GB\n"

GITHUB_FAULTS = [
    ("401", [GitHubFault("GET", r"/comments$", 401, body={"message": "Bad credentials"})]),
    ("403", [GitHubFault("POST", r"/comments$", 403)]),
    ("404", [GitHubFault("GET", r"/comments$", 404, body={"message": "Not Found"})]),
    ("429", [GitHubFault("GET", r"/comments$", 429, headers={"Retry-After": "0"})] * 4),
    ("500", [GitHubFault("GET", r"/comments$", 500)] * 4),
    ("502-then-ok", [GitHubFault("GET", r"/comments$", 502)]),
]


@pytest.mark.parametrize("faults", [c[1] for c in GITHUB_FAULTS], ids=[c[0] for c in GITHUB_FAULTS])
def test_github_faults_never_change_the_verdict_or_leak_the_token(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_retries: None,
    faults: list[GitHubFault],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROFILE)
    with FakeGitHub() as github:
        github.faults.extend(faults)
        env = {**runner_env(tmp_path, github.url, pr_event(7)), "GITHUB_TOKEN": GH_SECRET}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        run = cli("check", "p.yaml", "--gpu", GPU, "--offline", "--format", "github")
        posted = github.comments.get(7, [])
    summary, outputs = tmp_path / "summary.md", tmp_path / "output.txt"
    assert run.code == 0, run  # the profile passes; publishing problems do not fail the gate
    assert "Traceback" not in run.err
    _no_secret(run, summary, outputs)
    if github.faults:  # some faults were never consumed: the comment went through in the end
        pytest.fail(f"unused faults {github.faults}")
    if posted:
        assert "vllm-wizard" in posted[0]["body"]
    else:
        assert "PR comment not posted" in run.err
        assert "PR comment not posted" in summary.read_text()
    assert "verdict<<" in outputs.read_text()


@pytest.mark.parametrize(
    "body", [{"message": "not a list"}, "text", None, [1, 2]], ids=["dict", "str", "null", "ints"]
)
def test_github_answers_of_the_wrong_shape(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast_retries: None,
    body: object,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(PROFILE)
    with FakeGitHub() as github:
        github.faults.append(GitHubFault("GET", r"/comments$", 200, body=body))  # type: ignore[arg-type]
        for key, value in runner_env(tmp_path, github.url, pr_event(7)).items():
            monkeypatch.setenv(key, value)
        run = cli("check", "p.yaml", "--gpu", GPU, "--offline", "--format", "github")
    assert run.code == 0 and "Traceback" not in run.err, run


@pytest.mark.parametrize("config", [b"[1, 2]", b'"text"', b"null", b"[" * 50_000])
def test_hub_config_of_the_wrong_shape(
    cli: Callable[..., Run], hub: FakeHub, config: bytes
) -> None:
    hub.repos[MODEL] = Repo(files={"config.json": config})
    run = _plan(cli)
    assert_clean_usage_error(run, MODEL)
    _no_secret(run)
