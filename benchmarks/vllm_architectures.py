"""Extract vLLM's model registry from release wheels into checker/data/vllm_architectures.json.

    pip download vllm==0.33.0 --no-deps -d /tmp/w && unzip -q /tmp/w/*.whl 'vllm/*' -d /tmp/v033
    pip download transformers==5.20.2 --no-deps -d /tmp/t && unzip -q /tmp/t/*.whl -d /tmp/t5202
    python benchmarks/vllm_architectures.py 0.33.0=/tmp/v033:/tmp/t5202@5.20.2 [...]

Releases named on the command line replace their entry; the others already in the file stay.

Reads each release statically (nothing is imported or installed): from
``vllm/model_executor/models/registry.py`` the architectures the registry maps to a class
(_VLLM_MODELS), the removed ones (_PREVIOUSLY_SUPPORTED_MODELS, with the last release) and the
out-of-tree ones (_OOT_SUPPORTED_MODELS); which registered classes implement SupportsPP (their
class bases in ``vllm/model_executor/models``, followed through inheritance); from
``vllm/config/model.py`` the _SUFFIX_TO_DEFAULTS suffixes ``_normalize_arch`` swaps. From the
transformers release the vLLM wheel requires: every model class the library exports whose
module the Transformers backend accepts (``is_backend_compatible``: ``_supports_attention_backend
= True``; from 0.33 also ``_can_set_attn_implementation``'s source heuristic), the classes
``_try_resolve_transformers`` falls back to for an architecture vLLM does not register. Give
each release the newest transformers its Requires-Dist allows (what pip installs beside it).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "checker" / "data" / "vllm_architectures.json"
_REGISTRY_TABLES = (
    "_TEXT_GENERATION_MODELS",
    "_EMBEDDING_MODELS",
    "_LATE_INTERACTION_MODELS",
    "_CROSS_ENCODER_MODELS",
    "_REWARD_MODELS",
    "_TOKEN_CLASSIFICATION_MODELS",
    "_SEQUENCE_CLASSIFICATION_MODELS",
    "_MULTIMODAL_MODELS",
    "_SPECULATIVE_DECODING_MODELS",
    "_TRANSFORMERS_SUPPORTED_MODELS",
    "_TRANSFORMERS_BACKEND_MODELS",
)
_ATTENTION_MODULE = re.compile(r"^class \w*Attention\w*\(nn\.Module\):", re.MULTILINE)


def _literal_tables(path: Path) -> dict[str, Any]:
    """Top-level NAME = {...} / [...] literals of a module (``**spread`` entries merged);
    tables holding anything but literals are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tables: dict[str, Any] = {}
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if not isinstance(target, ast.Name) or value is None:
            continue
        if isinstance(value, ast.Dict):
            table: dict[str, Any] = {}
            try:
                for key, item in zip(value.keys, value.values, strict=True):
                    if key is None and isinstance(item, ast.Name):
                        table.update(tables.get(item.id, {}))
                    elif key is not None:
                        table[ast.literal_eval(key)] = ast.literal_eval(item)
            except ValueError:
                continue
            tables[target.id] = table
        elif isinstance(value, ast.List):
            try:
                tables[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return tables


def _class_bases(paths: list[Path]) -> dict[str, set[str]]:
    """Every class defined in ``paths``, by name, with the base names of all its definitions;
    a class imported under another name counts as that name's base."""
    bases: dict[str, set[str]] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.asname and alias.asname != alias.name:
                        bases.setdefault(alias.asname, set()).add(alias.name)
            elif isinstance(node, ast.ClassDef):
                names = {
                    b.id if isinstance(b, ast.Name) else b.attr
                    for b in node.bases
                    if isinstance(b, (ast.Name, ast.Attribute))
                }
                bases.setdefault(node.name, set()).update(names)
    return bases


def _module_files(vllm_root: Path, module: str) -> list[Path]:
    """The files of a registry entry's module: "llama" is model_executor/models/llama.py,
    "vllm.models.deepseek_v4" a file or package under vllm/models."""
    if module.startswith("vllm."):
        base = vllm_root.joinpath(*module.split("."))
    else:
        base = vllm_root / "vllm" / "model_executor" / "models" / module
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    return [base.with_suffix(".py")] if base.with_suffix(".py").is_file() else []


def _supports_pp(vllm_root: Path, module: str, cls: str, everywhere: dict[str, set[str]]) -> bool:
    """Whether the registered class implements SupportsPP: its own bases (from its module, so
    a same-named class elsewhere does not answer for it), then inherited ones by name."""
    todo = list(_class_bases(_module_files(vllm_root, module)).get(cls, ()))
    seen: set[str] = set()
    while todo:
        current = todo.pop()
        if current == "SupportsPP":
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(everywhere.get(current, ()))
    return False


def _transformers_backend_classes(tf_root: Path, *, source_heuristic: bool) -> list[str]:
    """Model classes transformers exports (each modeling module's __all__) that vLLM's
    Transformers backend accepts."""
    accepted: set[str] = set()
    for path in sorted((tf_root / "transformers" / "models").glob("*/modeling_*.py")):
        source = path.read_text(encoding="utf-8")
        compatible = "_supports_attention_backend = True" in source
        if source_heuristic and not compatible:
            # PreTrainedModel._can_set_attn_implementation (transformers 5.x)
            compatible = (
                not _ATTENTION_MODULE.search(source)
                or "ALL_ATTENTION_FUNCTIONS.get_interface(" in source
            )
        if not compatible:
            continue
        exported = _literal_tables(path).get("__all__", [])
        accepted.update(n for n in exported if not n.endswith("PreTrainedModel"))
    return sorted(accepted)


def extract(vllm_root: Path, tf_root: Path) -> dict[str, Any]:
    registry = vllm_root / "vllm" / "model_executor" / "models" / "registry.py"
    tables = _literal_tables(registry)
    registered: dict[str, tuple[str, str]] = {}
    for name in _REGISTRY_TABLES:
        registered.update(tables.get(name, {}))
    trees = [registry.parent, vllm_root / "vllm" / "models"]
    everywhere = _class_bases([p for tree in trees if tree.is_dir() for p in tree.rglob("*.py")])
    no_pp = sorted(
        arch
        for arch, (module, cls) in registered.items()
        if not _supports_pp(vllm_root, module, cls, everywhere)
    )
    suffixes = [
        s
        for s, _ in _literal_tables(vllm_root / "vllm" / "config" / "model.py")[
            "_SUFFIX_TO_DEFAULTS"
        ]
    ]
    registry_source = registry.read_text(encoding="utf-8")
    return {
        "registered": sorted(registered),
        # registered to vLLM's Transformers backend classes (module "transformers"), not a
        # model of vLLM's own
        "transformers_registered": sorted(
            arch for arch, (module, _) in registered.items() if module == "transformers"
        ),
        "without_pipeline_parallel": no_pp,
        "removed": dict(sorted(tables.get("_PREVIOUSLY_SUPPORTED_MODELS", {}).items())),
        "out_of_tree": dict(sorted(tables.get("_OOT_SUPPORTED_MODELS", {}).items())),
        "suffixes": suffixes,
        "transformers_backend": _transformers_backend_classes(
            tf_root, source_heuristic="_can_set_attn_implementation" in registry_source
        ),
    }


# JSON, not YAML: the gate reads it on every run and JSON loads in milliseconds.
_SOURCE = (
    "vLLM's model registry per release, extracted from the release wheels by "
    "benchmarks/vllm_architectures.py (run it to refresh; do not edit by hand). Per release: "
    "vllm/model_executor/models/registry.py (_VLLM_MODELS, those of them mapped to the "
    "'transformers' module in transformers_registered (held from 0.33.0), "
    "_PREVIOUSLY_SUPPORTED_MODELS, "
    "_OOT_SUPPORTED_MODELS; SupportsPP from the class bases under vllm/model_executor/models "
    "and vllm/models), vllm/config/model.py (_SUFFIX_TO_DEFAULTS), and the transformers release "
    "named in 'transformers' (the newest the wheel's Requires-Dist allowed when this was "
    "extracted, what pip installs beside it; read from its modeling_*.py) for the classes "
    "_ModelRegistry._try_resolve_transformers can fall back to. A pinned vLLM version uses the "
    "newest release here at or below it; older ones are not gated."
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("releases", nargs="+", help="VERSION=VLLM_DIR:TRANSFORMERS_DIR@TF_VERSION")
    args = parser.parse_args(argv)
    # Older wheels need not be at hand to add a new release.
    releases: dict[str, Any] = json.loads(OUT.read_text(encoding="utf-8"))["releases"]
    for spec in args.releases:
        version, _, dirs = spec.partition("=")
        dirs, _, tf_version = dirs.partition("@")
        vllm_dir, _, tf_dir = dirs.partition(":")
        releases[version] = {"transformers": tf_version, **extract(Path(vllm_dir), Path(tf_dir))}
    ordered = dict(sorted(releases.items(), key=lambda kv: tuple(map(int, kv[0].split(".")))))
    text = json.dumps({"_source": _SOURCE, "releases": ordered}, indent=1)
    OUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({len(releases)} releases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
