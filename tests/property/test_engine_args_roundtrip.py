"""Plan and artifacts agree by construction: generated engine-argument sets, written the ways
vLLM accepts them, are planned, rendered as serve.sh, read back with shlex and vLLM's flag
spellings, and must equal the engine arguments the plan used (flags and environment)."""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker.hardware.catalog import find_gpu
from checker.planning.planner import run_plan
from checker.render.artifacts import render_artifact
from checker.render.context import context_for_profile
from checker.schemas.engine_args import env_homes, homes, parse_argv, wire
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import PlanResponse
from checker.schemas.profile_io import load_profile_text, profile_to_request
from checker.schemas.vllm_flags import FlagSet, flags_for
from tests.planning.plans import catalog_model

ROUNDTRIP_EXAMPLES = 150
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
GPU = "H100-SXM-80GB"
VERSIONS = ("0.33.0", "0.19.1")
_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789/._", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-")
)
# Flags the plan passes through, by how vLLM reads their value.
_SWITCHES = ("enable-lora", "async-scheduling", "enable-sleep-mode", "disable-log-stats")
_JSON = ("compilation-config", "hf-overrides", "speculative-config", "override-generation-config")
_VALUES = ("seed", "served-model-name", "api-key", "host")
# Modeled flags read straight from vllm_args: values of their request field's type.
_TYPED = {
    "max-loras": st.integers(1, 8),
    "max-lora-rank": st.sampled_from([8, 16, 64]),
    "data-parallel-size": st.integers(1, 2),
    "limit-mm-per-prompt": st.dictionaries(
        st.sampled_from(["image", "video", "audio"]), st.integers(0, 16), max_size=2
    ),
}


@functools.cache
def _model() -> ModelInfo:
    return catalog_model(MODEL)


def _spellings(flag: str, flags: FlagSet) -> st.SearchStrategy[str]:
    """The ways a profile may write ``--flag``: as is, with _, with dashes, or its alias."""
    name = flag[2:]
    options = [name, name.replace("-", "_"), flag]
    options += [short for short, long in flags.aliases.items() if long == flag]
    return st.sampled_from(options)


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    version = draw(st.sampled_from(VERSIONS))
    flags = flags_for(version)
    vllm: dict[str, Any] = {"version": version}
    args: dict[str, Any] = {}
    # settings the plan reads, each either in its profile key or in vllm_args
    planned = {
        "--max-num-seqs": st.integers(1, 4096),
        "--max-num-batched-tokens": st.sampled_from([8192, "16k", "8K", 4096]),
        "--block-size": st.sampled_from([16, 32, 64]),
        "--enforce-eager": st.booleans(),
        "--enable-prefix-caching": st.booleans(),
        "--enable-chunked-prefill": st.booleans(),
        "--kv-cache-memory-bytes": st.sampled_from([4 << 30, "8G", "10.5g", "2000m"]),
        "--disable-hybrid-kv-cache-manager": st.booleans(),
        "--tensor-parallel-size": st.sampled_from([1, 2]),
        "--max-model-len": st.sampled_from([4096, "8k", "16K"]),
        "--gpu-memory-utilization": st.sampled_from([0.5, 0.85, 0.9]),
    }
    sections: dict[str, dict[str, Any]] = {
        "model": {"id": MODEL},
        "hardware": {"gpu_name": GPU, "gpus": 2},
        "policy": {},
        "vllm": vllm,
    }
    for flag, values in planned.items():
        where = draw(st.sampled_from(["absent", "profile", "vllm_args"]))
        if where == "absent":
            continue
        value = draw(values)
        if where == "vllm_args":
            args[draw(_spellings(flag, flags))] = value
        else:
            section, name = str(homes()[flag].profile).split(".")
            sections[section][name] = value
    if draw(st.booleans()):
        vllm["cudagraph_memory_profiling"] = draw(st.booleans())
    for flag in draw(st.lists(st.sampled_from(_SWITCHES), unique=True, max_size=3)):
        args[draw(_spellings("--" + flag, flags))] = draw(st.booleans())
    for flag in draw(st.lists(st.sampled_from(_JSON), unique=True, max_size=2)):
        obj = draw(st.dictionaries(_WORD, st.integers(0, 99) | _WORD, max_size=3))
        args[flag] = obj
    for flag in draw(st.lists(st.sampled_from(_VALUES), unique=True, max_size=3)):
        args[flag] = draw(st.integers(1, 64) | _WORD)
    for flag in draw(st.lists(st.sampled_from(sorted(_TYPED)), unique=True, max_size=2)):
        args[flag] = draw(_TYPED[flag])
    return {**sections, "outputs": {"vllm_args": args}}


def _planned_object(plan: PlanResponse, port: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The engine arguments the plan used, from its config through the one mapping table."""
    c, flags = plan.config, flags_for(plan.config.vllm_version)
    expected: dict[str, Any] = {"--port": str(port)}
    for flag, home in homes().items():
        # the plan's own settings (a row without a profile key is among extra_args); the
        # model is the positional argument
        if home.profile and home.request and flag != "--model":
            expected[flag] = getattr(c, home.request.split(".")[1])
    expected.update({"--" + name: value for name, value in c.extra_args.items()})
    for flag, value in list(expected.items()):
        has_twin = "--no-" + flag[2:] in flags.serve or flag in flags.value_bools
        off_by_default = value is False and (not has_twin or flag in _OFF_BY_DEFAULT)
        if value is None or off_by_default:
            del expected[flag]  # a switch that is off, or a setting left to vLLM
    env: dict[str, str] = {}
    for name, home in env_homes().items():
        value = getattr(c, str(home.request).split(".")[1])
        if value is not None:
            env[name] = str(int(value))
    return {flag: wire(value) for flag, value in expected.items()}, env


# Switches whose off state is vLLM's default, so the command leaves them out
# (--disable-hybrid-kv-cache-manager false is not: it keeps the manager on with a KV connector).
_OFF_BY_DEFAULT = {"--enforce-eager", "--trust-remote-code"}


def _read_back(script: str, flags: FlagSet) -> tuple[dict[str, Any], dict[str, str]]:
    env = {}
    for line in script.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0]
    body = script.split("exec ", 1)[1].replace(" \\\n", " ")
    words = shlex.split(body, comments=True)
    assert words[:2] == ["vllm", "serve"] and words[-1] == "$@"
    return parse_argv(words[3:-1], flags), env


@settings(
    max_examples=ROUNDTRIP_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(profiles())
def test_serve_command_reads_back_as_the_planned_engine_arguments(data: dict[str, Any]) -> None:
    loaded = load_profile_text(yaml.safe_dump(data), "p.yaml")
    request = profile_to_request(loaded.profile)
    plan = run_plan(request, _model(), find_gpu(GPU))
    script = render_artifact("command", context_for_profile(plan, loaded.profile), Path.cwd())
    flags = flags_for(plan.config.vllm_version)
    assert _read_back(script, flags) == _planned_object(plan, loaded.profile.deploy.port)
    # and the plan used what the profile said: every passthrough flag reached it
    assert plan.config.extra_args == loaded.profile.outputs.vllm_args
