"""Speculative decoding: the refusals of vLLM's speculative config (VW125), max_model_len lowered
to a draft model's (VW126), methods whose drafter the plan does not size (VW127) and drafters
whose layers fall in several KV cache groups (VW128), and keys the speculative config has no
field for (VW154)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from checker.planning.engine.releases import (
    has_behaviour,
    message,
    release,
)
from checker.planning.engine.runner import first_v2_release
from checker.planning.engine.spec_config import (
    LEGACY_FLAGS,
    SHORT_FLAGS,
    SpecDecode,
    draft_derived_len,
    mtp_layers,
    spec_facts,
)
from checker.planning.kvcache.kv_groups import draft_kv_groups
from checker.planning.rules.base import RuleContext, rule
from checker.schemas.enums import Severity
from checker.schemas.inputs import EngineInput
from checker.schemas.outputs import Finding
from checker.schemas.yaml_source import bundled_data


def config_key(engine: EngineInput, key: str | None = None) -> str:
    """The profile key holding the speculative config: the JSON option, else the first short
    flag given, else the 0.6 / 0.7 flag of ``key`` (or the first of them given)."""
    flag = "--speculative-config"
    if engine.speculative_config is None:
        given = [
            (f, k)
            for f, k, field in (*SHORT_FLAGS, *LEGACY_FLAGS)
            if getattr(engine, field) is not None
        ]
        flag = next((f for f, k in given if k == key), given[0][0] if given else flag)
    return "outputs.vllm_args." + flag[2:]


def _invalid(text: str, fix: str, key: str) -> Finding:
    return Finding(
        rule_id="VW125",
        name="speculative-config-invalid",
        severity=Severity.ERROR,
        message=text,
        key=key,
        fix=fix,
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@rule
def speculative_config_valid(ctx: RuleContext) -> Iterator[Finding]:
    spec = ctx.settings.spec
    if spec is None:
        return
    if ctx.settings.is_v0 and ctx.request.engine.speculative_config is None:
        yield from _v0_refusals(ctx, spec)  # the 0.6 / 0.7 flags
        return
    found = list(_config_refusals(ctx, spec))
    yield from found
    if ctx.settings.is_v0 and not found:  # 0.8 / 0.9 falling back to V0
        yield from _v0_worker_refusals(ctx, spec)


def _config_refusals(ctx: RuleContext, spec: SpecDecode) -> Iterator[Finding]:
    version = ctx.settings.facts.version
    yield from _short_flags(ctx)
    config, key = spec.config, config_key(ctx.request.engine)
    if "tensor_parallel_size" in config:
        yield _invalid(
            message("spec-tp-key", version), "Rename the key to draft_tensor_parallel_size.", key
        )
    # an MTP draft exists only for targets vLLM turns into one (spec_config.mtp_supported)
    if spec.method is None or (spec.method == "mtp" and spec.draft is None):
        shown = config.get("method")
        yield _invalid(
            message("spec-method", version, method=str(shown)[:64]),
            f"Use one of: {', '.join(spec_facts()['methods'])}"
            if spec.method is None
            else f"{ctx.model.model_id} has no MTP layers vLLM can draft with; use an EAGLE "
            "head or a draft model instead.",
            key,
        )
        return
    yield from _tokens(spec, version, key)
    yield from _draft(ctx, spec, key)
    yield from _draft_length(ctx, spec, key)
    lookahead = spec.lookahead
    tokens = ctx.settings.max_num_batched_tokens
    if lookahead and tokens <= lookahead and has_behaviour("spec_lookahead_check", version):
        yield _invalid(
            message("spec-lookahead", version, tokens=tokens, lookahead=lookahead),
            f"Raise max_num_batched_tokens above {lookahead}.",
            "vllm.max_num_batched_tokens",
        )


def _v0_refusals(ctx: RuleContext, spec: SpecDecode) -> Iterator[Finding]:
    """The V0 engine's refusals, in the order it reaches them (0.6.6 / 0.7.3):
    SpeculativeConfig.maybe_create_spec_config and _verify_args, then
    EngineArgs.create_engine_config, create_spec_worker and SpecDecodeWorker.init_device.
    The first one stops the server, so only it is reported."""
    found = next(_v0_config_refusals(ctx, spec), None) or next(_v0_worker_refusals(ctx, spec), None)
    if found is not None:
        yield found


def _v0_config_refusals(ctx: RuleContext, spec: SpecDecode) -> Iterator[Finding]:
    s, eng = ctx.settings, ctx.request.engine
    version, config = s.facts.version, spec.config
    tokens, model = _int(config.get("num_speculative_tokens")), config.get("model")
    if model is None:
        if spec.kind == "unsized":  # the target's own MTP layers (0.7.3 DeepSeek-V3)
            yield from _v0_mtp_tokens(ctx, tokens)
            return
        yield _invalid(
            message("spec-no-model", version),
            'Name the draft with --speculative-model (or "[ngram]").',
            config_key(eng, "num_speculative_tokens"),
        )
        return
    if model == "[ngram]":
        low, high = _int(config.get("prompt_lookup_min")), _int(config.get("prompt_lookup_max"))
        low = 1 if low is None else low
        for name, value, key in (
            ("ngram_prompt_lookup_max", high, "prompt_lookup_max"),
            ("ngram_prompt_lookup_min", low, "prompt_lookup_min"),
        ):
            if value is None or value < 1:
                yield _invalid(
                    message("spec-v0-ngram-positive", version, name=name, value=value),
                    f"Set --{name.replace('_', '-')} to 1 or more (4 is usual for the maximum).",
                    config_key(eng, key) if value is not None else config_key(eng, "model"),
                )
                return
        if high is not None and low > high:
            yield _invalid(
                message("spec-ngram-lookup", version, low=low, high=high),
                "Make --ngram-prompt-lookup-min at most --ngram-prompt-lookup-max.",
                config_key(eng, "prompt_lookup_min"),
            )
            return
    elif eng.enable_chunked_prefill and spec.draft_type in spec_facts()["v0"]["hidden_state"]:
        yield _invalid(
            message("spec-v0-chunked-hidden", version),
            "Drop --enable-chunked-prefill (V0 runs this draft without it), or use a plain "
            "draft model.",
            "vllm.enable_chunked_prefill",
        )
        return
    elif spec.draft is not None:
        # _verify_and_get_draft_model_tensor_parallel_size, then
        # _maybe_override_draft_max_model_len (the draft's derived length first)
        draft_tp = spec.draft_tp
        if draft_tp is not None and draft_tp not in (1, s.tp):
            yield _invalid(
                message("spec-draft-tp", version, draft_tp=draft_tp),
                f"Set --speculative-draft-tensor-parallel-size to 1 or {s.tp}.",
                config_key(eng, "draft_tensor_parallel_size"),
            )
            return
        too_long = next(_v0_draft_length(ctx, spec, config_key(eng, "max_model_len")), None)
        if too_long is not None:
            yield too_long
            return
    if tokens is None:
        # an MLP speculator's config has n_predict, the default (MLPSpeculatorConfig)
        if spec.draft_type not in spec_facts()["v0"]["n_predict_types"]:
            yield _invalid(
                message("spec-no-tokens", version),
                "Set --num-speculative-tokens (3 to 5 is usual).",
                config_key(eng, "model"),
            )
    elif tokens <= 0:
        yield _invalid(
            message("spec-tokens-positive", version, tokens=tokens),
            "Set --num-speculative-tokens to 1 or more.",
            config_key(eng, "num_speculative_tokens"),
        )
    elif spec.draft is not None and spec.kind == "draft_model":
        # _verify_args: draft_model_config.verify_with_parallel_config(draft_parallel_config)
        draft_tp = spec.draft_tp or s.tp
        heads = spec.draft.num_attention_heads
        if heads % draft_tp:
            yield _invalid(
                message("tp-heads", version, heads=heads, tp=draft_tp),
                "Set --speculative-draft-tensor-parallel-size 1, or use a draft whose "
                f"{heads} heads divide by {draft_tp}.",
                config_key(eng, "draft_tensor_parallel_size"),
            )


def _v0_mtp_tokens(ctx: RuleContext, tokens: int | None) -> Iterator[Finding]:
    """The target's MTP layers as the draft (0.7.3 maybe_create_spec_config: the draft config's
    n_predict is num_nextn_predict_layers, the most tokens it drafts, and the default), then
    _verify_args."""
    version, n_predict = ctx.settings.facts.version, mtp_layers(ctx.model)
    key = config_key(ctx.request.engine, "num_speculative_tokens")
    if tokens is not None and tokens > n_predict:
        yield _invalid(
            message("spec-v0-n-predict", version, n_predict=n_predict, tokens=tokens),
            f"Set --num-speculative-tokens to at most {n_predict} (or leave it out).",
            key,
        )
    elif tokens is not None and tokens <= 0:
        yield _invalid(
            message("spec-tokens-positive", version, tokens=tokens),
            "Set --num-speculative-tokens to 1 or more.",
            key,
        )


def _v0_worker_refusals(ctx: RuleContext, spec: SpecDecode) -> Iterator[Finding]:
    s, eng = ctx.settings, ctx.request.engine
    version = s.facts.version
    steps = eng.vllm_args.get("num-scheduler-steps")
    if isinstance(steps, (int, str)) and str(steps).isdigit() and int(steps) > 1:
        yield _invalid(
            message("spec-v0-multi-step", version),
            "Drop --num-scheduler-steps (or speculative decoding).",
            "outputs.vllm_args.num-scheduler-steps",
        )
    if s.pp > 1:
        yield _invalid(
            message("spec-v0-pp", version),
            "Use tensor parallelism only (pipeline_parallel_size 1) with speculative decoding.",
            "hardware.pp_size",
        )
    draft = spec.draft
    if (
        spec.kind == "draft_model"
        and draft is not None
        and draft.vocab_size != ctx.model.vocab_size
    ):
        yield _invalid(
            message("spec-v0-vocab", version),
            f"The draft's vocab_size is {draft.vocab_size}, the target's "
            f"{ctx.model.vocab_size}: use a draft model of the same family (same tokenizer).",
            config_key(eng, "model"),
        )


def _short_flags(ctx: RuleContext) -> Iterator[Finding]:
    """EngineArgs.create_speculative_config: a key set by a short flag and in the JSON."""
    eng = ctx.request.engine
    given = eng.speculative_config or {}
    for flag, key, field in SHORT_FLAGS:
        if getattr(eng, field) is not None and key in given:
            yield _invalid(
                message("spec-short-flag", ctx.settings.facts.version, flag=flag, key=key),
                f"Give {key} once: drop {flag} or the key.",
                f"outputs.vllm_args.{flag[2:]}",
            )


def _tokens(spec: SpecDecode, version: str, key: str) -> Iterator[Finding]:
    config = spec.config
    model = config.get("model")
    if spec.tokens is None:
        if model is not None and spec.kind not in ("none", "unsized"):
            text = message("spec-no-tokens-model", version)
        else:
            text = message("spec-no-tokens", version)
        yield _invalid(text, 'Set "num_speculative_tokens" (3 to 5 is usual).', key)
        return
    if spec.tokens <= 0:
        yield _invalid(
            message("spec-tokens-positive", version, tokens=spec.tokens),
            'Set "num_speculative_tokens" to 1 or more.',
            key,
        )
        return
    if model is None and spec.method not in spec_facts()["model_not_needed"]:
        yield _invalid(message("spec-no-model", version), 'Name the draft in "model".', key)
    n = spec.n_predict
    if n and spec.tokens > n and spec.tokens % n:
        yield _invalid(
            message("spec-n-predict", version, tokens=spec.tokens, n_predict=n),
            f"Use a multiple of {n} speculative tokens.",
            key,
        )
    low, high = _int(config.get("prompt_lookup_min")), _int(config.get("prompt_lookup_max"))
    if spec.kind == "none" and low is not None and high is not None and low > high:
        yield _invalid(
            message("spec-ngram-lookup", version, low=low, high=high),
            "Make prompt_lookup_min at most prompt_lookup_max.",
            key,
        )


def _draft(ctx: RuleContext, spec: SpecDecode, key: str) -> Iterator[Finding]:
    """The draft model's TP and vocabulary (SpeculativeConfig._verify_and_get_draft_tp,
    verify_equal_vocab_size_if_draft_model; DraftModelProposer._raise_if_draft_tp_mismatch)."""
    version, tp = ctx.settings.facts.version, ctx.settings.tp
    draft_tp = spec.draft_tp
    if draft_tp is not None and draft_tp not in (1, tp):
        yield _invalid(
            message("spec-draft-tp", version, draft_tp=draft_tp),
            f"Set draft_tensor_parallel_size to 1 or {tp}.",
            key,
        )
    elif ctx.settings.is_v0:
        return  # V0's SmallerTpProposerWorker takes a TP 1 draft; vocabularies: _v0_worker_refusals
    elif (
        spec.kind == "draft_model"
        and draft_tp is not None
        and draft_tp != tp
        and not ctx.settings.runner.v2  # V2's draft speculators load at the draft's own TP
    ):
        yield _invalid(
            message("spec-draft-model-tp", version, draft_tp=draft_tp, tp=tp),
            f"Set draft_tensor_parallel_size to {tp} (or leave it out).",
            key,
        )
    draft = spec.draft
    mapped = spec.config.get("use_heterogeneous_vocab") is True  # token-level intersection
    if (
        spec.kind == "draft_model"
        and draft is not None
        and draft.vocab_size != ctx.model.vocab_size
        and not mapped
    ):
        yield _invalid(
            message("spec-vocab", version, target=ctx.model.vocab_size, draft=draft.vocab_size),
            "Use a draft model of the same family (same tokenizer).",
            key,
        )


def _draft_length(ctx: RuleContext, spec: SpecDecode, key: str) -> Iterator[Finding]:
    """The speculative config's max_model_len: the draft's ModelConfig refuses one above the
    draft's derived maximum (config/model.py _get_and_verify_max_len), and
    SpeculativeConfig._maybe_override_draft_max_model_len one above the target's."""
    given, draft = _int(spec.config.get("max_model_len")), spec.draft
    if given is None or draft is None or spec.kind not in ("draft_model", "eagle"):
        return
    if ctx.settings.is_v0:
        yield from _v0_draft_length(ctx, spec, key)
        return
    version = ctx.settings.facts.version
    derived = draft_derived_len(draft, version)
    target = ctx.settings.draft_limited_from or ctx.settings.max_model_len
    fix = "Set the speculative config's max_model_len to at most {} (or drop it)."
    if given > derived:
        text = message(
            "max-model-len", version, length=given, key=draft.max_len_key, derived=derived
        )
        yield _invalid(text, fix.format(derived), key)
    elif given > target:
        text = message(
            "spec-max-len", version, given=given, name="target_max_model_len", limit=target
        )
        yield _invalid(text, fix.format(target), key)


