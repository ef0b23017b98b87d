"""benchmarks/vllm_flags_extract.py on a miniature vLLM source tree shaped like a release's."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import load_benchmark

_TREE = {
    "vllm/config/model.py": """
        from typing import TYPE_CHECKING, Literal, Optional, Union
        if TYPE_CHECKING:
            HfOverrides = Union[dict, Callable]
            from vllm.model_executor.layers.quantization import QuantizationMethods
        else:
            QuantizationMethods = str
        ModelDType = Literal["auto", "half", "bfloat16"]

        @config
        @dataclass
        class ModelConfig:
            max_model_len: SkipValidation[int] = None
            enforce_eager: bool = False
            trust_remote_code: Optional[bool] = False
            hf_overrides: HfOverrides = field(default_factory=dict)
            quantization: Optional[QuantizationMethods] = None
            hf_token: bool | str | None = None
    """,
    "vllm/config/cache.py": """
        CacheDType = Literal["auto", "fp8"]
    """,
    "vllm/model_executor/layers/quantization/__init__.py": """
        QuantizationMethods = Literal["awq", "fp8"]
    """,
    "vllm/engine/arg_utils.py": """
        def _compute_kwargs(cls):
            for field in fields(cls):
                if contains_type(type_hints, int):
                    if name == "max_model_len":
                        kwargs[name]["type"] = human_readable_int_or_auto
                if type_hints == {bool, str, type(None)}:
                    kwargs[name]["nargs"] = "?"

        def human_readable_int(value):
            decimal_multiplier = {"k": 10**3, "m": 10**6}
            binary_multiplier = {"K": 2**10}

        class EngineArgs:
            @staticmethod
            def add_cli_args(parser):
                model_kwargs = get_kwargs(ModelConfig)
                group.add_argument("--max-model-len", **model_kwargs["max_model_len"])
                group.add_argument(
                    "--enforce-eager", **{**model_kwargs["enforce_eager"], "default": None}
                )
                group.add_argument("--trust-remote-code", **model_kwargs["trust_remote_code"])
                group.add_argument("--hf-overrides", **model_kwargs["hf_overrides"])
                group.add_argument("--quantization", "-q", **model_kwargs["quantization"])
                group.add_argument("--hf-token", **model_kwargs["hf_token"])
                group.add_argument("--tensor-parallel-size", "-tp", type=int)
    """,
    "vllm/entrypoints/openai/cli_args.py": """
        @config
        @dataclass
        class FrontendArgs:
            host: Optional[str] = None
            enable_auto_tool_choice: bool = False
            disable_fastapi_docs: bool = False

            @classmethod
            def add_cli_args(cls, parser):
                frontend_kwargs = get_kwargs(cls)
                frontend_kwargs["disable_fastapi_docs"]["action"] = "store_true"
                for key, value in frontend_kwargs.items():
                    parser.add_argument(f"--{key.replace('_', '-')}", **value)
                return parser

        def make_arg_parser(parser):
            parser.add_argument("model_tag", nargs="?")
            parser.add_argument("--headless", action="store_true")
            parser = FrontendArgs.add_cli_args(parser)
            return parser
    """,
    "vllm/scripts.py": """
        def _add_query_options(parser):
            parser.add_argument("--url")

        def main():
            parser = FlexibleArgumentParser(description="vLLM CLI")
            parser.add_argument("-v", "--version", action="version")
            subparsers = parser.add_subparsers()
            serve_parser = subparsers.add_parser("serve")
            serve_parser.add_argument("--config")
            chat_parser = subparsers.add_parser("chat")
            chat_parser.add_argument("--system-prompt")
            _add_query_options(chat_parser)
    """,
    "vllm/benchmarks/serve.py": """
        def add_cli_args(parser):
            parser.add_argument("--request-rate", type=float)
            parser.add_argument("--stream", action=argparse.BooleanOptionalAction)
    """,
    "vllm/benchmarks/datasets/make_slices.py": """
        def add_dataset_parser(parser):
            parser.add_argument("--dataset-name")

        def main():
            parser = FlexibleArgumentParser()
            parser.add_argument("--input")
    """,
}


def _entry(tmp_path: Path, tree: dict[str, str] = _TREE) -> dict[str, Any]:
    for rel, text in tree.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    text = load_benchmark("vllm_flags_extract").extract(tmp_path, "0.14.1")
    entry: dict[str, Any] = yaml.safe_load("versions:\n" + text)["versions"]["0.14"]
    return entry


def test_the_entry_lists_what_vllm_serve_registers(tmp_path: Path) -> None:
    entry = _entry(tmp_path)
    assert entry["release"] == "0.14.1"
    assert set(entry["serve"]) == {
        "--max-model-len",
        "--enforce-eager",
        "--no-enforce-eager",  # bool field: BooleanOptionalAction, even with a default override
        "--trust-remote-code",
        "--no-trust-remote-code",  # Optional[bool] is a bool too
        "--hf-overrides",
        "--quantization",
        "-q",
        "--hf-token",  # bool | str | None: nargs="?" (bare flag: True), no --no-hf-token
        "--tensor-parallel-size",
        "-tp",
        "--host",
        "--enable-auto-tool-choice",
        "--no-enable-auto-tool-choice",
        "--disable-fastapi-docs",  # store_true replaces the bool field's action: no twin
        "--headless",
        "--config",  # 0.6 scripts.py: the "serve" subparser's, not -v / chat's / --url
    }
    assert entry["aliases"] == {"-q": "--quantization", "-tp": "--tensor-parallel-size"}
    assert entry["json"] == ["--hf-overrides"]  # a dict alias declared under TYPE_CHECKING
    assert entry["human_readable_int"] == []
    assert entry["human_readable_int_or_auto"] == ["--max-model-len"]
    assert entry["human_readable_suffixes"] == "kmK"


def test_choices_come_from_the_type_literals(tmp_path: Path) -> None:
    choices = _entry(tmp_path)["choices"]
    assert choices == {
        "dtype": ["auto", "half", "bfloat16"],
        "kv_cache_dtype": ["auto", "fp8"],
        "quantization": ["awq", "fp8"],  # the literal, not the runtime `else: ... = str`
    }


def test_bench_serve_leaves_out_a_dataset_script_with_its_own_parser(tmp_path: Path) -> None:
    bench = set(_entry(tmp_path)["bench_serve"])
    assert bench == {"--request-rate", "--stream", "--no-stream", "--dataset-name"}


def test_a_bool_or_str_field_is_a_switch_where_compute_kwargs_has_no_branch_for_it(
    tmp_path: Path,
) -> None:
    """Before 0.21's "Optional-valued flag" branch of _compute_kwargs, a `bool | str | None`
    field took the bool branch: BooleanOptionalAction, with its --no- twin."""
    engine = _TREE["vllm/engine/arg_utils.py"].replace(
        "if type_hints == {bool, str, type(None)}:", "if False:"
    )
    serve = set(_entry(tmp_path, {**_TREE, "vllm/engine/arg_utils.py": engine})["serve"])
    assert {"--hf-token", "--no-hf-token"} <= serve
