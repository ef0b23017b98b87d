"""A GPU target "NAME[:COUNT]" reads the same wherever a user writes it: check/plan ``--gpu``,
a profile's and the repo config's ``targets``, the fleet file's short form."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from checker.errors import ProfileError
from checker.schemas.target import Target, parse_target
from tests.hardening.conftest import Run

PROFILE = """\
model: {id: Qwen/Qwen3-8B, max_model_len: 4096}
hardware: {gpu_name: L4, gpus: 1%s}
"""


def _check(tmp: Path, cli: Callable[..., Run], text: str) -> Run:
    (tmp / "p.yaml").write_text(PROFILE % "")
    return cli("check", str(tmp / "p.yaml"), "--gpu", text, "--offline", "--format", "json")


def _plan(tmp: Path, cli: Callable[..., Run], text: str) -> Run:
    return cli("plan", "-m", "Qwen/Qwen3-8B", "--max-model-len", "4096", "--gpu", text, "--json")


def _generate(tmp: Path, cli: Callable[..., Run], text: str) -> Run:
    argv = ("-m", "Qwen/Qwen3-8B", "--max-model-len", "4096", "--gpu", text)
    return cli("generate", *argv, "--emit", "command", "-o", "-", "--force")


def _fleet(tmp: Path, cli: Callable[..., Run], text: str) -> Run:
    (tmp / "p.yaml").write_text(PROFILE % "")
    (tmp / "fleet.yaml").write_text(f"- {json.dumps(text)}\n")
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    return cli(
        "audit", str(tmp / "p.yaml"), "--fleet", str(tmp / "fleet.yaml"), "-j", "1",
        "--output-dir", str(out), "--quiet", "--offline",
    )  # fmt: skip


def _repo_config(tmp: Path, cli: Callable[..., Run], text: str) -> Run:
    (tmp / "p.yaml").write_text(PROFILE % "")
    (tmp / ".vllm-wizard.yaml").write_text(f"targets: [{json.dumps(text)}]\n")
    config = str(tmp / ".vllm-wizard.yaml")
    return cli("check", str(tmp / "p.yaml"), "--config", config, "--offline", "--format", "json")


def _profile_targets(tmp: Path, cli: Callable[..., Run], text: str) -> Run:
    (tmp / "p.yaml").write_text(PROFILE % f", targets: [{json.dumps(text)}]")
    return cli("check", str(tmp / "p.yaml"), "--offline", "--format", "json")


ENTRY_POINTS = {
    "check --gpu": _check,
    "plan --gpu": _plan,
    "generate --gpu": _generate,
    "fleet short form": _fleet,
    "repo config targets": _repo_config,
    "profile targets": _profile_targets,
}
BAD = ["L4:0", "L4:-1", "L4:x", "L4:1.5", "L4:", "L4:2:3", "L4:4097", "L4:٣", ":2", "  ", "x" * 129]


@pytest.mark.parametrize("text", BAD)
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_bad_target_gets_the_same_words_everywhere(
    tmp_path: Path, cli: Callable[..., Run], entry: str, text: str
) -> None:
    run = ENTRY_POINTS[entry](tmp_path, cli, text)
    assert run.code == 2, run
    assert "Traceback" not in run.err + run.out
    said = run.err
    if run.out:  # the gate reports a bad profile in its JSON report, with its line
        said += "".join(f"{e['line']}: {e['message']}" for e in json.loads(run.out)["errors"])
    assert f'GPU target {text!r} is not "NAME" or "NAME:COUNT"' in said, said
    assert "whole number from 1 to 4096" in said, said
    where = {"fleet short form": "fleet.yaml:1:", "repo config targets": ".vllm-wizard.yaml:1:"}
    assert where.get(entry, "") in said
    if entry == "profile targets":
        assert said.startswith("2: hardware.targets: "), said


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_space_around_a_target_is_dropped_everywhere(
    tmp_path: Path, cli: Callable[..., Run], entry: str
) -> None:
    run = ENTRY_POINTS[entry](tmp_path, cli, " L4 : 2 ")
    assert run.code in (0, 1), run  # planned: the verdict is the plan's business
    if entry == "plan --gpu":
        assert json.loads(run.out)["feasibility"]["num_gpus_given"] == 2
    elif entry == "generate --gpu":
        assert "of 2 x L4" in run.out, run.out  # the header names the GPUs given
    elif entry != "fleet short form":
        assert "L4:2" in {p["target"] for p in json.loads(run.out)["pairs"]}


@pytest.mark.parametrize(
    ("text", "target"),
    [("L4", Target("L4", 1)), ("L4:4096", Target("L4", 4096)), ("\tauto:8\n", Target("auto", 8))],
)
def test_parse_target(text: str, target: Target) -> None:
    assert parse_target(text) == target


def test_a_huge_target_is_quoted_short() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_target("L4:" + "9" * 100_000)
    assert len(caught.value.message) < 300


def test_plan_says_a_count_given_twice_in_words(cli: Callable[..., Run]) -> None:
    run = cli("plan", "-m", "Qwen/Qwen3-8B", "--gpu", "L4:1", "--gpus", "2")
    assert run.code == 2 and "--gpu L4:1 says 1 GPU and --gpus says 2" in run.err, run