def _v0_draft_length(ctx: RuleContext, spec: SpecDecode, key: str) -> Iterator[Finding]:
    """SpeculativeConfig._maybe_override_draft_max_model_len of the V0 engine's releases
    (0.6.6 .. 0.9.2): the draft's ModelConfig keeps its derived length, the given one may
    exceed neither it nor the target's."""
    given, draft = _int(spec.config.get("max_model_len")), spec.draft
    if given is None or draft is None:
        return
    version = ctx.settings.facts.version
    limits = (
        ("draft_max_model_len", draft_derived_len(draft, version)),
        ("target_max_model_len", ctx.settings.max_model_len),
    )
    for name, limit in limits:
        if given > limit:
            yield _invalid(
                message("spec-max-len", version, given=given, name=name, limit=limit),
                f"Set the speculative max_model_len to at most {limit} (or drop it).",
                key,
            )
            return


@rule
def max_model_len_lowered_to_draft(ctx: RuleContext) -> Finding | None:
    """VllmConfig._limit_max_model_len_to_draft: the V2 model runner serves no request longer
    than a draft model takes, and says so only as a warning."""
    s = ctx.settings
    if s.draft_limited_from is None or s.spec is None or s.spec.draft_max_len is None:
        return None
    return Finding(
        rule_id="VW126",
        name="max-model-len-lowered-to-draft",
        severity=Severity.WARNING,
        message=message(
            "spec-draft-max-len",
            s.facts.version,
            draft=s.spec.draft_max_len,
            target=s.draft_limited_from,
        ),
        key=config_key(ctx.request.engine),
        fix=f"Requests are limited to {s.spec.draft_max_len} tokens: use a draft model with a "
        "longer context, or an EAGLE head that shares the target's positions.",
    )


