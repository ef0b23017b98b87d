"""--check-artifacts / --fix: committed artifacts against what their profiles generate.

Artifacts are rendered the way ``vllm-wizard generate --profile FILE`` renders them: from the
profile alone, on its own GPU target, with its own vLLM pin and ignore list (no --vllm-version,
no repo-config default or ignore), so the gate and the generator never disagree about what
"up to date" means.
"""

from __future__ import annotations

import os
from pathlib import Path

from checker.errors import ArtifactError, CheckerError
from checker.gate.pairs import PairSettings, check_pair, problem_from_error
from checker.gate.result import ArtifactDrift, InputProblem
from checker.gate.sources.git_base import checkout_adds_cr
from checker.gate.sources.profiles import Loaded
from checker.schemas.error_words import shown
from checker.schemas.profile_io import profile_targets


def check_artifacts(
    head: Loaded, settings: PairSettings, cwd: Path, *, fix: bool, out_dir: Path | None = None
) -> tuple[list[ArtifactDrift], list[InputProblem]]:
    """Drift of every profile's committed artifacts; with ``out_dir``, the regenerated text of
    each drifted one is written there under its repository path (for a CI artifact upload)."""
    from checker.render.drift import check_drift, fix_drift
    from checker.render.write import inside
    from checker.schemas.profile_io import write_atomic

    own_pin = settings._replace(
        vllm_version=None, default_vllm_version=None, ignore=(), keep_plans=True
    )
    drifts: list[ArtifactDrift] = []
    problems: list[InputProblem] = []
    shared = _shared_artifacts(head, cwd)
    for rel, loaded in head.profiles.items():
        kinds = loaded.profile.outputs.artifacts
        if not kinds:
            continue
        if rel in shared:  # neither profile's text is the artifact's: nothing is written
            problems += shared[rel]
            continue
        target = profile_targets(loaded.profile)[0]
        real = Path(os.path.realpath(cwd / rel))  # a symlinked profile's paths are its file's
        pair = check_pair(loaded, target, own_pin, base_dir=real.parent)
        if pair.plan is None:
            if pair.error is not None:
                problems.append(pair.error)
            continue
        try:
            found = check_drift(real, loaded.profile, pair.plan, checkout_adds_cr)
            if fix:
                fix_drift(found)
            if out_dir is not None:
                for d in found:
                    # a profile found through '../x/*.yaml' must not write beside out_dir
                    upload = inside(out_dir, os.path.relpath(d.path, cwd), key="--artifacts-dir")
                    if not fix and os.path.realpath(upload) == os.path.realpath(d.path):
                        # a check reports drift; rewriting the committed file is --fix's job
                        raise ArtifactError(
                            f"--artifacts-dir {out_dir} would write {upload} over the "
                            "committed artifact itself",
                            hint="give --artifacts-dir a directory of its own (e.g. "
                            "$RUNNER_TEMP/drift), or pass --fix to rewrite the artifacts",
                        )
                    write_atomic(upload, d.expected)
        except CheckerError as exc:
            problems.append(problem_from_error(exc, rel, loaded.line_of("outputs.artifacts")))
            continue
        drifts += [
            ArtifactDrift(
                profile=rel,
                kind=d.kind,
                path=Path(os.path.relpath(d.path, cwd)).as_posix(),
                line=loaded.line_of(f"outputs.artifacts.{d.kind}"),
                diff=d.diff,
                fixed=fix,
                missing=d.missing,
            )
            for d in found
        ]
    return drifts, problems


def _shared_artifacts(head: Loaded, cwd: Path) -> dict[str, list[InputProblem]]:
    """Per profile, its artifacts that another profile names too (symlinks followed): --fix
    would write one profile's text over the other's, and every check after it would drift."""
    claims: dict[str, list[tuple[str, str]]] = {}
    for rel, loaded in head.profiles.items():
        folder = Path(os.path.realpath(cwd / rel)).parent
        for kind, relative in loaded.profile.outputs.artifacts.items():
            claims.setdefault(os.path.realpath(folder / relative), []).append((rel, kind))
    shared: dict[str, list[InputProblem]] = {}
    for owners in claims.values():
        for rel, kind in owners:
            others = [f"the {k} artifact of {r}" for r, k in owners if r != rel]
            if not others:  # two kinds of one profile: check_drift refuses that itself
                continue
            loaded = head.profiles[rel]
            shared.setdefault(rel, []).append(
                InputProblem(
                    path=rel,
                    line=loaded.line_of(f"outputs.artifacts.{kind}"),
                    message=f"outputs.artifacts.{kind}: "
                    f"{shown(loaded.profile.outputs.artifacts[kind])} is also " + ", ".join(others),
                    hint="give each profile's artifacts files of their own; neither is "
                    "checked or rewritten until then",
                )
            )
    return shared
