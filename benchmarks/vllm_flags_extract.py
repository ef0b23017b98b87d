"""Print one vLLM release line's entry of checker/data/vllm_flags.yaml, read from its source.

    pip download vllm==0.14.1 --no-deps -d /tmp/w && unzip -q /tmp/w/*.whl 'vllm/*.py' -d /tmp/v0141
    python benchmarks/vllm_flags_extract.py /tmp/v0141 0.14.1 >> entry.yaml

Reads the release statically (nothing is imported or installed), the way `vllm serve` builds its
parser: every add_argument() in vllm/engine/arg_utils.py (EngineArgs / AsyncEngineArgs
.add_cli_args), vllm/entrypoints/openai/cli_args.py (make_arg_parser, and the FrontendArgs
dataclass fields its loop registers; vllm/entrypoints/launchers/cli_args.py in 0.29 .. 0.32,
vllm/entrypoints/common/cli_args.py from 0.33) and
vllm/entrypoints/cli/serve.py (vllm/scripts.py before the cli package). A flag spread from
``get_kwargs(SomeConfig)["field"]`` takes its kind from the field's annotation as
engine/arg_utils.py _compute_kwargs does: a dataclass or dict field parses JSON, a bool field gets
argparse.BooleanOptionalAction (so a --no-<flag> twin). Choices: the ModelDType / CacheDType /
QuantizationMethods literals (explicit choices= lists and QUANTIZATION_METHODS where those are
absent). bench_serve: the add_argument() calls of vllm/benchmarks/serve.py and its dataset
modules.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_SERVE_FILES = (
    "vllm/engine/arg_utils.py",
    "vllm/entrypoints/openai/cli_args.py",
    "vllm/entrypoints/common/cli_args.py",
    "vllm/entrypoints/launchers/cli_args.py",
    "vllm/entrypoints/cli/serve.py",
    "vllm/scripts.py",
)
_ENGINE_FILE = "vllm/engine/arg_utils.py"
_BENCH_FILES = ("vllm/benchmarks/serve.py", "vllm/benchmarks/datasets.py")
_CHOICE_ALIASES = {"dtype": "ModelDType", "kv_cache_dtype": "CacheDType"}
_WIDTH = 100


@dataclass
class _Source:
    """Class fields, type aliases and dataclass names of a release, by name."""

    fields: dict[str, dict[str, ast.expr]] = field(default_factory=dict)
    bases: dict[str, list[str]] = field(default_factory=dict)
    dataclasses: set[str] = field(default_factory=set)
    aliases: dict[str, ast.expr] = field(default_factory=dict)
    literals: dict[str, list[str]] = field(default_factory=dict)
    human: dict[str, str] = field(default_factory=dict)  # field -> human_readable_int[_or_auto]
    suffixes: str = ""
    # _compute_kwargs gives a `bool | str | None` field nargs="?" (bare flag: True) instead of
    # BooleanOptionalAction, so no --no-<flag> (0.21's --hf-token)
    optional_valued: bool = False

    def add(self, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # module level, and inside ``if TYPE_CHECKING:`` blocks (0.10's HfOverrides alias)
        body = [*tree.body]
        # (their ``else: QuantizationMethods = str`` is only what runs, not the type)
        body += [n for top in tree.body if isinstance(top, ast.If) for n in top.body]
        for node in body:
            if isinstance(node, ast.FunctionDef) and node.name in ("_compute_kwargs", "get_kwargs"):
                self._human_fields(node)
                self.optional_valued |= any(
                    isinstance(c, ast.Compare)
                    and isinstance(c.comparators[0], ast.Set)
                    and {"bool", "str"} <= {ast.unparse(e) for e in c.comparators[0].elts}
                    for c in ast.walk(node)
                )
            if isinstance(node, ast.FunctionDef) and node.name == "human_readable_int":
                # the multiplier tables' keys, decimal first: "kmgKMG" (+ t/T from 0.19)
                self.suffixes = "".join(
                    k.value
                    for d in ast.walk(node)
                    if isinstance(d, ast.Dict)
                    for k in d.keys
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                )
            if isinstance(node, ast.ClassDef):
                self.bases[node.name] = [ast.unparse(b).split(".")[-1] for b in node.bases]
                marks = [ast.unparse(d) for d in node.decorator_list]
                if any("dataclass" in m or m.split("(")[0] == "config" for m in marks):
                    self.dataclasses.add(node.name)
                self.fields[node.name] = {
                    item.target.id: item.annotation
                    for item in node.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                }
            target, value = _assignment(node)
            if target is not None and value is not None:
                self.aliases.setdefault(target, value)
                if isinstance(value, ast.List | ast.Tuple):
                    try:
                        values = ast.literal_eval(value)
                    except ValueError:
                        continue
                    if all(isinstance(v, str) for v in values):
                        self.literals.setdefault(target, list(values))

    def _human_fields(self, func: ast.FunctionDef) -> None:
        """``if name == "max_model_len": ... type = human_readable_int_or_auto`` branches."""
        for node in ast.walk(func):
            if not isinstance(node, ast.If):
                continue
            test = node.test
            if not isinstance(test, ast.Compare) or ast.unparse(test.left) != "name":
                continue
            parser = next(
                (
                    ast.unparse(a.value)
                    for stmt in node.body
                    for a in ast.walk(stmt)
                    if isinstance(a, ast.Assign) and "human_readable_int" in ast.unparse(a.value)
                ),
                None,
            )
            if parser is None:
                continue
            right = test.comparators[0]
            if isinstance(right, ast.Name):
                # 0.33: ``elif name in human_readable_int_args`` names a set built above
                right = next(
                    (
                        a.value
                        for a in ast.walk(func)
                        if isinstance(a, ast.Assign) and ast.unparse(a.targets[0]) == right.id
                    ),
                    right,
                )
            names = right.elts if isinstance(right, ast.Tuple | ast.List | ast.Set) else [right]
            for name in _strings(names):
                self.human[name] = parser

    def class_fields(self, name: str) -> dict[str, ast.expr]:
        """Fields of ``name`` and its bases, base fields first (dataclass order)."""
        out: dict[str, ast.expr] = {}
        for base in self.bases.get(name, []):
            out.update(self.class_fields(base))
        out.update(self.fields.get(name, {}))
        return out

    def atoms(self, node: ast.expr | None, seen: frozenset[str] = frozenset()) -> set[str]:
        """The type names a hint stands for, as typing.get_args flattens them."""
        if node is None:
            return set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self.atoms(ast.parse(node.value, mode="eval").body, seen)
        if isinstance(node, ast.Constant):
            return {"None"}
        if isinstance(node, ast.BinOp):
            return self.atoms(node.left, seen) | self.atoms(node.right, seen)
        if isinstance(node, ast.Subscript):
            head = ast.unparse(node.value).split(".")[-1]
            if head in ("Optional", "Union", "Annotated", "SkipValidation"):
                parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                if head != "Union":
                    parts = parts[:1]
                return set().union(*(self.atoms(p, seen) for p in parts))
            return {"Literal" if head == "Literal" else head.lower()}
        name = ast.unparse(node).split(".")[-1]
        if name in self.dataclasses:
            return {"dataclass"}
        if any(b.split("[")[0] in ("dict", "Dict") for b in self.bases.get(name, [])):
            return {"dict"}  # 0.33 MultiModalDummyOptions(dict[str, BaseDummyOptions])
        if name in self.aliases and name not in seen:
            return self.atoms(self.aliases[name], seen | {name})
        return {name.lower() if name in ("Dict", "List", "Tuple", "Set") else name}

    def kind(self, hint: ast.expr | None) -> str:
        """The branch of engine/arg_utils.py _compute_kwargs a field's hint takes."""
        atoms = self.atoms(hint)
        if self.optional_valued and atoms == {"bool", "str", "None"}:
            return "optional"
        for kind in ("dataclass", "bool", "Literal", "tuple", "list", "set", "int", "float"):
            if kind in atoms:
                return kind
        return "dict" if "dict" in atoms else "str"

    def literal(self, name: str) -> list[str]:
        node = self.aliases.get(name)
        if node is None:
            return self.literals.get(name, [])
        if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Literal"):
            parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            return _strings(parts)
        if isinstance(node, ast.Name):
            return self.literal(node.id)
        return self.literals.get(name, [])


