"""--base: the same profiles at another revision, planned on the same targets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checker.errors import UsageError
from checker.gate.check import CheckOptions, run_check
from checker.gate.formats.markdown import render_markdown
from checker.gate.result import BaseDiff
from tests.gate.gitrepo import commit_all, make_repo
from tests.gate.test_check import llama, write


def _diff(repo: Path, *paths: str, gpus: tuple[str, ...] = ()) -> BaseDiff:
    result = run_check(
        CheckOptions(paths=paths or ("profiles",), gpus=gpus, base="HEAD~1", cwd=repo)
    )
    assert result.diff is not None
    return result.diff


def test_new_changed_removed_and_unchanged(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "profiles/same.yaml", llama(4096))
    write(repo, "profiles/grow.yaml", llama(8192))
    write(repo, "profiles/gone.yaml", llama(8192))
    write(repo, "profiles/notes.yaml", "on: push\n")  # not a profile on either side
    commit_all(repo, "base")
    write(repo, "profiles/grow.yaml", llama(65536))
    write(repo, "profiles/added.yaml", llama(8192))
    (repo / "profiles" / "gone.yaml").unlink()
    commit_all(repo, "head")

    diff = _diff(repo)
    assert {c.profile: c.status for c in diff.profiles} == {
        "profiles/added.yaml": "new",
        "profiles/gone.yaml": "removed",
        "profiles/grow.yaml": "changed",
        "profiles/same.yaml": "unchanged",
    }
    grow = diff.with_status("changed")[0]
    l4 = next(p for p in grow.pairs if p.target == "L4:1")
    assert l4.before is not None and l4.after is not None
    assert (l4.before.verdict, l4.after.verdict) == ("PASS", "FAIL")
    assert l4.after.max_concurrency is not None and l4.before.max_concurrency is not None
    assert l4.after.max_concurrency < 1 < l4.before.max_concurrency
    gone = diff.with_status("removed")[0]
    assert [(p.target, p.after) for p in gone.pairs] == [("H100-80GB:1", None), ("L4:1", None)]
    added = diff.with_status("new")[0]
    assert all(p.before is None for p in added.pairs)


def test_named_file_removed_in_head_is_not_an_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "a.yaml", llama())
    write(repo, "b.yaml", llama())
    commit_all(repo, "base")
    (repo / "b.yaml").unlink()
    commit_all(repo, "head")
    result = run_check(CheckOptions(paths=("a.yaml", "b.yaml"), base="HEAD~1", cwd=repo))
    assert result.errors == [] and result.exit_code == 0
    assert result.diff is not None
    assert [(c.profile, c.status) for c in result.diff.profiles] == [
        ("a.yaml", "unchanged"),
        ("b.yaml", "removed"),
    ]


def test_moving_to_another_gpu_shows_each_side_on_its_own_target(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "p.yaml", llama(65536).replace('  targets: ["L4"]\n', ""))
    commit_all(repo, "base")
    write(
        repo, "p.yaml", llama(65536).replace('  targets: ["L4"]\n', "").replace("H100-80GB", "L4")
    )
    commit_all(repo, "head")
    (change,) = _diff(repo, "p.yaml").profiles
    assert change.status == "changed"
    by_target = {p.target: p for p in change.pairs}
    assert set(by_target) == {"L4:1", "H100-80GB:1"}
    assert by_target["H100-80GB:1"].after is None  # the target head left
    assert by_target["H100-80GB:1"].before is not None
    assert by_target["L4:1"].after is not None and by_target["L4:1"].after.verdict == "FAIL"
    assert by_target["L4:1"].before is None  # the base never targeted the L4


def test_given_gpus_apply_to_both_sides(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "p.yaml", llama(8192))
    commit_all(repo, "base")
    write(repo, "p.yaml", llama(8192) + "# a comment\n")
    commit_all(repo, "head")
    (change,) = _diff(repo, "p.yaml", gpus=("RTX 4090",)).profiles
    assert change.status == "changed"  # the text changed, the figures did not
    (pair,) = change.pairs
    assert pair.target == "RTX 4090:1" and pair.before == pair.after


def test_broken_base_copy_is_reported_not_fatal(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "p.yaml", "model:\n  id: [x\n")
    commit_all(repo, "base")
    write(repo, "p.yaml", llama())
    commit_all(repo, "head")
    result = run_check(CheckOptions(paths=("p.yaml",), base="HEAD~1", cwd=repo))
    assert result.exit_code == 0 and result.diff is not None
    (change,) = result.diff.profiles
    assert change.status == "changed" and change.base_error is not None
    assert change.base_error.startswith("invalid YAML")
    assert all(p.before is None for p in change.pairs)


def test_missing_base_and_no_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "p.yaml", llama())
    commit_all(repo, "only")
    with pytest.raises(UsageError, match="base revision 'HEAD~1' not found"):
        run_check(CheckOptions(paths=("p.yaml",), base="HEAD~1", cwd=repo))
    plain = tmp_path / "plain"
    shutil.copytree(repo, plain, ignore=shutil.ignore_patterns(".git"))
    with pytest.raises(UsageError, match="needs a git repository"):
        run_check(CheckOptions(paths=("p.yaml",), base="HEAD", cwd=plain))


def test_repo_config_targets_join_the_profile_own_on_both_sides(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, ".vllm-wizard.yaml", 'targets: ["L4"]\n')
    write(repo, "profiles/p.yaml", llama(4096))
    commit_all(repo, "base")
    write(repo, "profiles/p.yaml", llama(8192))
    commit_all(repo, "head")
    (change,) = _diff(repo).profiles
    assert [p.target for p in change.pairs] == ["H100-80GB:1", "L4:1"]
    assert all(p.before is not None and p.after is not None for p in change.pairs)
    write(repo, ".vllm-wizard.yaml", 'targets: ["L4"]\ntargets_only: true\n')
    (change,) = _diff(repo).profiles
    assert [p.target for p in change.pairs] == ["L4:1"]


def test_the_pr_report_shows_serving_targets_met_before_and_after(tmp_path: Path) -> None:
    def profile(tpot_ms: float) -> str:
        targets = (
            f"  concurrency: 16\n  slo:\n    tpot_p50_ms: {tpot_ms}\n    ttft_p90_ms: 5000.0\n"
        )
        return llama(8192).replace("  concurrency: 1\n", targets)

    repo = make_repo(tmp_path / "repo")
    write(repo, "profiles/p.yaml", profile(1.0))
    commit_all(repo, "base")
    write(repo, "profiles/p.yaml", profile(100.0))
    commit_all(repo, "head")
    result = run_check(
        CheckOptions(paths=("profiles",), gpus=("H100-80GB",), base="HEAD~1", cwd=repo)
    )
    assert result.diff is not None
    pair = result.diff.with_status("changed")[0].pairs[0]
    assert pair.before is not None and pair.after is not None
    assert (pair.before.targets_met, pair.after.targets_met) == ((1, 2), (2, 2))
    assert (pair.before.verdict, pair.after.verdict) == ("FAIL", "PASS")
    assert "| 1/2 → **2/2** |" in render_markdown(result)
