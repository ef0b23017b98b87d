"""MXFP4 experts on GPUs below capability 9.0 run on vLLM's Marlin MoE kernel, which pads each
expert's intermediate size to a multiple of 128 and the hidden size to a multiple of 256
(vllm/model_executor/layers/fused_moe/oracle/mxfp4.py, 0.19.0)."""

from __future__ import annotations

from checker.planning.engine.settings import resolve_settings
from checker.planning.memory.memory import plan_memory
from checker.schemas.gpu import GPUSpec
from tests.planning.conftest import H100, model, request

GIB = 2**30
A100 = GPUSpec(
    name="A100-SXM4-80GB",
    memory_gib=79.15,
    memory_bandwidth_gbs=2039,
    fp16_tflops=312,
    compute_capability="8.0",
)


def _weights(gpu: GPUSpec, util: float) -> float:
    m = model("openai__gpt-oss-20b")
    req = request(
        "openai/gpt-oss-20b", util=util, max_len=131072, version="0.19", quantization="mxfp4"
    )
    return plan_memory(m, resolve_settings(req, m, gpu, tp=1)).first.weights / GIB


def test_marlin_pads_hidden_and_intermediate_on_an_a100() -> None:
    # gpt-oss-20b: hidden 2880 -> 3072 and intermediate 2880 -> 2944 on Marlin, where the
    # capability 9.0 path keeps the hidden size and pads the intermediate size to 256 (3072).
    a100, h100 = _weights(A100, 0.65), _weights(H100, 0.65)
    experts_h100 = (a100 - h100) / (2944 / 2880 - 1)  # solve for the padded expert bytes
    assert 9.0 < experts_h100 < 10.5  # 24 layers x 32 experts x 3 x 2880 x 3072 x 4.25 bits
    # blog log (shared/validation, page-myoceane-a100-gpt-oss-20b-u065-131k), vLLM 0.19.0 on an
    # A100 80GB: "Model loading took 13.72 GiB memory"
    assert abs(a100 / 13.72 - 1) < 0.01


def _catalog_weights(model_id: str, gpu: GPUSpec, version: str) -> float:
    from checker.models import catalog
    from checker.models.config_parser import parse_config

    config = dict(catalog.lookup(model_id)[0])  # type: ignore[index]
    m = parse_config(config, model_id=model_id, source="catalog")
    req = request(model_id, util=0.9, max_len=8192, version=version, quantization="mxfp4")
    return plan_memory(m, resolve_settings(req, m, gpu, tp=1)).first.weights / GIB


def test_hopper_runs_mxfp4_on_marlin_before_0_12_0() -> None:
    # 0.10.1 pins torch 2.7.1 and 0.11.x ship no triton_kernels, so an H100 takes the Marlin
    # path (quantization/mxfp4.py of those wheels); the padding is the A100's.
    marlin = _weights(A100, 0.65)
    for version in ("0.10.1", "0.11.0", "0.11.2"):
        m = model("openai__gpt-oss-20b")
        req = request(
            "openai/gpt-oss-20b", util=0.65, max_len=131072, version=version, quantization="mxfp4"
        )
        assert plan_memory(m, resolve_settings(req, m, H100, tp=1)).first.weights / GIB == (marlin)
    assert _weights(H100, 0.65) < marlin  # 0.19.0 on Hopper: triton_kernels, no Marlin padding


def test_gpt_oss_120b_weights_on_h100_match_the_0_10_1_log() -> None:
    # vllm-project/vllm#23278, vLLM 0.10.1 on an H100: "Model loading took 65.9651 GiB", with
    # "Weight-only FP4 compression will be used leveraging the Marlin kernel"
    assert abs(_catalog_weights("openai/gpt-oss-120b", H100, "0.10.1") / 65.9651 - 1) < 0.005
    # vllm-project/vllm#33155, vLLM 0.14.1 on an H100 ("Using Triton backend"): 64.38 GiB
    assert abs(_catalog_weights("openai/gpt-oss-120b", H100, "0.14.1") / 64.38 - 1) < 0.005
