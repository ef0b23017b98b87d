from __future__ import annotations

from pathlib import Path

import pytest

from checker.errors import ArtifactError
from checker.pipeline import plan_request
from checker.render.drift import check_drift, fix_drift
from checker.schemas.profile_io import load_profile, profile_to_request

PROFILE = """\
model: {id: meta-llama/Llama-2-7b-hf, max_model_len: 4096}
hardware: {gpu_name: RTX 4090}
outputs:
  artifacts:
    command: ../deploy/serve.sh
    k8s: ../deploy/k8s.yaml
    helm: ../deploy/helm/values.yaml
"""


def _setup(tmp_path: Path, text: str = PROFILE) -> Path:
    profile = tmp_path / "repo" / "profiles" / "p.yaml"
    profile.parent.mkdir(parents=True)
    profile.write_text(text.replace("../deploy", "deploy"), encoding="utf-8")
    return profile


def _check(profile_path: Path) -> list:  # type: ignore[type-arg]
    loaded = load_profile(profile_path)
    plan = plan_request(profile_to_request(loaded.profile, base_dir=profile_path.parent))
    return check_drift(profile_path, loaded.profile, plan)


def test_missing_then_fixed_then_clean(tmp_path: Path) -> None:
    profile = _setup(tmp_path)
    drifts = _check(profile)
    assert [d.kind for d in drifts] == ["command", "helm", "k8s"]
    fix_drift(drifts)
    assert (profile.parent / "deploy" / "helm" / "values.yaml").exists()
    assert _check(profile) == []


def test_one_edited_line_is_a_drift_with_a_diff_and_fix_repairs_it(tmp_path: Path) -> None:
    profile = _setup(tmp_path)
    fix_drift(_check(profile))
    k8s = profile.parent / "deploy" / "k8s.yaml"
    good = k8s.read_text(encoding="utf-8")
    k8s.write_text(good.replace("replicas: 1", "replicas: 3"), encoding="utf-8")
    (drift,) = _check(profile)
    assert drift.kind == "k8s" and drift.path == k8s and drift.expected == good
    assert "-  replicas: 3\n+  replicas: 1\n" in drift.diff
    assert "deploy/k8s.yaml (committed)" in drift.diff
    fix_drift([drift])
    assert k8s.read_text(encoding="utf-8") == good
    assert _check(profile) == []


def test_a_profile_change_shows_up_as_drift(tmp_path: Path) -> None:
    profile = _setup(tmp_path)
    fix_drift(_check(profile))
    profile.write_text(
        profile.read_text(encoding="utf-8").replace("4096", "2048"), encoding="utf-8"
    )
    assert {d.kind for d in _check(profile)} == {"command", "helm", "k8s"}


@pytest.mark.parametrize("path", ["../outside.sh", "/etc/serve.sh", "a/../../b.sh", "C:\\\\x.sh"])
def test_artifact_paths_that_escape_are_refused(tmp_path: Path, path: str) -> None:
    profile = _setup(
        tmp_path,
        f"model: {{id: meta-llama/Llama-2-7b-hf}}\n"
        f"hardware: {{gpu_name: RTX 4090}}\n"
        f"outputs: {{artifacts: {{command: '{path}'}}}}\n",
    )
    with pytest.raises(ArtifactError, match="outputs.artifacts.command"):
        _check(profile)
