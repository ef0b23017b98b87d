"""`vllm-wizard generate`: render the chosen artifacts and write them into one directory."""

from __future__ import annotations

from pathlib import Path

from checker.errors import UsageError
from checker.render.artifacts import EXECUTABLE, FILES, render_artifact
from checker.render.context import RenderContext
from checker.render.write import check_overwrite, inside, write_artifact


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


def generate(ctx: RenderContext, kinds: list[str], out_dir: Path, *, force: bool) -> list[Path]:
    """Render and check every kind first (a bad value or a hand-written file writes nothing),
    then write each atomically."""
    rendered = []
    for kind in kinds:
        path = inside(out_dir, FILES[kind][0], key="--output-dir")
        check_overwrite(path, force=force)
        rendered.append((kind, path, render_artifact(kind, ctx, path.parent)))
    for kind, path, text in rendered:
        write_artifact(path, text, executable=kind in EXECUTABLE, force=force)
    return [path for _, path, _ in rendered]