@rule
def speculative_method_not_sized(ctx: RuleContext) -> Finding | None:
    spec = ctx.settings.spec
    if spec is None or spec.method is None or spec.kind != "unsized":
        return None
    return Finding(
        rule_id="VW127",
        name="speculative-method-not-sized",
        severity=Severity.WARNING,
        message=f"speculative method {spec.method!r}: the plan does not size its drafter's "
        "weights, KV cache or CUDA graphs; the KV figures are an upper bound",
        key=config_key(ctx.request.engine),
        fix="Hold the plan against vLLM's start-up log (vllm-wizard explain LOG).",
    )


@rule
def speculative_draft_kv_groups(ctx: RuleContext) -> Finding | None:
    """The V1 model runner's drafter (draft model, EAGLE, MTP) reads one KV cache group's
    attention metadata and asserts all its layers are in it
    (SpecDecodeBaseProposer.validate_same_kv_cache_group): a Gemma-3 draft's sliding-window and
    full-attention layers are two groups."""
    s = ctx.settings
    spec, version = s.spec, s.facts.version
    if (
        spec is None
        or spec.draft is None
        or s.is_v0
        or not has_behaviour("spec_one_kv_group", version)
        or _many_groups_allowed(spec, version)
        or s.runner.v2
        or (groups := draft_kv_groups(ctx.model, s)) < 2
    ):
        return None
    # one group again: the hybrid manager off turns sliding-window layers into full ones
    fix_values: dict[str, Any] = {"vllm.disable_hybrid_kv_cache_manager": True}
    fix = (
        "Use a draft whose layers are all of one attention type (no sliding-window layers), "
        "or set vllm.disable_hybrid_kv_cache_manager: true (sliding-window layers then keep "
        "full KV)"
    )
    if ctx.model.compressed_attention is not None:
        # DeepSeek-V4's packed layout has no form without the hybrid manager
        fix_values = {}
        fix = (
            f"DeepSeek-V4's MTP layers' sliding-window caches fall in {groups} of its packed "
            "KV cache groups: use a checkpoint with one MTP layer (num_speculative_tokens may "
            "still exceed it: vLLM reuses the layer)"
        )
    if s.runner.kept_by:
        fix += f'; Model Runner V2 takes such a draft: drop "{s.runner.kept_by}"'
    else:
        since = first_v2_release(ctx.model, version, spec, ctx.request.engine)
        if since:
            fix += f", or pin vLLM {since} or later, whose Model Runner V2 takes such a draft"
    return Finding(
        rule_id="VW128",
        name="speculative-draft-kv-groups",
        severity=Severity.ERROR,
        message=message("spec-one-kv-group", version),
        key=config_key(ctx.request.engine),
        fix=fix + ".",
        fix_values=fix_values,
    )


