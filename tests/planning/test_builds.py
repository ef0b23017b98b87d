"""Which build of a vLLM release runs (data/vllm_builds.yaml): the official image holds
FlashInfer before the wheel requires it, so a plan of the image and a plan of `pip install vllm`
differ where V1 samples with FlashInfer by default (0.8.0 to 0.11.0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main
from checker.planning.engine.releases import build_has, mxfp4_uses_marlin
from tests.planning.plans import plan

GPUSTACK = {"version": "0.10.2", "max_model_len": 32768, "quantization": "mxfp4"}


@pytest.mark.parametrize(
    ("package", "version", "image", "pip"),
    [
        ("flashinfer", "0.8.5", True, False),
        ("flashinfer", "0.10.2", True, False),
        ("flashinfer", "0.11.0", True, False),
        ("flashinfer", "0.11.1", True, True),  # the wheel requires flashinfer-python
        ("triton_kernels", "0.11.2", False, False),  # no Dockerfile installs it
        ("triton_kernels", "0.12.0", True, True),  # bundled as vllm/third_party/triton_kernels
        ("triton_kernels", "0.19.0", True, True),
    ],
)
def test_each_build_holds_the_kernels_its_release_shipped(
    package: str, version: str, image: bool, pip: bool
) -> None:
    assert build_has(package, version, "image") is image
    assert build_has(package, version, "pip") is pip


def test_hopper_leaves_marlin_for_mxfp4_where_the_build_has_triton_kernels() -> None:
    for install in ("image", "pip"):
        assert mxfp4_uses_marlin(90, "0.11.2", install)
        assert not mxfp4_uses_marlin(90, "0.12.0", install)
        assert mxfp4_uses_marlin(80, "0.19.0", install)  # Ampere always


def test_gpt_oss_120b_at_32k_on_one_h100_starts_from_the_image() -> None:
    # GPUStack's performance lab benchmarked `vllm serve openai/gpt-oss-120b --max-model-len
    # 32768` on one H100 with vLLM 0.10.2 (docs/performance-lab/gpt-oss-120b/h100.md): the
    # image's FlashInfer sampler leaves room for the KV cache of one 32k request
    image = plan("openai/gpt-oss-120b", "H100-SXM-80GB", **GPUSTACK)
    f = image.feasibility
    assert f.fits and f.kv is not None and f.max_concurrency_at_context >= 1
    # the wheel sorts the 1,024 x 201,088 logits with torch: no memory for KV blocks
    # (vllm#23278 at 0.10.1, a pip install: "Available KV cache memory: -2.14 GiB")
    pip = plan("openai/gpt-oss-120b", "H100-SXM-80GB", install="pip", **GPUSTACK).feasibility
    assert not pip.fits and "VW202" in [x.rule_id for x in pip.findings]
    assert image.feasibility.memory.activation_gib < pip.memory.activation_gib


PROFILE = """\
profile_version: 1
model: {{id: openai/gpt-oss-20b, max_model_len: 8192}}
hardware: {{gpu_name: H100-SXM-80GB, gpus: 1}}
vllm: {{version: "0.10.2", install: pip}}
{deploy}"""


@pytest.mark.parametrize(
    ("emit", "deploy", "code"),
    [
        ("command", "", 0),  # a serve command runs wherever vLLM is installed
        ("docker", "", 2),  # would run the official image, which the plan did not size
        ("k8s", "", 2),
        ("docker,k8s", "deploy: {image: registry.example/vllm-pip:0.10.2}", 0),
    ],
)
def test_artifacts_run_the_build_the_plan_sized(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emit: str, deploy: str, code: int
) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE.format(deploy=deploy), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["generate", "--profile", str(profile), "-o", str(out), "--emit", emit]) == code
    if code:
        err = capsys.readouterr().err
        assert "vllm.install" in err and "vllm/vllm-openai:v0.10.2" in err
        assert "deploy.image" in err


def test_flags_plan_and_generate_the_pip_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = ["-m", "openai/gpt-oss-120b", "--gpu", "H100-SXM-80GB", "--max-model-len", "32768"]
    flags += ["--vllm-version", "0.10.2"]
    assert main(["plan", *flags]) == 0
    assert main(["plan", *flags, "--install", "pip"]) == 1
    out = tmp_path / "out"
    generate = ["generate", *flags, "--install", "pip", "-o", str(out), "--emit", "docker"]
    generate.append("--force")  # past the pip build's FAIL: the docker artifact is still refused
    capsys.readouterr()
    assert main(generate) == 2
    assert "vllm.install is pip" in capsys.readouterr().err
