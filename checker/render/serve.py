"""The `vllm serve` argument list: every setting the plan decided plus the profile's passthrough.

Each flag is checked against the pinned version's flag list. Values travel as ``--flag=value``
so a value that starts with ``-`` is never read as another option.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from checker.errors import ArtifactError
from checker.render.context import RenderContext
from checker.schemas.engine_args import (
    EngineArgError,
    canonical_flag,
    env_homes,
    homes,
    parse_value,
)
from checker.schemas.vllm_flags import FlagSet, flags_for


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
    args.value("--max-model-len", c.max_model_len_arg, "model.max_model_len")
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
    if c.tokenizer:
        args.value("--tokenizer", c.tokenizer, "model.tokenizer")
    if c.disable_hybrid_kv_cache_manager is not None:
        args.switch(
            "--disable-hybrid-kv-cache-manager",
            c.disable_hybrid_kv_cache_manager,
            "vllm.disable_hybrid_kv_cache_manager",
        )
    if c.kv_cache_memory_bytes is not None:
        args.value("--kv-cache-memory-bytes", c.kv_cache_memory_bytes, "vllm.kv_cache_memory_bytes")
    args.value("--port", ctx.deploy.port, "deploy.port")


def _passthrough_flag(key: str, flags: FlagSet) -> tuple[str, str | None]:
    """A ``vllm_args`` key as vLLM reads it; a flag the profile has a key for is refused."""
    where = f"outputs.vllm_args.{key}"
    try:
        flag, how = canonical_flag(key, flags)
    except EngineArgError as exc:
        raise ArtifactError(f"{where}: {exc.message}", hint=exc.hint, key=where) from None
    home = homes().get(flag)
    if home and home.profile:
        raise ArtifactError(
            f"{where}: {flag} is decided by the plan",
            hint=f"set {home.profile} in the profile instead",
            key=where,
        )
    return flag, how


def _parsed(vllm_args: dict[str, Any], flags: FlagSet) -> Iterator[tuple[str, str, Any]]:
    """(where, flag, value) of each ``vllm_args`` entry, as vLLM reads it, in key order."""
    for key in sorted(vllm_args):
        flag, how = _passthrough_flag(key, flags)
        where = f"outputs.vllm_args.{key}"
        try:
            value = parse_value(flag, vllm_args[key], flags, how)
        except EngineArgError as exc:
            raise ArtifactError(f"{where}: {exc.message}", hint=exc.hint, key=where) from None
        yield where, flag, value


def passthrough_value(ctx: RenderContext, flag: str) -> Any:
    """The value ``outputs.vllm_args`` gives ``flag`` under any spelling vLLM accepts
    (``nnodes``, ``distributed_executor_backend``, ...); None when it gives none."""
    flags = flags_for(ctx.plan.config.vllm_version)
    found = [value for _, name, value in _parsed(ctx.vllm_args, flags) if name == flag]
    return found[-1] if found else None


def _passthrough(args: _Args, vllm_args: dict[str, Any]) -> None:
    for where, flag, value in _parsed(vllm_args, args.flags):
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


def server_env(ctx: RenderContext) -> dict[str, str]:
    """Environment variables the plan decided, for every artifact that runs the server."""
    c = ctx.plan.config
    env: dict[str, str] = {}
    for name, home in env_homes().items():
        value = getattr(c, (home.request or "").split(".")[-1], None)
        if value is not None:
            env[name] = str(int(value)) if isinstance(value, bool) else str(value)
    return env


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
