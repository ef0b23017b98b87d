"""Configuration rules (VW1xx): what vLLM refuses while it builds its configuration, before it
touches GPU memory. Messages are vLLM's own wording for the pinned release."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from checker.models.config_parser import model_type_facts
from checker.planning.engine.context_length import derived_max_len
from checker.planning.engine.releases import float16_refused_models, has_behaviour, message
from checker.planning.engine.settings import vllm_block_size
from checker.planning.rules.architecture import supports_pipeline_parallel
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import DType, Severity
from checker.schemas.model_info import ModelInfo
from checker.schemas.outputs import Finding


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# vLLM pads the vocabulary to a multiple of this before splitting it across ranks
# (model_executor/layers/vocab_parallel_embedding.py DEFAULT_VOCAB_PADDING_SIZE).
_VOCAB_PADDING = 64


def unsplittable(model: ModelInfo, tp: int) -> int | None:
    """The first size vLLM's divide() cannot split ``tp`` ways while it builds the model, in
    build order: the padded vocabulary (embedding), KV heads (when there are more than ranks),
    the dense MLP width. None when every shard is whole."""
    return _unsplittable(model.vocab_size, model.num_key_value_heads, _dense_width(model), tp)


def _dense_width(model: ModelInfo) -> int:
    return 0 if model.is_moe else model.intermediate_size


@functools.lru_cache(maxsize=4096)  # pure on a few sizes; asked for every TP of every plan
def _unsplittable(vocab_size: int, kv_heads: int, dense_width: int, tp: int) -> int | None:
    vocab = -(-vocab_size // _VOCAB_PADDING) * _VOCAB_PADDING
    sizes = [vocab]
    if tp < kv_heads:
        sizes.append(kv_heads)
    if dense_width:
        sizes.append(dense_width)
    return next((n for n in sizes if n % tp), None)


def valid_tp(model: ModelInfo, limit: int) -> list[int]:
    """Tensor-parallel sizes up to ``limit`` that vLLM can build this model with."""
    sizes = (model.num_attention_heads, model.vocab_size, model.num_key_value_heads)
    return list(_valid_tp(*sizes, _dense_width(model), limit))


@functools.lru_cache(maxsize=1024)
def _valid_tp(
    heads: int, vocab_size: int, kv_heads: int, dense_width: int, limit: int
) -> tuple[int, ...]:
    return tuple(
        t
        for t in range(1, limit + 1)
        if heads % t == 0 and _unsplittable(vocab_size, kv_heads, dense_width, t) is None
    )


def suggest_tp(model: ModelInfo, tp: int, limit: int) -> int:
    fitting = valid_tp(model, max(1, limit)) or [1]
    return min((t for t in fitting if t >= tp), default=max(fitting))


def top_model_type(model: ModelInfo) -> str:
    """The top-level config model_type vLLM checks (gemma3, not its nested gemma3_text)."""
    by_arch = model_type_facts()["architectures"]
    return next((by_arch[a] for a in model.architectures if a in by_arch), model.model_type)


def config_dtype(model: ModelInfo) -> str:
    return (model.torch_dtype or "").replace("torch.", "")


@rule
def tp_heads_divisible(ctx: RuleContext) -> Finding | None:
    heads, tp, pp = ctx.model.num_attention_heads, ctx.settings.tp, ctx.settings.pp
    if heads % tp == 0:
        return None
    valid = divisors(heads)
    suggestion = suggest_tp(ctx.model, tp, ctx.request.hardware.gpus // pp)
    fix = f"--tensor-parallel-size values valid for {heads} attention heads: {valid}."
    if supports_pipeline_parallel(ctx):
        inner = max(d for d in valid if tp % d == 0)
        fix += (
            f" To keep {tp * pp} GPUs, consider pipeline parallel instead: hardware.tp_size "
            f"{inner} with hardware.pp_size {tp // inner * pp}."
        )
    return Finding(
        rule_id="VW101",
        name="tp-heads-divisible",
        severity=Severity.ERROR,
        message=message("tp-heads", ctx.settings.facts.version, heads=heads, tp=tp),
        key="hardware.tp_size",
        fix=f"{fix} Set hardware.tp_size to {suggestion}.",
        fix_values={"hardware.tp_size": suggestion},
    )


@rule
def tp_shards_divisible(ctx: RuleContext) -> Finding | None:
    tp = ctx.settings.tp
    if ctx.model.num_attention_heads % tp:
        return None  # VW101 already refuses this size, before vLLM builds any layer
    size = unsplittable(ctx.model, tp)
    if size is None:
        return None
    suggestion = suggest_tp(ctx.model, tp, ctx.request.hardware.gpus // ctx.settings.pp)
    valid = valid_tp(ctx.model, max(8, tp))
    return Finding(
        rule_id="VW119",
        name="tp-shards-divisible",
        severity=Severity.ERROR,
        message=message("tp-divide", ctx.settings.facts.version, size=size, tp=tp),
        key="hardware.tp_size",
        fix=f"vLLM splits the vocabulary (padded to {_VOCAB_PADDING}), KV heads and MLP width "
        f"evenly across ranks; tensor-parallel sizes that work for this model: {valid}. "
        f"Set hardware.tp_size to {suggestion}.",
        fix_values={"hardware.tp_size": suggestion},
    )


@rule
def pipeline_parallel_supported(ctx: RuleContext) -> Finding | None:
    version = ctx.settings.facts.version
    if ctx.settings.pp == 1 or (
        supports_pipeline_parallel(ctx) and has_behaviour("pipeline_parallel", version)
    ):
        return None
    return Finding(
        rule_id="VW102",
        name="pipeline-parallel-unsupported",
        severity=Severity.ERROR,
        message=message("pp-unsupported", version),
        key="hardware.pp_size",
        fix="Use tensor parallelism across the GPUs instead (hardware.pp_size: 1).",
        fix_values={"hardware.pp_size": 1},
    )


@rule
def max_model_len_within_derived(ctx: RuleContext) -> Finding | None:
    wanted, eng = ctx.request.model.max_model_len, ctx.request.engine
    version = ctx.settings.facts.version
    if ctx.model.max_len_key is None or not isinstance(wanted, int):
        # a config with no length key (Mamba): _get_and_verify_max_len takes a given
        # max_model_len as is; only the default falls back to 2048. Only a length the
        # profile states is held against the derived maximum.
        return None
    derived, key = derived_max_len(
        ctx.model, version, disable_sliding_window=eng.disable_sliding_window
    )
    if wanted <= derived:
        return None
    # vLLM prints the product with the float RoPE factor as is (131072.0)
    fields = {"length": wanted, "key": key, "derived": derived}
    limit = int(derived)
    if eng.allow_long_max_model_len and has_behaviour("allow_long_max_model_len", version):
        return Finding(
            rule_id="VW103",
            name="max-model-len-too-large",
            severity=Severity.WARNING,
            message=message("max-model-len-allowed", version, **fields),
            key="model.max_model_len",
            fix=f"VLLM_ALLOW_LONG_MAX_MODEL_LEN lets vLLM start past the model's maximum "
            f"({limit}); positions beyond what the model was trained or scaled for give wrong "
            f"output. Set max_model_len to {limit} or less unless the model extrapolates.",
            fix_values={"model.max_model_len": limit},
        )
    return Finding(
        rule_id="VW103",
        name="max-model-len-too-large",
        severity=Severity.ERROR,
        message=message("max-model-len", version, **fields),
        key="model.max_model_len",
        fix=f"Set max_model_len to {limit} or less (the model's derived maximum).",
        fix_values={"model.max_model_len": limit},
    )


@rule
def bf16_needs_ampere(ctx: RuleContext) -> Finding | None:
    # Only an explicit bfloat16: settings resolve --dtype auto on a bf16 checkpoint to fp16 here.
    gpu, version = ctx.gpu, ctx.settings.facts.version
    if gpu.vendor != "nvidia" or gpu.capability >= 80 or ctx.settings.dtype != "bfloat16":
        return None
    # a model that refuses fp16 can only run in fp32 on this GPU
    refused = top_model_type(ctx.model) in float16_refused_models(version)
    dtype = "float32" if refused else "float16"
    return Finding(
        rule_id="VW104",
        name="bf16-unsupported-gpu",
        severity=Severity.ERROR,
        message=message(
            "bf16-capability", version, gpu=gpu.name, capability=gpu.compute_capability
        ),
        key="model.dtype",
        fix=f"Set dtype to {dtype}: the {gpu.name} has no bfloat16 support.",
        fix_values={"model.dtype": dtype},
    )


@rule
def float16_refused(ctx: RuleContext) -> Finding | None:
    if ctx.request.model.dtype is not DType.FLOAT16:
        return None
    version, model_type = ctx.settings.facts.version, top_model_type(ctx.model)
    if model_type not in float16_refused_models(version):
        return None
    dtype = "bfloat16" if ctx.gpu.capability >= 80 else "float32"
    return Finding(
        rule_id="VW105",
        name="float16-refused",
        severity=Severity.ERROR,
        message=message("float16-refused", version, model_type=model_type),
        key="model.dtype",
        fix=f"Set dtype to {dtype}, or auto (vLLM then picks {dtype} on the {ctx.gpu.name}).",
        fix_values={"model.dtype": dtype},
    )


@rule
def float32_fallback(ctx: RuleContext) -> Finding | None:
    version, source = ctx.settings.facts.version, config_dtype(ctx.model)
    if (
        ctx.request.model.dtype is not DType.AUTO
        or ctx.settings.dtype != "float32"
        or source in ("float32", "")
        or not has_behaviour("auto_dtype_fallback", version)
    ):
        return None
    gpu = ctx.gpu
    return Finding(
        rule_id="VW106",
        name="dtype-float32-fallback",
        severity=Severity.WARNING,
        message=message(
            "dtype-fallback",
            version,
            gpu=gpu.name,
            capability=gpu.compute_capability,
            config_dtype=source,
            dtype="float32",
        ),
        key="model.dtype",
        fix=f"The model refuses float16 and the {gpu.name} has no bfloat16, so it runs in float32: "
        "twice the weight memory and much slower. Use a GPU with compute capability 8.0 or more.",
    )


@rule
def kv_cache_dtype_valid(ctx: RuleContext) -> Finding | None:
    facts, kv = ctx.settings.facts, ctx.settings.kv_cache_dtype
    if kv in facts.kv_cache_dtypes:
        return None
    fallback = "fp8" if kv.startswith("fp8") and "fp8" in facts.kv_cache_dtypes else "auto"
    choices = ", ".join(repr(c) for c in facts.kv_cache_dtypes)
    return Finding(
        rule_id="VW112",
        name="kv-cache-dtype-invalid",
        severity=Severity.ERROR,
        message=message(
            "invalid-choice", facts.version, flag="kv-cache-dtype", value=kv, choices=choices
        ),
        key="model.kv_cache_dtype",
        fix=f"vLLM {facts.version} accepts kv_cache_dtype {list(facts.kv_cache_dtypes)}; "
        f"use {fallback}.",
        fix_values={"model.kv_cache_dtype": fallback},
    )


@rule
def block_size_valid(ctx: RuleContext) -> Iterator[Finding]:
    facts, size = ctx.settings.facts, ctx.request.engine.block_size
    if size is not None and facts.block_sizes == "any":
        yield from _block_size_kernels_take(ctx, size)
    if size is None or facts.block_sizes == "any" or facts.block_size_valid(size):
        return
    default = vllm_block_size(
        ctx.model, ctx.gpu, ctx.settings.kv_cache_dtype, facts, ctx.settings.tp
    )[0]
    choices = ", ".join(str(c) for c in facts.block_sizes)
    yield Finding(
        rule_id="VW113",
        name="block-size-invalid",
        severity=Severity.ERROR,
        message=message(
            "invalid-choice", facts.version, flag="block-size", value=size, choices=choices
        ),
        key="vllm.block_size",
        fix=f"vLLM {facts.version} accepts block sizes {list(facts.block_sizes)}; leave it unset "
        f"(vLLM picks {default}).",
        fix_values={"vllm.block_size": default},
    )


def _block_size_kernels_take(ctx: RuleContext, size: int) -> Iterator[Finding]:
    """Releases whose config takes any block size: no CUDA attention backend runs one that is
    not a multiple of its kernel block (CudaPlatform.get_attn_backend_cls finds none).
    Sparse MLA's backends want 32 or 64 by GPU: not modelled."""
    multiple, gpu = ctx.settings.facts.cuda_block_multiple, ctx.gpu
    if multiple is None or gpu.vendor != "nvidia" or ctx.model.sparse_mla or size % multiple == 0:
        return
    nearest = -(-size // multiple) * multiple  # the next one up
    yield Finding(
        rule_id="VW113",
        name="block-size-invalid",
        severity=Severity.ERROR,
        message=message(
            "no-attention-backend",
            ctx.settings.facts.version,
            config=f"block_size={size} on {gpu.name}",
            reasons="every backend: block_size not supported",
        ),
        key="vllm.block_size",
        fix=f"vLLM {ctx.settings.facts.version}'s CUDA attention kernels take block sizes that are "
        f"multiples of {multiple}: use {nearest}, or leave it unset.",
        fix_values={"vllm.block_size": nearest},
    )


@rule
def fp8_kv_without_fp8_hardware(ctx: RuleContext) -> Finding | None:
    s, gpu = ctx.settings, ctx.gpu
    if not s.kv_cache_dtype.startswith("fp8") or gpu.vendor != "nvidia" or gpu.capability >= 89:
        return None
    return Finding(
        rule_id="VW114",
        name="fp8-kv-without-fp8-hardware",
        severity=Severity.WARNING,
        message=f"kv_cache_dtype {s.kv_cache_dtype} on the {gpu.name} (compute capability "
        f"{gpu.compute_capability}): GPUs before sm_89 have no fp8 units, so the cache is "
        "converted in software. It halves KV memory, but attention is slower and some attention "
        "backends refuse an fp8 cache on this GPU.",
        key="model.kv_cache_dtype",
        fix="Keep fp8 only if the memory matters more than speed; otherwise kv_cache_dtype: auto.",
    )
