"""Bad repo configs, fleet files, config.json files and lockfiles: located error, exit 2.

These are the files besides profiles that a pull request can change, so each gets the same
hostile shapes: broken syntax, tags, duplicates, bombs, nesting, wrong types and sizes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from checker.models.catalog import entries, load_config
from tests.hardening.conftest import GPU, Run, assert_clean_usage_error

PROFILE = "model:\n  id: Qwen/Qwen3-8B\nhardware:\n  gpu_name: H100-SXM-80GB\n"

# Shapes every YAML input must refuse; (id, text, fragment, line or None)
YAML_CASES = [
    ("malformed", "targets: [L4\n", "invalid YAML", 2),
    ("python-tag", "targets: !!python/object/apply:os.system ['id']\n", "not allowed", 1),
    ("duplicate", "targets: [L4]\ntargets: [T4]\n", "duplicate key", 2),
    ("deep", "targets: " + "[" * 200 + "]" * 200 + "\n", "nesting deeper", 1),
    (
        "bomb",
        "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
        + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, n in zip("abcde", "bcdef", strict=True)
        )
        + "targets: [L4]\n",
        "alias bomb",
        None,
    ),
    ("nul", "targets: [L4]\n\x00\n", "not allowed", 2),
    ("wrong-type", "targets: 5\n", "targets", 1),
    ("bad-target", "targets: ['L4:0']\n", "targets", 1),
    ("unknown-key", "tragets: [L4]\n", "tragets", 1),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "fragment", "line"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES]
)
def test_repo_config(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    fragment: str,
    line: int | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.yaml", PROFILE)
    config = _write(tmp_path / ".vllm-wizard.yaml", text)
    run = cli("check", "p.yaml", "--config", str(config), "--offline", "--no-comment")
    assert_clean_usage_error(run, f"{config}:{line}:" if line else str(config))
    assert fragment in run.err


@pytest.mark.parametrize(
    ("text", "fragment", "line"), [c[1:] for c in YAML_CASES], ids=[c[0] for c in YAML_CASES]
)
def test_fleet_file(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    fragment: str,
    line: int | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.yaml", PROFILE)
    fleet = _write(tmp_path / "fleet.yaml", text)
    run = cli(
        "audit", "p.yaml", "--fleet", str(fleet), "--offline", "-j", "1", "--output-dir", "out"
    )
    assert_clean_usage_error(run, f"{fleet}:{line}:" if line else str(fleet))
    assert fragment in run.err  # the first line, or an "also:" line after it
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- name: L4\n  count: .nan\n", "count"),
        ("- name: L4\n  price_per_hour: .inf\n", "price_per_hour"),
        ("- name: L4\n  price_per_hour: -1\n", "price_per_hour"),
        ("- name: lab\n  spec: {memory_gib: -4}\n", "memory_gib"),
        ("[]\n", "the fleet list must not be empty"),
        ("", "a fleet file is a list of GPU targets, got an empty file"),
        ("H100-SXM-80GB\n", "a fleet file is a list of GPU targets, got 'H100-SXM-80GB'"),
        ("- 7\n", "write the item as a mapping with keys name, count"),
    ],
    ids=[
        "nan-count",
        "inf-price",
        "negative-price",
        "negative-memory",
        "empty-list",
        "empty-file",
        "scalar",
        "number-item",
    ],
)
def test_fleet_values(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.yaml", PROFILE)
    _write(tmp_path / "fleet.yaml", text)
    run = cli(
        "audit", "p.yaml", "--fleet", "fleet.yaml", "--offline", "-j", "1", "--output-dir", "out"
    )
    assert_clean_usage_error(run, "fleet.yaml", fragment)


def _llama() -> dict[str, object]:
    entry = next(e for e in entries() if e.id == "meta-llama/Llama-3.1-8B")
    return load_config(entry)


def _config_cases() -> list[tuple[str, bytes, str]]:
    def edited(**changes: object) -> bytes:
        return json.dumps({**_llama(), **changes}).encode()

    return [
        ("invalid-json", b'{"hidden_size": 4096,\n  oops}', ":2:"),
        ("non-utf8", b'{"model_type": "caf\xe9"}', "UTF-8"),
        ("array", b"[1, 2]", "JSON object"),
        ("deep", b"[" * 100_000 + b"]" * 100_000, "nested"),
        ("too-big", b'{"pad": "' + b"x" * (3 << 20) + b'"}', "bytes"),
        ("no-hidden-size", edited(hidden_size=None), "hidden_size"),
        ("string-size", edited(intermediate_size="x"), "config.json"),
        ("negative-head-dim", edited(head_dim=-128), "head_dim"),
        ("nan-size", edited(hidden_size=float("nan")), "hidden_size"),
        ("infinite-length", edited(max_position_embeddings=float("inf")), "config.json"),
        ("billion-layers", edited(num_hidden_layers=10**9), "num_hidden_layers"),
        ("too-many-layers", edited(num_hidden_layers=5000), "5000"),
        (
            "zero-pattern",
            edited(model_type="gemma3_text", sliding_window=512, sliding_window_pattern=0),
            "config.json",
        ),
        ("architectures-int", edited(architectures=5), "config.json"),
    ]


CONFIG_CASES = _config_cases()


@pytest.mark.parametrize(
    ("content", "fragment"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_model_config_json(
    cli: Callable[..., Run], tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content)
    run = cli("plan", "--model-config", str(path), "-m", "org/model", "--gpu", GPU, "--json")
    assert_clean_usage_error(run, str(path), fragment)


def test_model_config_directory_without_config(cli: Callable[..., Run], tmp_path: Path) -> None:
    run = cli("plan", "--model-config", str(tmp_path), "-m", "org/model", "--gpu", GPU)
    assert_clean_usage_error(run, str(tmp_path))


def test_profile_pointing_at_a_hostile_config_is_one_input_error(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request can add a config.json next to its profile: the gate must survive it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_bytes(
        json.dumps({**_llama(), "num_hidden_layers": 10**9}).encode()
    )
    _write(tmp_path / "p.yaml", "model:\n  id: org/model\n  config: config.json\n")
    run = cli("check", "p.yaml", "--gpu", GPU, "--offline", "--format", "json", "--no-comment")
    assert run.code == 2 and "Traceback" not in run.err, run
    (pair,) = json.loads(run.out)["pairs"]
    assert pair["verdict"] == "ERROR" and "num_hidden_layers" in pair["error"]["message"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{oops", "not valid JSON"),
        (b"[" * 100_000, "nested"),
        (b'{"format": "x"}', "unknown key 'format'"),
        (b"[]", "the file must be a mapping of keys, got a list"),
        (b'{"models": {}}', "models: expected a list, got a section of keys"),
        (b'{"lockfile_version": 1}\n# caf\xe9', "not UTF-8 text"),
    ],
    ids=["invalid", "deep", "wrong-shape", "list", "models-mapping", "non-utf8"],
)
def test_lockfile(cli: Callable[..., Run], tmp_path: Path, content: bytes, fragment: str) -> None:
    lock = tmp_path / "models.lock.json"
    lock.write_bytes(content)
    run = cli(
        "plan", "-m", "org/not-in-catalog", "--gpu", GPU, "--offline", "--lockfile", str(lock)
    )
    assert_clean_usage_error(run, str(lock), fragment)


_LOCK_CASES = {
    "missing": ("no such lockfile", "--update-lockfile"),
    "dangling-link": ("a symbolic link to 'gone.json'", "--update-lockfile"),
    "directory": ("cannot read lockfile", None),
    "malformed": ("not valid JSON", "restore it from git"),
    "wrong-schema": ("lockfile_version: must be 1", "restore it from git"),
}


def _bad_lockfile(folder: Path, kind: str) -> Path:
    lock = folder / "vllm-wizard.lock.json"
    if kind == "dangling-link":
        lock.symlink_to("gone.json")
    elif kind == "directory":
        lock.mkdir()
    elif kind == "malformed":
        lock.write_text('{"models": [')
    elif kind == "wrong-schema":
        lock.write_text('{"lockfile_version": 2, "models": []}')
    return lock


@pytest.mark.parametrize("kind", sorted(_LOCK_CASES))
@pytest.mark.parametrize(
    "argv",
    [
        ["plan", "-m", "Qwen/Qwen3-8B", "--gpu", GPU],
        ["generate", "-p", "p.yaml"],
        ["check", "p.yaml", "--no-comment"],
        ["audit", "p.yaml", "--fleet", "fleet.yaml", "--output-dir", "out", "--quiet"],
    ],
    ids=["plan", "generate", "check", "audit"],
)
def test_a_bad_lockfile_is_an_error_when_every_model_is_in_the_catalog(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    kind: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.yaml", PROFILE)
    _write(tmp_path / "fleet.yaml", f"- {GPU}\n")
    lock = _bad_lockfile(tmp_path, kind)
    run = cli(*argv, "--lockfile", lock.name)
    fragment, hint = _LOCK_CASES[kind]
    assert_clean_usage_error(run, f"{lock.name}", fragment)
    assert hint is None or hint in run.error_line
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != lock.name) == [
        "fleet.yaml",
        "p.yaml",
    ]


def test_update_lockfile_may_name_a_lockfile_still_to_record(
    cli: Callable[..., Run], tmp_path: Path
) -> None:
    lock = tmp_path / "vllm-wizard.lock.json"
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", GPU, "--lockfile", str(lock), "--json")
    assert_clean_usage_error(run, "no such lockfile")
    run = cli(
        "plan",
        "-m",
        "Qwen/Qwen3-8B",
        "--gpu",
        GPU,
        "--lockfile",
        str(lock),
        "--update-lockfile",
        "--json",
    )
    assert run.code == 0 and "nothing recorded" in run.err, run
    assert not lock.exists()


def test_a_committed_artifact_that_is_not_utf8_says_so(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.yaml", PROFILE + "outputs:\n  artifacts:\n    command: serve.sh\n")
    (tmp_path / "serve.sh").write_bytes(b"#!/bin/sh\n\xff\xfe\n")
    run = cli("check", "p.yaml", "--check-artifacts", "--offline", "--no-comment")
    assert run.code == 2 and "Traceback" not in run.err, run
    assert "serve.sh: not UTF-8 text (byte 10)" in run.out
    assert "codec" not in run.out + run.err


@pytest.mark.parametrize("argv", [["plan", "-p", "-"], ["check", "-", "--format", "json"]])
def test_a_profile_named_dash_says_only_logs_are_read_from_standard_input(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    run = cli(*argv, "--offline")
    assert run.code == 2
    assert "only explain and calibrate read '-' (standard input)" in run.out + run.err