def _many_groups_allowed(spec: SpecDecode, version: str) -> bool:
    """MTP drafters whose proposer takes several groups (vllm_speculative.yaml many_kv_groups)."""
    since = spec_facts()["many_kv_groups"].get(spec.draft.model_type if spec.draft else "")
    return spec.kind == "mtp" and since is not None and release(version) >= release(str(since))


def _line_keys(version: str) -> tuple[frozenset[str], bool] | None:
    """The keys SpeculativeConfig takes on ``version``'s release line and whether that line reads
    dashes in them as underscores (vllm_speculative_keys.yaml); None for a line not covered."""
    data = bundled_data("vllm_speculative_keys.yaml")
    major, minor, _ = release(version)
    line = data["lines"].get(f"{major}.{minor}")
    if line is None:
        return None
    return frozenset(line["keys"]), (major, minor) >= release(data["dashes_as_underscores"])[:2]


def _unknown_key_fix(key: str, keys: frozenset[str], version: str) -> str:
    spelled = key.replace("-", "_")
    if spelled != key and spelled in keys:
        return f"Spell the key {spelled} (vLLM {version} reads dashes in it literally)."
    import difflib  # only a typo needs it: kept off every start

    close = difflib.get_close_matches(spelled, sorted(keys), n=1, cutoff=0.8)
    if close:
        return f"Did you mean {close[0]}? Otherwise drop the key."
    lines = bundled_data("vllm_speculative_keys.yaml")["lines"]
    had = [
        line
        for line, row in lines.items()
        if release(line) < release(version) and spelled in row["keys"]
    ]
    if had:  # a key an earlier release took (0.33's use_heterogeneous_vocab on 0.34)
        newest = max(had, key=release)
        return f"Drop the key: vLLM {newest} took it, {version} has no such setting any more."
    return f"Drop the key: vLLM {version}'s speculative config has no such setting."


