"""audit's cost per million output tokens: hand-built pairs for the arithmetic and the order,
one real audit (step model, worker processes) for the reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from checker.gate.audit.cost import CostOption, cost_ranking
from checker.gate.audit.fleet import Fleet, load_fleet
from checker.gate.audit.report import audit_markdown
from checker.gate.audit.run import AuditOptions, AuditResult, run_audit
from checker.gate.check import assemble
from checker.gate.result import Figures, GateFinding, GateVerdict, PairResult, PlanSummary
from checker.schemas.enums import FailOn, Severity
from checker.schemas.profile_io import LoadedProfile, load_profile_text
from tests.gate.test_check import llama, write

FLEET = Fleet.model_validate(
    {
        "targets": [
            "H100-80GB",  # no price: not ranked
            {"name": "H200", "price_per_hour": 4.0},
            {"name": "A100-80GB", "count": 2, "price_per_hour": 3.6},
            {"name": "L40S", "price_per_hour": 1.8},
            {"name": "L4", "price_per_hour": 0.9},
        ]
    }
)


def _finding(rule_id: str, severity: Severity = Severity.ERROR) -> GateFinding:
    return GateFinding(
        rule_id=rule_id,
        name="x",
        severity=severity,
        message=f"{rule_id} says | no",
        key="k",
        line=1,
    )


def _pair(
    target: str,
    throughput: tuple[float, float] | None,
    *,
    verdict: GateVerdict = "PASS",
    findings: tuple[GateFinding, ...] = (),
    gpus: int = 1,
    saturated: tuple[float, float] | None = None,
    profile: str = "p.yaml",
) -> PairResult:
    return PairResult(
        profile=profile,
        target=target,
        gpu=target.split(":")[0],
        model="m",
        verdict=verdict,
        failed=verdict == "FAIL",
        findings=list(findings),
        figures=Figures(verdict=verdict, throughput_toks_per_s=throughput),
        summary=PlanSummary(
            tensor_parallel_size=gpus,
            pipeline_parallel_size=1,
            max_model_len=8192,
            vllm_version="0.19.0",
            memory_gib=70.0,
            num_gpus_used=gpus,
            max_request_rate=saturated,
        ),
    )


def _profiles(workload: str = "", rel: str = "p.yaml") -> dict[str, LoadedProfile]:
    text = llama().replace(
        "workload:\n  concurrency: 1\n", "workload:\n  concurrency: 1\n" + workload
    )
    return {rel: load_profile_text(text, rel)}


def _by_target(costs: list[CostOption]) -> dict[str, CostOption]:
    return {c.target: c for c in costs}


def test_options_ranked_cheapest_first_and_the_cheapest_pass_marked() -> None:
    pairs = [
        _pair("H100-80GB:1", (3000, 5000)),
        _pair("H200:1", (1000, 2000)),  # 4.0 / 3.6 Mtok/h = 1.111 at the slow end
        _pair("A100-80GB:2", (500, 800)),  # two copies on the instance: 3.6 / 3.6 = 1.0
        _pair(
            "L40S:1", (1000, 1000), verdict="WARN", findings=(_finding("VW205", Severity.WARNING),)
        ),
        _pair("L4:1", (100, 150), findings=(_finding("VW110", Severity.INFO),)),  # 0.9/0.36
    ]
    costs = cost_ranking(pairs, FLEET, _profiles())
    assert [(c.target, c.rank) for c in costs] == [
        ("L40S:1", 1),  # cheapest, but it only WARNs
        ("A100-80GB:2", 2),
        ("H200:1", 3),
        ("L4:1", 4),
    ]
    assert [c.target for c in costs if c.cheapest] == ["A100-80GB:2"]
    got = _by_target(costs)
    assert got["L40S:1"].cost_per_million_tokens == (0.5, 0.5)
    assert got["A100-80GB:2"].replicas == (2, 2) and got["A100-80GB:2"].instances == (1, 1)
    assert got["A100-80GB:2"].output_toks_per_s == (1000, 1600)
    assert got["A100-80GB:2"].cost_per_million_tokens == (0.625, 1.0)
    assert got["H200:1"].cost_per_million_tokens == (0.5556, 1.111)
    assert all(c.estimated for c in costs)
    assert got["L4:1"].verdict == "PASS" and got["L4:1"].cost_per_million_tokens == (1.667, 2.5)


def test_a_failing_plan_and_a_missed_latency_target_get_no_cost_and_say_why() -> None:
    pairs = [
        _pair("H200:1", (1000, 2000)),
        _pair("A100-80GB:2", None, verdict="FAIL", findings=(_finding("VW201"),)),
        _pair("L40S:1", (900, 1200), verdict="FAIL", findings=(_finding("VW402"),)),
        _pair("L4:1", (100, 150), verdict="WARN", findings=(_finding("VW401", Severity.WARNING),)),
    ]
    costs = cost_ranking(pairs, FLEET, _profiles())
    assert [(c.target, c.rank) for c in costs] == [
        ("H200:1", 1),
        ("L4:1", 2),  # at risk (a warning): costed, not the cheapest that passes
        ("A100-80GB:2", None),  # the unranked last, in fleet order
        ("L40S:1", None),
    ]
    got = _by_target(costs)
    assert got["A100-80GB:2"].excluded == "FAILs: VW201: VW201 says | no"
    assert got["A100-80GB:2"].cost_per_million_tokens is None
    assert got["L40S:1"].excluded == "misses a latency target: VW402: VW402 says | no"
    assert got["L40S:1"].verdict == "FAIL" and not got["L40S:1"].cheapest
    assert got["H200:1"].cheapest


def test_replicas_the_stated_load_needs_are_counted_into_the_cost() -> None:
    # 1000 tok/s wanted, one deployment does 400-600: 3 replicas at the slow end, 2 at the fast
    profiles = _profiles("  slo:\n    min_output_toks_per_s: 1000.0\n")
    pairs = [_pair("H200:1", (400, 600), verdict="FAIL", findings=(_finding("VW403"),))]
    (cost,) = cost_ranking(pairs, FLEET, profiles)
    assert cost.replicas == (3, 2) and cost.instances == (3, 2)
    assert cost.output_toks_per_s == (1000, 1000)  # the load served, not the capacity
    hour = 1000 * 3600 / 1e6
    assert cost.cost_per_million_tokens == pytest.approx((2 * 4.0 / hour, 3 * 4.0 / hour), rel=1e-3)
    assert cost.verdict == "PASS" and cost.cheapest  # replicas fix what VW403 says


def test_a_request_rate_is_served_by_enough_replicas_on_whole_instances() -> None:
    # 10 requests/s of 256 output tokens; one 2-GPU deployment completes 4-6 requests/s
    profiles = _profiles("  request_rate: 10.0\n")
    pairs = [
        _pair(
            "A100-80GB:2",
            (1000, 1500),
            gpus=2,
            saturated=(4.0, 6.0),
            verdict="FAIL",
            findings=(_finding("VW404"),),
        )
    ]
    (cost,) = cost_ranking(pairs, FLEET, profiles)
    assert cost.replicas == (3, 2) and cost.instances == (3, 2) and cost.gpus == 2
    served = 10 * 256
    assert cost.output_toks_per_s == (served, served)
    high = 3 * 3.6 / (served * 3600 / 1e6)
    assert cost.cost_per_million_tokens is not None
    assert cost.cost_per_million_tokens[1] == pytest.approx(high, rel=1e-3)


def test_no_saturated_rate_means_no_replica_count_and_no_cost() -> None:
    profiles = _profiles("  request_rate: 10.0\n")
    (cost,) = cost_ranking([_pair("H200:1", (1000, 1500))], FLEET, profiles)
    assert cost.cost_per_million_tokens is None and cost.excluded is not None
    assert "request rate" in cost.excluded


SLO_PROFILE = """\
profile_version: 1
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  max_model_len: 4096
hardware:
  gpu_name: H100-80GB
