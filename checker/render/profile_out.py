"""The `profile` artifact: the profile a plan was made from, flag overrides included."""

from __future__ import annotations

from checker.render.context import RenderContext
from checker.schemas.inputs import PlanRequest
from checker.schemas.profile import (
    Profile,
    ProfileHardware,
    ProfileModel,
    ProfilePolicy,
    ProfileVLLM,
    ProfileWorkload,
)
from checker.schemas.profile_io import dump_profile


def profile_from_request(request: PlanRequest, base: Profile | None = None) -> Profile:
    """A profile holding ``request``'s settings; deploy, outputs, targets and custom GPUs from
    ``base`` (the profile the request was read from, if any)."""
    m, hw, w, pol, eng = (
        request.model,
        request.hardware,
        request.workload,
        request.policy,
        request.engine,
    )
    base_hw = base.hardware if base else ProfileHardware()
    return Profile(
        model=ProfileModel(
            id=m.model,
            revision=m.revision,
            config=base.model.config if base and base.model.config else m.config_path,
            dtype=m.dtype,
            quantization=m.quantization,
            kv_cache_dtype=m.kv_cache_dtype,
            max_model_len=m.max_model_len,
            params_b=m.params_b,
            trust_remote_code=m.trust_remote_code,
            tokenizer=m.tokenizer,
        ),
        hardware=ProfileHardware(
            gpu_name=hw.gpu,
            gpus=hw.gpus,
            vram_gb=hw.vram_gb,
            interconnect=hw.interconnect,
            tp_size=hw.tensor_parallel_size,
            pp_size=hw.pipeline_parallel_size,
            targets=base_hw.targets,
            custom_gpus=base_hw.custom_gpus,
        ),
        workload=ProfileWorkload(
            prompt_tokens=w.prompt_tokens,
            gen_tokens=w.gen_tokens,
            concurrency=w.concurrency,
            streaming=w.streaming,
            mode=w.batching_mode,
            target_latency_ms=w.target_latency_ms,
        ),
        policy=ProfilePolicy(
            gpu_memory_utilization=pol.gpu_memory_utilization,
            overhead_gb=pol.overhead_gb,
            fragmentation_factor=pol.fragmentation_factor,
            headroom_gb=pol.headroom_gb,
            instances_per_gpu=pol.instances_per_gpu,
        ),
        vllm=ProfileVLLM(**eng.model_dump(exclude={"vllm_version"}), version=eng.vllm_version),
        deploy=base.deploy
        if base
        else Profile.model_fields["deploy"].get_default(call_default_factory=True),
        outputs=base.outputs
        if base
        else Profile.model_fields["outputs"].get_default(call_default_factory=True),
    )


def profile_text(ctx: RenderContext, header: str) -> str:
    """YAML of the context's profile: the editor modeline first, our header next."""
    profile = ctx.profile or Profile(model=ProfileModel(id=ctx.plan.config.model))
    first, _, rest = dump_profile(profile).partition("\n")
    return f"{first}\n{header}\n{rest}"