def _parallel_drafting_refused(spec: SpecDecode, version: str) -> bool:
    """SpeculativeConfig._verify_args (0.34): parallel_drafting only with dflash / dspark."""
    return (
        spec.config.get("parallel_drafting") is True
        and spec.method is not None
        and spec.method not in ("dflash", "dspark")
        and has_behaviour("spec_parallel_drafting_methods_only", version)
    )


@rule
def speculative_config_unknown_key(ctx: RuleContext) -> Iterator[Finding]:
    """SpeculativeConfig forbids keys it has no field for (vllm/config/utils.py `config`:
    ConfigDict(extra="forbid"), from 0.16): pydantic stops the server on each one. Also 0.34's
    refusal of parallel_drafting for a method that does not draft in parallel."""
    spec, engine = ctx.settings.spec, ctx.request.engine
    if spec is None or ctx.settings.is_v0:
        return
    version, key = ctx.settings.facts.version, config_key(engine)
    line = _line_keys(version)
    if line is not None:
        keys, dashes = line
        # the JSON's own keys as the line reads them (--spec-* flags merge in as valid names)
        given = (
            spec.config
            if dashes or engine.speculative_config is None
            else engine.speculative_config
        )
        for name in given:
            shown = str(name)
            if shown not in keys:
                yield _unknown_key(
                    message("spec-unknown-key", version, key=shown[:64]),
                    _unknown_key_fix(shown[:64], keys, version),
                    key,
                )
    if _parallel_drafting_refused(spec, version):
        yield _unknown_key(
            message("spec-parallel-drafting", version, method=spec.method),
            'Drop "parallel_drafting": only dflash and dspark draft in parallel (always).',
            key,
        )


def _unknown_key(text: str, fix: str, key: str) -> Finding:
    return Finding(
        rule_id="VW154",
        name="speculative-config-key-refused",
        severity=Severity.ERROR,
        message=text,
        key=key,
        fix=fix,
    )