workload:
  prompt_tokens: 512
  gen_tokens: 128
  concurrency: 16
  slo:
    tpot_p50_ms: {tpot}
    min_output_toks_per_s: {floor}
vllm:
  version: "0.19.0"
"""

AUDIT_FLEET = """\
- {name: H100-80GB, price_per_hour: 4.0}
- {name: L40S, price_per_hour: 1.5}
- {name: L4, price_per_hour: 0.5}
"""


@pytest.fixture
def slo_repo(tmp_path: Path) -> Path:
    write(tmp_path, "fleet.yaml", AUDIT_FLEET)
    write(tmp_path, "profiles/chat.yaml", SLO_PROFILE.format(tpot=60.0, floor=3000.0))
    write(tmp_path, "profiles/strict.yaml", SLO_PROFILE.format(tpot=8.0, floor=100.0))
    return tmp_path


def test_audit_reports_carry_the_ranking_serial_and_parallel_alike(
    slo_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(slo_repo)
    runs = {}
    for jobs in ("1", "2"):
        code = main(
            ["audit", "profiles", "--fleet", "fleet.yaml", "--output-dir", f"out{jobs}"]
            + ["--offline", "--quiet", "-j", jobs]
        )
        assert code == 1  # the strict TPOT target is missed somewhere
        runs[jobs] = json.loads((slo_repo / f"out{jobs}" / "audit.json").read_text())
    assert runs["1"]["costs"] == runs["2"]["costs"]
    costs = runs["1"]["costs"]
    chat = [c for c in costs if c["profile"] == "profiles/chat.yaml"]
    ranked = [c for c in chat if c["rank"] is not None]
    assert ranked, chat
    highs = [c["cost_per_million_tokens"][1] for c in ranked]
    assert highs == sorted(highs)
    assert all(c["estimated"] for c in costs)
    for c in ranked:  # 3000 tok/s stated: the cost is spread over exactly that
        assert c["output_toks_per_s"] == [3000.0, 3000.0]
    # the slower GPUs need more than one replica for 3000 tok/s
    assert any(c["replicas"][0] > 1 for c in ranked)
    strict = [c for c in costs if c["profile"] == "profiles/strict.yaml"]
    assert any((c["excluded"] or "").startswith("misses a latency target: VW402") for c in strict)
    out = capsys.readouterr().out
    assert "cheapest that passes: profiles/chat.yaml on" in out and "(estimated)" in out
    text = (slo_repo / "out1" / "audit.md").read_text()
    assert "## Cost per million output tokens (estimated)" in text
    assert "⭐ 1 |" in text or "⭐ 2 |" in text


def test_cost_rows_escape_untrusted_text(tmp_path: Path) -> None:
    write(tmp_path, "fleet.yaml", AUDIT_FLEET)
    write(tmp_path, "profiles/x|@team.yaml", SLO_PROFILE.format(tpot=60.0, floor=100.0))
    result = run_audit(
        AuditOptions(
            fleet=load_fleet(tmp_path / "fleet.yaml"),
            paths=("profiles",),
            jobs=1,
            cwd=tmp_path,
            offline=True,
        )
    )
    section = audit_markdown(result).split("## Cost per million")[1]
    assert "x\\|@" in section and "@team" not in section


def test_reasons_are_escaped_in_markdown() -> None:
    pairs = [
        _pair("H200:1", (1000, 2000)),
        _pair("L4:1", None, verdict="FAIL", findings=(_finding("VW201"),)),
    ]
    result = AuditResult(
        check=assemble(pairs, [], [], None, FailOn.ERROR),
        fleet=FLEET.targets,
        edge=[],
        cheaper=[],
        costs=cost_ranking(pairs, FLEET, _profiles()),
    )
    section = audit_markdown(result).split("## Cost per million")[1]
    assert "| FAILs: VW201: VW201 says \\| no |" in section
    assert (
        "| p.yaml | ⭐ 1 | H200:1 (4.00) | ✅ PASS | 1 x 1 | 1,000-2,000 | 0.5556-1.111 | - |"
        in (section)
    )


def test_the_printed_cheapest_line_escapes_control_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "fleet.yaml", AUDIT_FLEET)
    write(tmp_path, "profiles/a\x1b[2Jb.yaml", SLO_PROFILE.format(tpot=60.0, floor=100.0))
    monkeypatch.chdir(tmp_path)
    main(["audit", "profiles", "--fleet", "fleet.yaml", "--offline", "--quiet", "-j", "1"])
    out = capsys.readouterr().out
    assert "cheapest that passes: profiles/a\\x1b[2Jb.yaml on" in out and "\x1b" not in out