def _assignment(node: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id, node.value
    if sys.version_info >= (3, 12) and isinstance(node, ast.TypeAlias):
        return node.name.id, node.value
    return None, None


def _const(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _strings(nodes: list[ast.expr]) -> list[str]:
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


@dataclass
class _Flags:
    serve: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)
    json: set[str] = field(default_factory=set)
    value_bools: set[str] = field(default_factory=set)
    human_int: dict[str, str] = field(default_factory=dict)  # flag -> parser function
    choices: dict[str, list[str]] = field(default_factory=dict)  # explicit choices= lists

    def register(
        self,
        options: list[str],
        explicit: dict[str, str],
        kind: str,
        engine: bool,
    ) -> None:
        """One add_argument(): ``explicit`` its keywords' source (over a spread field's)."""
        action, parser = explicit.get("action", ""), explicit.get("type", "")
        try:
            found = ast.literal_eval(explicit.get("choices", "[]"))
        except ValueError:  # choices=[*QUANTIZATION_METHODS, None]: read from the table
            found = []
        choices = [c for c in found if isinstance(c, str)]
        longs = [o for o in options if o.startswith("--")]
        self.serve.update(options)
        for other in options:
            if longs and other != longs[0]:
                self.aliases[other] = longs[0]
        if action.endswith("BooleanOptionalAction") or (not action and kind == "bool"):
            self.serve.update("--no-" + o[2:] for o in longs)
        if action.endswith("StoreBoolean"):
            self.value_bools.update(longs[:1])
        if (
            engine
            and longs
            and (
                "json.loads" in parser
                or (not action and not parser and kind in ("dataclass", "dict"))
            )
        ):
            self.json.add(longs[0])
        if choices and longs:
            self.choices[longs[0]] = choices


def _kwargs_vars(tree: ast.AST) -> dict[str, str]:
    """``x_kwargs = get_kwargs(Config)``: variable -> config class (``cls``: the enclosing one)."""
    out: dict[str, str] = {}
    for cls in [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)] + [tree]:
        for node in ast.walk(cls):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call)
                and ast.unparse(node.value.func).endswith("get_kwargs")
                and node.value.args
            ):
                arg = ast.unparse(node.value.args[0])
                name = cls.name if arg == "cls" and isinstance(cls, ast.ClassDef) else arg
                out.setdefault(node.targets[0].id, name)
    return out


