"""`vllm-wizard generate`: render the chosen artifacts and write them into one directory."""

from __future__ import annotations

import os
from pathlib import Path

from checker.errors import ArtifactError, UsageError
from checker.render.artifacts import EXECUTABLE, FILES, render_artifact
from checker.render.context import RenderContext
from checker.render.escape import terminal
from checker.render.write import check_overwrite, inside
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import LoadedProfile, write_all_atomic


def parse_emit(text: str) -> list[str]:
    """``command,compose,k8s`` -> kinds in the order given, each once."""
    kinds: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item not in FILES:
            raise UsageError(
                f"--emit: unknown artifact kind {item!r}", hint=f"use {','.join(FILES)}"
            )
        if item not in kinds:
            kinds.append(item)
    if not kinds:
        raise UsageError("--emit: name at least one artifact kind", hint=f"use {','.join(FILES)}")
    return kinds


def render_all(ctx: RenderContext, kinds: list[str]) -> str:
    """Every kind's text for stdout (``-o -``): one kind verbatim (pipe it to kubectl or a
    file); several each under a ``==> NAME <==`` line, as ``head`` shows several files."""
    texts = [(FILES[kind][0], render_artifact(kind, ctx)) for kind in kinds]
    if len(texts) == 1:
        return texts[0][1]
    return "\n".join(f"==> {name} <==\n{text}" for name, text in texts)


def generate(ctx: RenderContext, kinds: list[str], out_dir: Path, *, force: bool) -> list[Path]:
    """Render and check every kind first (a bad value or a hand-written file writes nothing),
    then write each atomically."""
    rendered = []
    source = os.path.realpath(ctx.source) if ctx.source is not None else None
    for kind in kinds:
        path = inside(out_dir, FILES[kind][0], key="--output-dir")
        if os.path.realpath(path) == source:  # --force would lose the user's own profile
            raise ArtifactError(
                f"{path} is the profile this run generates from; never overwritten, even with "
                "--force",
                hint="give --output-dir another directory, or leave 'profile' out of --emit",
            )
        check_overwrite(path, force=force)
        rendered.append((kind, path, render_artifact(kind, ctx, path.parent)))
    # the set at once: an interrupted run leaves the old artifacts or the new, never a mix
    write_all_atomic([(path, text, kind in EXECUTABLE) for kind, path, text in rendered])
    return [path for _, path, _ in rendered]


def findings_text(plan: PlanResponse, loaded: LoadedProfile | None) -> str:
    """The plan's findings, one per line at the profile line of its key, each with its fix."""
    lines = []
    for f in plan.feasibility.findings:
        line = loaded.line_of(f.key) if loaded else None
        where = (
            f"{loaded.path}:{line}: " if loaded and line else f"{loaded.path}: " if loaded else ""
        )
        what = f"{f.severity.value} {f.rule_id} {f.key}: {f.message}"
        lines.append(f"  {terminal(where + what)}")
        if f.fix:
            lines.append(f"      fix: {terminal(f.fix)}")
    return "\n".join(lines)
