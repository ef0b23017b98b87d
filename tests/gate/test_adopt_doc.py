"""README.md, "Adopt it in ten lines": every snippet works as printed (workflows lint, the
pre-commit config validates and names our hooks, the fleet file runs an audit), and every ref of
this repository they name (the Action, the hook's rev, the pip install) is a commit of this
repository that has what the snippets use."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO
from tests.gate.test_check_in_actions import FITS
from tests.gate.test_workflow_lint import OUR_ACTION, WORKFLOWS, actionlint, lint_repo

# this repository named by a snippet: the Action, the pip install URL, the hook repo's rev
OUR_REF = re.compile(r"vllm-wizard/vllm-wizard@([^\s\"#]+)")
HOOK_REV = re.compile(r"repo: https://github\.com/vllm-wizard/vllm-wizard\n\s+rev: (\S+)")


def doc_snippets(kind: str) -> list[str]:
    """The ```yaml blocks of the README that hold ``kind`` (e.g. "jobs:", "repos:")."""
    text = (REPO / "README.md").read_text()
    return [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if kind in b]


def test_adoption_snippets_pass_actionlint(tmp_path: Path) -> None:
    snippets = doc_snippets("jobs:")
    assert len(snippets) == 2
    workflows = {f"doc-{i}.yml": s for i, s in enumerate(snippets)}
    workflows.update({f"local-{n}": OUR_ACTION.sub("./", s) for n, s in workflows.items()})
    result = actionlint(lint_repo(tmp_path, workflows))
    assert result.returncode == 0, result.stdout + result.stderr


def test_adoption_snippet_is_a_valid_config(tmp_path: Path) -> None:
    (snippet,) = doc_snippets("repos:")
    config = tmp_path / "config.yaml"
    config.write_text(snippet)
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hook_ids = {h["id"] for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert hook_ids == {"vllm-wizard-check", "vllm-wizard-generate"}
    assert all(f"id: {h}" in snippet for h in hook_ids)


def test_fleet_snippet_runs_an_audit(tmp_path: Path) -> None:
    (fleet,) = doc_snippets("price_per_hour")
    (tmp_path / "fleet.yaml").write_text(fleet)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "serving.yaml").write_text(FITS)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "checker",
            "audit",
            "profiles/",
            "--fleet",
            "fleet.yaml",
            "--output-dir",
            "audit/",
            "--offline",
            "--quiet",
            "-j",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "audit" / "audit.md").read_text()
    assert "H100-SXM-80GB:1" in table and "L4:2" in table and "A100-SXM4-80GB:2" in table


def in_repo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=60
    )


def snippet_refs() -> set[str]:
    texts = [*doc_snippets(""), *(p.read_text() for p in WORKFLOWS)]
    return {ref for t in texts for ref in OUR_REF.findall(t) + HOOK_REV.findall(t)}


def test_snippets_name_commits_of_this_repository() -> None:
    refs = snippet_refs()
    assert refs, "no snippet names this repository"
    assert len(HOOK_REV.findall("".join(doc_snippets("repos:")))) == 1
    for ref in refs:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{ref}: pin a full commit SHA, not a tag"
        found = in_repo("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        assert found.stdout.strip() == ref, f"{ref} is not a commit of this repository"
        assert in_repo("merge-base", "--is-ancestor", ref, "HEAD").returncode == 0, (
            f"{ref} is not in the history of HEAD"
        )


def test_snippets_work_against_the_pinned_commit(tmp_path: Path) -> None:
    """The Action's inputs and the hook ids, as the pinned commit has them (not as HEAD has)."""
    (ref,) = snippet_refs()
    action = in_repo("show", f"{ref}:action.yml").stdout
    workflows = [*doc_snippets("jobs:"), *(p.read_text() for p in WORKFLOWS)]
    local = {f"w{i}.yml": OUR_ACTION.sub("./", t) for i, t in enumerate(workflows)}
    result = actionlint(lint_repo(tmp_path, local, action=action))
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = yaml.safe_load(in_repo("show", f"{ref}:.pre-commit-hooks.yaml").stdout)
    (snippet,) = doc_snippets("repos:")
    assert {f"id: {h['id']}" for h in hooks} <= set(re.findall(r"id: [\w-]+", snippet))
    assert {h["id"] for h in hooks} >= {"vllm-wizard-check", "vllm-wizard-generate"}
