"""Print one vLLM release line's entry of checker/data/vllm_speculative_keys.yaml, read from its
source.

    pip download vllm==0.34.0 --no-deps -d /tmp/w && unzip -q /tmp/w/*.whl 'vllm/*.py' -d /tmp/v034
    python benchmarks/vllm_speculative_keys_extract.py /tmp/v034 0.34.0 >> entry.yaml

Reads the release statically (nothing is imported or installed): the keys --speculative-config
takes are the init fields of vllm/config/speculative.py SpeculativeConfig, the keyword arguments
EngineArgs.create_speculative_config passes to it. A field declared with ``field(init=False)``
(0.34's custom_method) is no keyword argument: pydantic refuses it like an unknown key.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

_SOURCE = "vllm/config/speculative.py"
_CLASS = "SpeculativeConfig"
_WIDTH = 100


def _is_init_field(item: ast.AnnAssign) -> bool:
    """Whether the annotated class attribute is a keyword argument of the dataclass."""
    if "ClassVar" in ast.unparse(item.annotation):
        return False
    value = item.value
    if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] == "field":
        return not any(
            k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in value.keywords
        )
    return True


def speculative_keys(root: Path) -> list[str]:
    """SpeculativeConfig's init fields, in declaration order."""
    tree = ast.parse((root / _SOURCE).read_text(encoding="utf-8"))
    cls = next(
        (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == _CLASS),
        None,
    )
    if cls is None:
        raise SystemExit(f"{root / _SOURCE}: no class {_CLASS}")
    return [
        item.target.id
        for item in cls.body
        if isinstance(item, ast.AnnAssign)
        and isinstance(item.target, ast.Name)
        and _is_init_field(item)
    ]


def entry(root: Path, version: str) -> str:
    """The YAML entry of the release line ``version`` belongs to, wrapped at _WIDTH."""
    line = ".".join(version.split(".")[:2])
    lines = [f'  "{line}":', f'    release: "{version}"', "    keys: ["]
    row = "     "
    for key in speculative_keys(root):
        if len(row) + len(key) + 2 > _WIDTH:
            lines.append(row.rstrip())
            row = "     "
        row += f" {key},"
    lines += [row.rstrip(), "    ]"]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the unpacked wheel (holding vllm/)")
    parser.add_argument("version", help="its release, e.g. 0.34.0")
    args = parser.parse_args(argv)
    print(entry(args.root, args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
