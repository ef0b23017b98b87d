"""The `vllm serve` argument list: every setting the plan decided plus the profile's passthrough.

Each flag is checked against the pinned version's flag list. Values travel as ``--flag=value``
so a value that starts with ``-`` is never read as another option.
"""

from __future__ import annotations

import json
import re
from typing import Any

from checker.errors import ArtifactError
from checker.render.context import RenderContext
from checker.render.flags import FlagSet, flags_for

# Flags the plan owns -> the profile key to change instead of passing them through.
_PLANNED = {
    "model": "model.id",
    "revision": "model.revision",
    "tensor-parallel-size": "hardware.tp_size",
    "tp": "hardware.tp_size",
    "pipeline-parallel-size": "hardware.pp_size",
    "pp": "hardware.pp_size",
    "dtype": "model.dtype",
    "quantization": "model.quantization",
    "q": "model.quantization",
    "kv-cache-dtype": "model.kv_cache_dtype",
    "max-model-len": "model.max_model_len",
    "gpu-memory-utilization": "policy.gpu_memory_utilization",
    "max-num-seqs": "vllm.max_num_seqs",
    "max-num-batched-tokens": "vllm.max_num_batched_tokens",
    "block-size": "vllm.block_size",
    "enforce-eager": "vllm.enforce_eager",
    "enable-prefix-caching": "vllm.enable_prefix_caching",
    "enable-chunked-prefill": "vllm.enable_chunked_prefill",
    "trust-remote-code": "model.trust_remote_code",
    "port": "deploy.port",
}
_KEY = re.compile(r"^-{0,2}[A-Za-z0-9][A-Za-z0-9_.-]{0,100}$")


class _Args:
    def __init__(self, flags: FlagSet) -> None:
        self.flags = flags
        self.argv: list[str] = []

    def value(self, flag: str, value: object, key: str) -> None:
        self.flags.require(flag, key)
        self.argv.append(f"{flag}={value}")

    def switch(self, flag: str, on: bool, key: str) -> None:
        """A boolean flag: --flag, or whatever this version spells 'off' as."""
        self.flags.require(flag, key)
        off = "--no-" + flag[2:]
        if on:
            self.argv.append(flag)
        elif off in self.flags.serve:
            self.argv.append(off)
        elif flag in self.flags.value_bools:
            self.argv.append(f"{flag}=false")
        # else: a store_true flag, off by default; nothing to say


def _planned(args: _Args, ctx: RenderContext) -> None:
    c, fl = ctx.plan.config, args.flags
    if c.revision:
        args.value("--revision", c.revision, "model.revision")
    args.value("--tensor-parallel-size", c.tensor_parallel_size, "hardware.tp_size")
    args.value("--pipeline-parallel-size", c.pipeline_parallel_size, "hardware.pp_size")
    fl.require_choice("dtype", c.dtype, "model.dtype")
    args.value("--dtype", c.dtype, "model.dtype")
    if c.quantization:
        fl.require_choice("quantization", c.quantization, "model.quantization")
        args.value("--quantization", c.quantization, "model.quantization")
    fl.require_choice("kv_cache_dtype", c.kv_cache_dtype, "model.kv_cache_dtype")
    args.value("--kv-cache-dtype", c.kv_cache_dtype, "model.kv_cache_dtype")
    args.value("--max-model-len", c.max_model_len, "model.max_model_len")
    args.value(
        "--gpu-memory-utilization", c.gpu_memory_utilization, "policy.gpu_memory_utilization"
    )
    args.value("--max-num-seqs", c.max_num_seqs, "vllm.max_num_seqs")
    args.value("--max-num-batched-tokens", c.max_num_batched_tokens, "vllm.max_num_batched_tokens")
    if c.block_size is not None:
        args.value("--block-size", c.block_size, "vllm.block_size")
    if c.enforce_eager:
        args.switch("--enforce-eager", True, "vllm.enforce_eager")
    if c.enable_prefix_caching is not None:
        args.switch(
            "--enable-prefix-caching", c.enable_prefix_caching, "vllm.enable_prefix_caching"
        )
    if c.enable_chunked_prefill is not None:
        args.switch(
            "--enable-chunked-prefill", c.enable_chunked_prefill, "vllm.enable_chunked_prefill"
        )
    if c.trust_remote_code:
        args.switch("--trust-remote-code", True, "model.trust_remote_code")
    args.value("--port", ctx.deploy.port, "deploy.port")


def _passthrough_flag(key: str) -> str:
    where = f"outputs.vllm_args.{key}"
    if not _KEY.match(key):
        raise ArtifactError(f"{where}: not a flag name", hint="e.g. max_lora_rank")
    if key.startswith("-") and not key.startswith("--"):
        return key  # a short flag such as -O
    name = key.lstrip("-").replace("_", "-")
    owner = _PLANNED.get(name.removeprefix("no-"))
    if owner:
        raise ArtifactError(
            f"{where}: --{name} is decided by the plan", hint=f"set {owner} in the profile instead"
        )
    return "--" + name


def _passthrough(args: _Args, vllm_args: dict[str, Any]) -> None:
    for key in sorted(vllm_args):
        value, flag, where = vllm_args[key], _passthrough_flag(key), f"outputs.vllm_args.{key}"
        if value is None:
            continue
        if isinstance(value, bool):
            args.switch(flag, value, where)
        elif isinstance(value, dict):
            args.value(flag, json.dumps(value, sort_keys=True, separators=(",", ":")), where)
        elif isinstance(value, list):
            items = [str(v) for v in value]
            if any(isinstance(v, (dict, list)) or str(v).startswith("-") for v in value):
                raise ArtifactError(f"{where}: list items must be plain values not starting with -")
            args.flags.require(flag, where)
            args.argv.extend([flag, *items])
        else:
            args.value(flag, value, where)


def engine_argv(ctx: RenderContext) -> list[str]:
    """The flags after ``vllm serve MODEL``, valid for the pinned version."""
    args = _Args(flags_for(ctx.plan.config.vllm_version))
    _planned(args, ctx)
    _passthrough(args, ctx.vllm_args)
    return args.argv


def model_arg(ctx: RenderContext) -> str:
    model = ctx.plan.config.model
    if model.startswith("-") or not model.strip():
        raise ArtifactError(
            f"model.id: {model!r} would be read as a vLLM option",
            hint="write a local directory as ./NAME",
        )
    return model


def serve_argv(ctx: RenderContext) -> list[str]:
    """``vllm serve MODEL --flag=value ...``, exactly as the server process should receive it."""
    return ["vllm", "serve", model_arg(ctx), *engine_argv(ctx)]
