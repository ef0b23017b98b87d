from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from checker.errors import ArtifactError
from checker.render.artifacts import render_artifact
from checker.render.context import RenderContext
from checker.render.serve import engine_argv, serve_argv
from checker.schemas.vllm_flags import flags_for, known_lines
from tests.render.conftest import HOSTILE, make_context, make_plan, run_script

FULL = {
    "revision": "main",
    "tensor_parallel_size": 2,
    "pipeline_parallel_size": 2,
    "dtype": "bfloat16",
    "kv_cache_dtype": "fp8",
    "quantization": "fp8",
    "enforce_eager": True,
    "block_size": 16,
    "enable_prefix_caching": False,
    "enable_chunked_prefill": False,
    "trust_remote_code": True,
}


def _flag(arg: str) -> str:
    return arg.split("=", 1)[0]


@pytest.mark.parametrize("line", known_lines())
def test_every_emitted_flag_exists_in_the_pinned_version(line: str) -> None:
    ctx = make_context(make_plan(version=line, **FULL))
    argv = engine_argv(ctx)
    flags = flags_for(line)
    assert argv and all(_flag(a) in flags.serve for a in argv)
    for setting in ("--tensor-parallel-size=2", "--pipeline-parallel-size=2", "--quantization=fp8"):
        assert setting in argv


def test_off_switches_follow_the_version() -> None:
    old = engine_argv(make_context(make_plan(version="0.6", **FULL)))
    new = engine_argv(make_context(make_plan(version="0.19", **FULL)))
    # 0.6 has no --no-enable-chunked-prefill: its StoreBoolean flag takes a value
    assert "--enable-chunked-prefill=false" in old
    assert "--no-enable-chunked-prefill" in new
    assert "--no-enable-prefix-caching" in old and "--no-enable-prefix-caching" in new


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        (True, "--disable-hybrid-kv-cache-manager"),
        (False, "--no-disable-hybrid-kv-cache-manager"),  # kept on even with a KV connector
        (None, None),  # vLLM decides
    ],
)
def test_the_hybrid_kv_cache_manager_is_passed_as_the_plan_decided(
    value: bool | None, flag: str | None
) -> None:
    argv = engine_argv(
        make_context(make_plan(version="0.33", disable_hybrid_kv_cache_manager=value))
    )
    assert [a for a in argv if "hybrid-kv-cache-manager" in a] == ([flag] if flag else [])


def test_a_choice_the_version_lacks_is_refused() -> None:
    ctx = make_context(make_plan(version="0.8", kv_cache_dtype="fp8_inc"))
    with pytest.raises(ArtifactError, match="model.kv_cache_dtype") as err:
        engine_argv(ctx)
    assert "fp8_e5m2" in str(err.value.hint)
    # 0.10 added fp8_inc
    assert "--kv-cache-dtype=fp8_inc" in engine_argv(
        make_context(make_plan(version="0.10", kv_cache_dtype="fp8_inc"))
    )


def test_unknown_passthrough_flag_names_key_and_closest_flag() -> None:
    ctx = make_context(vllm_args={"max_lora_rnk": 16})
    with pytest.raises(ArtifactError) as err:
        engine_argv(ctx)
    assert "outputs.vllm_args.max_lora_rnk" in err.value.message
    assert err.value.hint == "did you mean --max-lora-rank?"


def test_passthrough_cannot_override_a_planned_setting() -> None:
    ctx = make_context(vllm_args={"--tensor-parallel-size": 8})
    with pytest.raises(ArtifactError, match="decided by the plan") as err:
        engine_argv(ctx)
    assert err.value.hint == "set hardware.tp_size in the profile instead"


def test_passthrough_values() -> None:
    args = {
        "max-lora-rank": 16,
        "enable_lora": True,
        "async_scheduling": False,  # BooleanOptionalAction: spelled --no-...
        "disable_log_stats": False,  # store_true: off is the default, nothing to write
        "hf_overrides": {"b": 1, "a": "x"},
        "served_model_name": ["a", "b"],
        "seed": None,
    }
    argv = engine_argv(make_context(vllm_args=args))
    assert "--max-lora-rank=16" in argv and "--enable-lora" in argv
    assert "--no-async-scheduling" in argv
    assert not any("disable-log-stats" in a for a in argv)
    assert '--hf-overrides={"a":"x","b":1}' in argv
    i = argv.index("--served-model-name")
    assert argv[i + 1 : i + 3] == ["a", "b"]
    assert not any(a.startswith("--seed") for a in argv)


@pytest.mark.parametrize("bad", ["x; rm -rf /", "", "--"])
def test_passthrough_key_must_be_a_flag_name(bad: str) -> None:
    with pytest.raises(ArtifactError, match="not a flag name"):
        engine_argv(make_context(vllm_args={bad: 1}))


def test_model_starting_with_dash_is_refused() -> None:
    with pytest.raises(ArtifactError, match="model.id"):
        serve_argv(make_context(make_plan(model="--help")))


def _hostile_context(text: str) -> RenderContext:
    model = text if not text.startswith("-") else "org/" + text
    plan = make_plan(model=model, revision=text)
    return make_context(plan, vllm_args={"served_model_name": text.replace("-", "_", 1)})


@pytest.mark.parametrize("text", HOSTILE)
def test_serve_sh_reads_back_byte_for_byte_and_never_executes(
    text: str, tmp_path: Path, stub_bin: Path
) -> None:
    ctx = _hostile_context(text)
    script = tmp_path / "serve.sh"
    script.write_text(render_artifact("command", ctx, tmp_path), encoding="utf-8")
    expected = serve_argv(ctx)
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    # shlex has no line continuations: join them as bash does
    body = script.read_text(encoding="utf-8").split("exec ", 1)[1].replace(" \\\n", " ")
    assert shlex.split(body, comments=True)[: len(expected)] == expected
    assert run_script(script, stub_bin, tmp_path) == expected[1:]
    assert f"--revision={text}" in expected
    assert not list(tmp_path.glob("PWNED*"))