def _overrides(tree: ast.AST) -> dict[tuple[str, str], dict[str, str]]:
    """``x_kwargs["field"]["action"] = ...``: (variable, field) -> {kwarg: source}; a deleted or
    popped field maps "deleted"."""
    out: dict[tuple[str, str], dict[str, str]] = {}
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        value = ""
        if isinstance(node, ast.Assign):
            targets, value = node.targets, ast.unparse(node.value)
        elif isinstance(node, ast.Delete):
            targets, value = node.targets, "deleted"
        for target in targets:
            inner = target.value if isinstance(target, ast.Subscript) else None
            outer = _const(target.slice) if isinstance(target, ast.Subscript) else None
            if outer is None:
                continue
            if isinstance(inner, ast.Subscript) and isinstance(inner.value, ast.Name):
                key = _const(inner.slice)
                if key is not None and value != "deleted":
                    out.setdefault((inner.value.id, key), {})[outer] = value
            elif isinstance(inner, ast.Name) and value == "deleted":
                out.setdefault((inner.id, outer), {})["deleted"] = "1"
    return out


def _add_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            yield node


def _collect(root: Path, src: _Source, rel: str, flags: _Flags) -> None:
    path = root / rel
    if not path.exists():
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    variables = _kwargs_vars(tree)
    overrides = _overrides(tree)
    engine = rel == _ENGINE_FILE
    looped: set[int] = set()
    for func in ast.walk(tree):
        # a function that builds a parser of its own (a dataset script's main(); 0.6 scripts.py
        # main() with the top-level, chat and complete parsers) registers nothing on `vllm
        # serve` but through the subparser it names "serve"
        if isinstance(func, ast.FunctionDef) and any(
            isinstance(n, ast.Call) and ast.unparse(n.func).endswith("ArgumentParser")
            for n in ast.walk(func)
        ):
            serve = {
                ast.unparse(n.targets[0])
                for n in ast.walk(func)
                if isinstance(n, ast.Assign)
                and isinstance(n.value, ast.Call)
                and ast.unparse(n.value.func).endswith("add_parser")
                and _strings(n.value.args[:1]) == ["serve"]
            }
            looped.update(
                id(c)
                for c in _add_calls(func)
                if not isinstance(c.func, ast.Attribute) or ast.unparse(c.func.value) not in serve
            )
            # helpers it hands only the other parsers (0.6 _add_query_options: --url ...)
            helpers = {
                ast.unparse(n.func)
                for n in ast.walk(func)
                if isinstance(n, ast.Call) and n.args and ast.unparse(n.args[0]).endswith("parser")
            }
            for helper in ast.walk(tree):
                if isinstance(helper, ast.FunctionDef) and helper.name in helpers:
                    called = {
                        ast.unparse(n.args[0])
                        for n in ast.walk(func)
                        if isinstance(n, ast.Call) and ast.unparse(n.func) == helper.name and n.args
                    }
                    if not called & serve:
                        looped.update(id(c) for c in _add_calls(helper))
    for loop in ast.walk(tree):
        # the FrontendArgs loop: one flag per field of the dataclass(es) registered
        it = loop.iter if isinstance(loop, ast.For) else None
        if (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Attribute)
            and it.func.attr == "items"
        ):
            calls = list(_add_calls(loop))
            if calls and isinstance(it.func.value, ast.Name):
                var = it.func.value.id
                _frontend(src, variables.get(var, ""), tree, overrides, var, flags)
                looped.update(id(c) for c in calls)
    for call in _add_calls(tree):
        if id(call) in looped:
            continue
        options = [o for o in _strings(call.args) if o.startswith("-")]
        explicit = {k.arg: ast.unparse(k.value) for k in call.keywords if k.arg}
        spread = next((k.value for k in call.keywords if k.arg is None), None)
        if isinstance(spread, ast.Dict):
            # **{**x_kwargs["field"], "default": None}: the field's kwargs, some replaced
            for key_node, value in zip(spread.keys, spread.values, strict=True):
                if key_node is not None and _const(key_node):
                    explicit.setdefault(str(_const(key_node)), ast.unparse(value))
            spread = next(
                (v for k, v in zip(spread.keys, spread.values, strict=True) if k is None), None
            )
        kind = ""
        if isinstance(spread, ast.Subscript) and isinstance(spread.value, ast.Name) and options:
            var, key = spread.value.id, _const(spread.slice) or ""
            kind = src.kind(src.class_fields(variables.get(var, "")).get(key))
            explicit = {**overrides.get((var, key), {}), **explicit}
            if kind == "int" and key in src.human:
                flags.human_int[options[0]] = src.human[key]
        if not options:
            continue
        parser = explicit.get("type", "").split(".")[-1]
        if parser in ("human_readable_int", "human_readable_int_or_auto"):
            flags.human_int[options[0]] = parser
        flags.register(options, explicit, kind, engine)


