"""Committed artifacts against freshly rendered ones: the gate's --check-artifacts and --fix.

A profile names its committed artifacts in ``outputs.artifacts`` (kind -> path relative to the
profile). Rendering is deterministic (no timestamps), so any difference is a real drift.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from checker.errors import ArtifactError
from checker.render.artifacts import EXECUTABLE, render_artifact
from checker.render.context import context_for_profile
from checker.render.write import inside
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile import Profile
from checker.schemas.profile_io import write_atomic


@dataclass(frozen=True)
class Drift:
    kind: str
    path: Path
    expected: str
    diff: str  # unified diff from the committed text to the expected one


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from None


def check_drift(profile_path: Path, profile: Profile, plan: PlanResponse) -> list[Drift]:
    """One Drift per committed artifact whose text differs from what the profile renders to."""
    base = profile_path.parent
    ctx = context_for_profile(plan, profile, source=profile_path)
    drifts = []
    for kind, relative in sorted(profile.outputs.artifacts.items()):
        path = inside(base, relative, key=f"outputs.artifacts.{kind}")
        expected = render_artifact(kind, ctx, path.parent)
        current = _read(path)
        if current == expected:
            continue
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                fromfile=f"{relative} (committed)",
                tofile=f"{relative} (expected)",
            )
        )
        drifts.append(Drift(kind, path, expected, diff))
    return drifts


def fix_drift(drifts: list[Drift]) -> list[Path]:
    """Rewrite each drifted artifact with its expected text, atomically."""
    for drift in drifts:
        write_atomic(drift.path, drift.expected, executable=drift.kind in EXECUTABLE)
    return [d.path for d in drifts]
