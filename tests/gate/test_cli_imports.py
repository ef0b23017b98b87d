"""A hook's cold start: ``check`` and ``plan`` import only what they use (issue 17)."""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checker import cli

HEAVY = (
    "huggingface_hub",
    "jinja2",
    "markdown",
    "http.client",
    "checker.gate.github.api",
    "checker.gate.github.publish",
    "checker.models.hub",  # offline: neither the Hub client nor the lockfile's models
    "checker.models.hub_errors",
    "checker.models.lockfile",
    "checker.gate.diff",  # only with --base
    "checker.gate.sources.git_base",
    "checker.gate.artifact_check",  # only with --check-artifacts or --fix
    "difflib",  # only a typo's "did you mean"
    "checker.schemas.calibration",  # only where a calibration file is read
)

_SCRIPT = """
import contextlib, io, json, sys
from checker.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(json.loads(sys.argv[1]))
print(json.dumps(sorted(sys.modules)))
"""

PROFILE = """profile_version: 1
model: {id: meta-llama/Llama-3.1-8B-Instruct, max_model_len: 8192}
hardware: {gpu_name: H100-SXM-80GB, gpus: 1}
"""


# as the console script runs: through entry()
_ENTRY = """
import json, sys
sys.argv = ["vllm-wizard", *json.loads(sys.argv[1])]
from checker.cli import entry
try:
    entry()
except SystemExit as exc:
    assert exc.code == 0, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def _imported(args: list[str], cwd: Path, script: str = _SCRIPT) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}  # outside GitHub Actions
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


@pytest.mark.parametrize(
    "args",
    [
        ["check", "p.yaml", "--gpu", "H100-SXM-80GB:1", "--offline"],
        ["plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100-SXM-80GB", "--json"],
    ],
    ids=["check", "plan"],
)
def test_check_and_plan_skip_hub_templates_and_github(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROFILE, encoding="utf-8")
    modules = _imported(args, tmp_path)
    assert "checker.planning.planner" in modules  # it did plan
    loaded = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []


@pytest.mark.parametrize(
    "args",
    [
        ["check", "p.yaml", "--gpu", "H100-SXM-80GB:1", "--offline"],
        ["plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100-SXM-80GB", "--json"],
    ],
    ids=["check", "plan"],
)
def test_the_console_script_skips_package_metadata(args: list[str], tmp_path: Path) -> None:
    """Nothing imports pydantic (our sections validate themselves) nor importlib.metadata,
    zipfile and email (our data are plain files) at each start."""
    (tmp_path / "p.yaml").write_text(PROFILE, encoding="utf-8")
    modules = _imported(args, tmp_path, _ENTRY)
    assert "checker.planning.planner" in modules  # it did plan, and passed
    assert not {"importlib.metadata", "importlib.resources", "zipfile", "email"} & set(modules)
    assert [m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core")] == []


def test_check_imports_only_the_format_it_prints(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(PROFILE, encoding="utf-8")
    modules = _imported(["check", "p.yaml", "--gpu", "H100-SXM-80GB:1", "--offline"], tmp_path)
    assert "checker.gate.formats.text" in modules
    assert "checker.gate.formats.markdown" not in modules
    assert "checker.gate.formats.sarif" not in modules
    assert "checker.render.context" not in modules  # a passing pair renders no artifact


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``cli.entry`` with a main that does nothing, and the collector's state restored after."""
    monkeypatch.setattr(cli, "main", lambda: 0)
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


_BUILT = """
import contextlib, io, json, sys
from checker.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(json.loads(sys.argv[1]))
from checker.gate.sources.repo_config import RepoConfig
from checker.schemas import calibration
models = [RepoConfig, calibration.Calibration, calibration.CalibrationKey]
print(json.dumps([m.__name__ for m in models if m.__section_validate__ is not None]))
"""


def test_check_builds_no_validator_for_a_config_or_calibration_it_has_not(tmp_path: Path) -> None:
    """A repository without a config or calibration file pays for neither's validator."""
    (tmp_path / "p.yaml").write_text(PROFILE, encoding="utf-8")
    args = ["check", "p.yaml", "--gpu", "H100-SXM-80GB:1", "--offline"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", _BUILT, json.dumps(args)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


_SECTIONS_BUILT = """
import contextlib, io, json, sys
from checker.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(json.loads(sys.argv[1]))
from checker.schemas.inputs import PlanRequest, WorkloadInput
from checker.schemas.profile import ProfileDeploy
models = [PlanRequest, WorkloadInput, ProfileDeploy]
print(json.dumps([m.__name__ for m in models if m.__section_validate__ is not None]))
"""


def test_plan_builds_no_validator_for_its_default_deploy_and_workload(tmp_path: Path) -> None:
    """A plan without a profile renders its command with the default deploy and workload
    sections, built from their defaults: only the request's validator is built."""
    args = ["plan", "-m", "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "H100-SXM-80GB"]
    done = subprocess.run(
        [sys.executable, "-c", _SECTIONS_BUILT, json.dumps(args)],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["PlanRequest"]


def test_the_console_script_spares_the_collector_its_objects(collector: None) -> None:
    """Fewer collector passes while modules load, and none over the run's objects at exit."""
    with pytest.raises(SystemExit):
        cli.entry()
    assert gc.get_threshold() == cli.GC_THRESHOLDS
    assert gc.get_freeze_count() > 0


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_a_run_builds_the_parser_of_its_command_alone() -> None:
    everything = _commands(cli.build_parser())
    assert len(everything) > 5 and "check" in everything
    assert _commands(cli.build_parser(cli._command(["--debug", "check", "p.yaml"]))) == ["check"]
    # help, a typo and '--' get every command, as argparse lists them in its message
    for argv in (["--help"], ["chek", "p.yaml"], ["--", "check"], []):
        assert _commands(cli.build_parser(cli._command(argv))) == everything


def test_a_mistyped_command_still_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["chek", "p.yaml"]) == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'chek'" in error
    assert all(repr(name) in error for name in _commands(cli.build_parser()))
