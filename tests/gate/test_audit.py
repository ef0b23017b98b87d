"""audit end to end: real plans in worker processes, reports written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from checker.gate.audit.fleet import load_fleet
from checker.gate.audit.report import audit_json, audit_markdown
from checker.gate.audit.run import AuditOptions, AuditResult, run_audit
from checker.schemas.records import record_json
from tests.gate.test_check import llama, write

FLEET = """\
- name: H100-80GB
  price_per_hour: 4.0
- name: L4
  price_per_hour: 0.8
- RTX 4090
- name: tiny
  spec:
    memory_gib: 8
    memory_bandwidth_gbs: 300
    fp16_tflops: 30
    compute_capability: "8.6"
"""


@pytest.fixture
def fleet_repo(tmp_path: Path) -> Path:
    write(tmp_path, "fleet.yaml", FLEET)
    write(tmp_path, "profiles/small.yaml", llama(8192).replace("concurrency: 1", "concurrency: 2"))
    write(tmp_path, "profiles/long.yaml", llama(65536))
    write(tmp_path, "profiles/bad.yaml", "model:\n  idd: x\n")
    return tmp_path


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_profile_on_every_fleet_target(fleet_repo: Path, jobs: int) -> None:
    calls: list[tuple[int, int]] = []
    result = run_audit(
        AuditOptions(
            fleet=load_fleet(fleet_repo / "fleet.yaml"),
            paths=("profiles",),
            jobs=jobs,
            cwd=fleet_repo,
            offline=True,
        ),
        lambda done, total: calls.append((done, total)),
    )
    check = result.check
    got = {(p.profile, p.target): p.verdict for p in check.pairs}
    assert len(got) == 2 * 4
    assert got[("profiles/long.yaml", "L4:1")] == "FAIL"
    assert got[("profiles/small.yaml", "tiny:1")] == "FAIL"  # 16 GB of weights on 8 GiB
    assert got[("profiles/small.yaml", "H100-80GB:1")] == "PASS"
    assert [p.profile for p in check.pairs][:4] == ["profiles/long.yaml"] * 4  # input order
    assert calls == [(done, 8) for done in range(9)]  # 0, then each pair
    # both problems of bad.yaml (unknown 'idd', missing 'id'), each on its own
    assert [e.path for e in check.errors] == ["profiles/bad.yaml"] * 2
    assert len({e.message for e in check.errors}) == 2
    assert check.exit_code == 2
    # L4 holds 2.97 requests of 8k for a workload of 2: passes, but not 1.5x over
    edge = {(e.profile, e.target) for e in result.edge}
    assert ("profiles/small.yaml", "L4:1") in edge
    assert ("profiles/small.yaml", "H100-80GB:1") not in edge
    cheaper = {c.profile: c for c in result.cheaper}
    assert cheaper["profiles/small.yaml"].target == "L4:1"  # priced, and cheaper than 4.0
    assert cheaper["profiles/small.yaml"].current_price_per_hour == 4.0
    assert "profiles/long.yaml" not in cheaper  # 64k context passes only on the H100


def test_two_processes_plan_chunks_as_one_process_plans(tmp_path: Path) -> None:
    """Many profiles go to the workers in chunks: the result is the serial run's, in input
    order, and progress still counts every pair."""
    write(tmp_path, "fleet.yaml", "- H100-80GB\n- L4\n")
    for i in range(40):
        write(tmp_path, f"profiles/p{i:02}.yaml", llama(4096 * (1 + i % 16)))

    def audited(jobs: int) -> tuple[str, list[int]]:
        calls: list[int] = []
        options = AuditOptions(
            fleet=load_fleet(tmp_path / "fleet.yaml"),
            paths=("profiles",),
            jobs=jobs,
            cwd=tmp_path,
            offline=True,
        )
        result = run_audit(options, lambda done, total: calls.append(done))
        plans = record_json([p.full_plan() for p in result.check.pairs])
        return audit_json(result) + plans, calls

    serial, parallel = audited(1), audited(2)
    assert serial == parallel
    assert "FAIL" in serial[0] and "PASS" in serial[0]
    assert serial[1] == list(range(81))


def test_cli_writes_both_reports(
    fleet_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(fleet_repo)
    (fleet_repo / "profiles" / "bad.yaml").unlink()
    code = main(
        [
            "audit",
            "profiles",
            "--fleet",
            "fleet.yaml",
            "--output-dir",
            "out",
            "--offline",
            "--quiet",
            "-j",
            "2",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert err == ""  # --quiet
    assert "vllm-wizard audit: FAIL" in out and "wrote out/audit.md and out/audit.json" in out
    data = json.loads((fleet_repo / "out" / "audit.json").read_text())
    assert list(data) == ["schema_version", "check", "fleet", "edge", "cheaper", "costs"]
    assert data["check"]["exit_code"] == 1
    assert all("plan" not in p for p in data["check"]["pairs"])  # kept small
    text = (fleet_repo / "out" / "audit.md").read_text()
    assert text.startswith("# ❌ vllm-wizard audit: FAIL")
    assert "| profiles/long.yaml | ✅ 6.29x | ❌ FAIL |" in text  # no figures for a FAIL
    assert "## Close to the edge" in text and "## Could move to a cheaper GPU" in text
    assert sorted(p.name for p in (fleet_repo / "out").iterdir()) == ["audit.json", "audit.md"]


def test_unknown_fleet_gpu_is_an_error_at_its_fleet_line(
    fleet_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(fleet_repo)
    write(fleet_repo, "fleet.yaml", "- H100-80GB\n- name: H1OO\n  count: 2\n")
    code = main(
        ["audit", "profiles", "--fleet", "fleet.yaml", "--output-dir", "out", "--quiet", "-j", "1"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    # the fleet's line, once: not each profile's target line once per profile
    assert err.count("error") == 1
    assert err.startswith("vllm-wizard: error: fleet.yaml:2:3: unknown GPU 'H1OO'")
    assert "'spec:' in this entry" in err and "hardware.custom_gpus" not in err
    assert not (fleet_repo / "out").exists()


def test_an_audit_of_no_profile_is_an_error_as_in_check(
    fleet_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # it passed, 0 of 0 pairs: a renamed profile folder turned the nightly audit green
    monkeypatch.chdir(fleet_repo)
    (fleet_repo / "empty").mkdir()
    argv = ["empty", "--fleet", "fleet.yaml", "--output-dir", "out", "--quiet"]
    assert main(["audit", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vllm-wizard: error: no profiles found in empty")
    assert not (fleet_repo / "out").exists()
    assert main(["check", "empty", "--no-comment"]) == 2
    assert capsys.readouterr().err == err


@pytest.mark.parametrize("name", ["audit.md", "audit.json"])
def test_a_report_name_someone_else_wrote_is_not_replaced(
    fleet_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    monkeypatch.chdir(fleet_repo)
    (fleet_repo / "profiles" / "bad.yaml").unlink()
    argv = ["audit", "profiles/small.yaml", "--fleet", "fleet.yaml", "--quiet", "-j", "1"]
    theirs = write(fleet_repo, name, "# Security audit, Q3\n")
    assert main(argv) == 2  # refused before any planning: the default directory is '.'
    _, err = capsys.readouterr()
    assert err.startswith(f"vllm-wizard: error: {name}: exists and was not written by vllm-wizard")
    assert "--output-dir" in err
    assert theirs.read_text() == "# Security audit, Q3\n"
    assert sorted(p.name for p in fleet_repo.glob("audit.*")) == [name]
    theirs.unlink()  # our own reports are replaced by the next run, and a blank file too
    write(fleet_repo, "audit.json", "")
    assert main(argv) == 1  # written (the 8 GiB 'tiny' GPU fails the profile)
    assert main(argv) == 1  # and written over
    assert json.loads((fleet_repo / "audit.json").read_text())["schema_version"] == 1


def test_markdown_escapes_profile_paths(fleet_repo: Path) -> None:
    (fleet_repo / "profiles" / "bad.yaml").unlink()
    write(fleet_repo, "profiles/x|@team.yaml", llama())
    result = run_audit(
        AuditOptions(
            fleet=load_fleet(fleet_repo / "fleet.yaml"), paths=("profiles",), jobs=1, cwd=fleet_repo
        )
    )
    text = audit_markdown(result)
    assert "x\\|@" in text and "@team" not in text


def _audit(root: Path) -> AuditResult:
    return run_audit(
        AuditOptions(
            fleet=load_fleet(root / "fleet.yaml"),
            paths=("profiles",),
            jobs=1,
            cwd=root,
            offline=True,
        )
    )


def test_a_cheaper_gpu_needs_a_price_here_and_a_pass_there(tmp_path: Path) -> None:
    write(tmp_path, "fleet.yaml", FLEET)
    unpriced = llama(8192).replace("gpu_name: H100-80GB", "gpu_name: RTX 4090")
    write(tmp_path, "profiles/unpriced.yaml", unpriced)  # L4 passes, but cheaper than what?
    busy = llama(8192).replace("concurrency: 1", "concurrency: 64")
    write(tmp_path, "profiles/busy.yaml", busy)  # the L4 only WARNs
    write(tmp_path, "profiles/small.yaml", llama(8192))
    result = _audit(tmp_path)
    verdicts = {(p.profile, p.target): p.verdict for p in result.check.pairs}
    assert verdicts[("profiles/unpriced.yaml", "L4:1")] == "PASS"
    assert verdicts[("profiles/busy.yaml", "L4:1")] == "WARN"
    assert verdicts[("profiles/busy.yaml", "H100-80GB:1")] == "PASS"
    assert [(c.profile, c.target, c.verdict) for c in result.cheaper] == [
        ("profiles/small.yaml", "L4:1", "PASS")
    ]


def test_cli_names_each_input_error_without_opening_the_report(
    fleet_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(fleet_repo)
    argv = ["audit", "profiles/bad.yaml", "--fleet", "fleet.yaml", "--output-dir", "out"]
    code = main([*argv, "--offline", "--quiet", "-j", "1"])
    out, _ = capsys.readouterr()
    assert code == 2
    assert [line for line in out.splitlines() if "VWG00" in line] == [
        "profiles/bad.yaml:1: error VWG00 missing required key 'model.id'",
        "profiles/bad.yaml:2: error VWG00 unknown key 'model.idd'",
    ]
    assert "    fix: did you mean 'id'?" in out