def _frontend(
    src: _Source,
    owner: str,
    tree: ast.AST,
    overrides: dict[tuple[str, str], dict[str, str]],
    var: str,
    flags: _Flags,
) -> None:
    """Fields of each ``X.add_cli_args(parser)`` class that inherits the loop's ``owner``."""
    called = {
        ast.unparse(n.func.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "add_cli_args"
    }

    def inherits(name: str) -> bool:
        return name == owner or any(inherits(b) for b in src.bases.get(name, []))

    for cls in sorted(c for c in called if c in src.fields and inherits(c)):
        for name, hint in src.class_fields(cls).items():
            extra = overrides.get((var, name), {})
            if "deleted" in extra:
                continue
            option = "--" + name.replace("_", "-")
            short = extra.get("flags", "[]")
            flags.register([*ast.literal_eval(short), option], extra, src.kind(hint), False)


def _wrap(key: str, items: list[str], indent: int, block: bool = False) -> str:
    """A flow list the way vllm_flags.yaml writes it: inline when it fits, else wrapped."""
    pad = " " * indent
    inline = f"{pad}{key}: [{', '.join(items)}]"
    if not block and len(inline) <= _WIDTH:
        return inline
    lines, line = [], ""
    for item in items:
        candidate = f"{line} {item}," if line else f"{pad}  {item},"
        if len(candidate) > _WIDTH and line:
            lines.append(line)
            candidate = f"{pad}  {item},"
        line = candidate
    lines.append(line.rstrip(","))
    return "\n".join([f"{pad}{key}: [", *lines, f"{pad}]"])


def _sort(flags: set[str]) -> list[str]:
    return sorted(flags)


def extract(root: Path, release: str) -> str:
    src = _Source()
    config = [root / "vllm/config.py", *sorted((root / "vllm/config").glob("*.py"))]
    extra = [
        root / "vllm/utils.py",
        root / "vllm/utils/argparse_utils.py",
        root / "vllm/model_executor/layers/quantization/__init__.py",
        root / "vllm/entrypoints/openai/cli_args.py",
        root / "vllm/entrypoints/common/cli_args.py",
        root / "vllm/entrypoints/launchers/cli_args.py",
        root / _ENGINE_FILE,
    ]
    for path in [*config, *extra]:
        if path.exists():
            src.add(path)
    serve = _Flags()
    for rel in _SERVE_FILES:
        _collect(root, src, rel, serve)
    bench: _Flags | None = None
    bench_files = [root / f for f in _BENCH_FILES] + sorted(
        (root / "vllm/benchmarks/datasets").glob("*.py")
    )
    if (root / _BENCH_FILES[0]).exists():
        bench = _Flags()
        for path in bench_files:
            if path.exists():
                _collect(root, src, str(path.relative_to(root)), bench)
    line = ".".join(release.split(".")[:2])
    argparse_src = next(
        (p.read_text() for p in (root / "vllm/utils/argparse_utils.py",) if p.exists()), ""
    )
    out = [f'  "{line}":', f"    release: {release}"]
    if "EnableDisableAction" in argparse_src:
        out.append("    enable_disable_inverses: true")
    out.append("    aliases:")
    out += [f"      {k}: {v}" for k, v in sorted(serve.aliases.items())]
    for key, parser in (
        ("human_readable_int", "human_readable_int"),
        ("human_readable_int_or_auto", "human_readable_int_or_auto"),
    ):
        out.append(_wrap(key, _sort({f for f, p in serve.human_int.items() if p == parser}), 4))
    out.append(f'    human_readable_suffixes: "{src.suffixes if serve.human_int else ""}"')
    out.append(_wrap("json", _sort(serve.json), 4))
    out.append(_wrap("serve", _sort(serve.serve), 4, block=True))
    out.append("    choices:")
    for kind, alias in (*_CHOICE_ALIASES.items(), ("quantization", "QuantizationMethods")):
        values = (
            src.literal(alias)
            or serve.choices.get("--" + kind.replace("_", "-"))
            or (src.literal("QUANTIZATION_METHODS") if kind == "quantization" else [])
        )
        out.append(_wrap(kind, values, 6, block=kind != "dtype"))
    if serve.value_bools:
        out.append(_wrap("value_bools", sorted(serve.value_bools), 4))
    if bench is None:
        out.append("    bench_serve: null")
    else:
        out.append(_wrap("bench_serve", _sort(bench.serve), 4, block=True))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="unpacked wheel: the folder holding vllm/")
    parser.add_argument("release", help="the release it is, e.g. 0.14.1")
    args = parser.parse_args()
    print(extract(args.root, args.release))


if __name__ == "__main__":
    main()
