"""Detection through a real subprocess call of a fake nvidia-smi that prints real formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main
from checker.errors import EXIT_USAGE, DetectError
from checker.hardware.catalog import find_gpu
from checker.hardware.detect import detect_gpus
from checker.pipeline import resolve_gpu
from checker.schemas.gpu import GPUSpec
from checker.schemas.inputs import HardwareInput
from tests.hardware.fake_smi import (
    A100_MIG,
    A100_MIG_LISTING,
    A100_MIG_TABLE_ROWS,
    DRIVER_FAILURE,
    GEFORCE,
    H100_NODE,
    gpu_row,
    install,
    table,
)


def test_h100_node_eight_gpus_with_cuda_and_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smi = install(tmp_path, monkeypatch, gpus=H100_NODE, table=table(H100_NODE))
    found = detect_gpus()
    assert [g.index for g in found] == list(range(8))
    first = found[0]
    assert first.name == "NVIDIA H100 80GB HBM3"
    assert first.catalog_name == "H100-SXM-80GB"
    assert (first.driver_version, first.cuda_version, first.compute_capability) == (
        "550.90.07",
        "12.4",
        "9.0",
    )
    assert (first.memory_total_mib, first.memory_reserved_mib) == (81559, 469)
    # total - reserved is what torch reports: the 79.19 GiB of the vLLM logs
    assert first.spec.memory_gib == 79.19
    assert first.spec.fp8_tflops == find_gpu("H100").fp8_tflops
    assert "nvidia-smi on this host" in first.spec.source
    calls = smi.calls()
    assert len(calls) == 2 and ["-L"] not in calls  # no MIG: no listing call
    assert calls[0][0].startswith("--query-gpu=index,name,")


def test_a100_mig_slices_replace_their_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        tmp_path,
        monkeypatch,
        gpus=A100_MIG,
        table=table(A100_MIG, A100_MIG_TABLE_ROWS),
        listing=A100_MIG_LISTING,
    )
    found = detect_gpus()
    assert [(g.index, g.mig_device, g.mig_profile) for g in found] == [
        (0, 0, "3g.40gb"),
        (0, 1, "2g.20gb"),
        (0, 2, "1g.10gb"),
        (1, None, None),
    ]
    big, _, small, whole = found
    assert big.uuid == "MIG-d771d938-b556-4f9d-b742-2dd26b864023"
    assert big.memory_total_mib == 40192 and big.spec.memory_gib == 39.25
    assert small.spec.memory_gib == 9.5
    assert big.spec.name == "A100-PCIe-80GB MIG 3g.40gb"
    assert big.catalog_name == whole.catalog_name == "A100-PCIe-80GB"
    # a slice gets its memory share of the card's bandwidth and compute
    assert big.spec.memory_bandwidth_gbs == pytest.approx(1935 * 40192 / 81920, abs=0.1)
    assert big.spec.fp16_tflops < whole.spec.fp16_tflops
    assert "MIG 3g.40gb" in big.spec.source
    assert whole.spec.memory_gib == round((81920 - 870) / 1024, 2)


def test_mig_memory_falls_back_to_profile_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(
        tmp_path,
        monkeypatch,
        gpus=A100_MIG[:1],
        table=table(A100_MIG[:1], A100_MIG_TABLE_ROWS[:2]),  # device 2 missing from the table
        listing=A100_MIG_LISTING,
    )
    small = detect_gpus()[2]
    assert small.memory_total_mib == 10000
    assert "approximate" in small.spec.source


def test_geforce_known_and_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, monkeypatch, gpus=GEFORCE, table=table(GEFORCE))
    known, unknown = detect_gpus()
    assert known.catalog_name == "RTX-4090" and known.spec.memory_gib == 23.52
    assert known.spec.consumer
    # not in the catalog: nvidia-smi's memory and cc, a same-generation donor's figures
    assert unknown.catalog_name is None
    assert unknown.spec.name == "NVIDIA GeForce RTX 4070 SUPER"
    assert unknown.spec.memory_gib == round((12282 - 400) / 1024, 2)
    assert unknown.spec.compute_capability == "8.9" and unknown.spec.consumer
    donor = find_gpu("RTX-4070-Ti")
    assert unknown.spec.fp16_tflops == donor.fp16_tflops
    assert "borrowed from RTX-4070-Ti" in unknown.spec.source


def test_custom_spec_matches_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, monkeypatch, gpus=GEFORCE[1:], table=table(GEFORCE[1:]))
    mine = GPUSpec(
        name="4070S",
        aliases=("GeForce RTX 4070 SUPER",),
        memory_gib=11.5,
        memory_bandwidth_gbs=504,
        fp16_tflops=71,
        compute_capability="8.9",
        source="measured",
    )
    (gpu,) = detect_gpus(custom=[mine])
    assert gpu.catalog_name == "4070S"
    assert gpu.spec.fp16_tflops == 71 and gpu.spec.memory_gib == round(11882 / 1024, 2)


def test_old_driver_fields_are_dropped_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # R470-era nvidia-smi: no memory.reserved, no compute_cap; total already excludes the reserve
    gpus = [gpu_row(0, "A100-SXM4-40GB", 40537, None, driver="470.57.02")]
    smi = install(
        tmp_path,
        monkeypatch,
        gpus=gpus,
        table=table(gpus),
        refuse=["memory.reserved", "compute_cap"],
    )
    (gpu,) = detect_gpus()
    assert gpu.catalog_name == "A100-SXM4-40GB"
    assert gpu.spec.memory_gib == 39.59 and gpu.memory_reserved_mib is None
    assert gpu.compute_capability is None
    queries = [c[0] for c in smi.calls() if c and c[0].startswith("--query-gpu=")]
    assert len(queries) == 3
    assert "memory.reserved" not in queries[-1] and "compute_cap" not in queries[-1]


def test_unknown_gpu_without_compute_cap_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gpus = [gpu_row(0, "NVIDIA Quadro RTX 8000", 48601, None, driver="470.57.02")]
    install(tmp_path, monkeypatch, gpus=gpus, table=table(gpus), refuse=["compute_cap"])
    with pytest.raises(DetectError, match="not in the GPU catalog.*compute capability"):
        detect_gpus()


def test_no_devices_is_an_empty_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, monkeypatch, gpus=[])
    assert detect_gpus() == []


def test_driver_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, monkeypatch, fail=(DRIVER_FAILURE, 9))
    with pytest.raises(DetectError) as caught:
        detect_gpus()
    text = str(caught.value)
    assert "exit code 9" in text and "couldn't communicate with the NVIDIA driver" in text
    assert "driver is not loaded" in text  # the hint


@pytest.mark.parametrize(
    "garbage",
    [
        "Segmentation fault (core dumped)\n",
        "0, NVIDIA H100 80GB HBM3, GPU-1, 81559 MiB, 469, 550.90.07, 9.0, Disabled\n",
        "0, NVIDIA H100 80GB HBM3\n",
        "",
    ],
)
def test_unparsable_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, garbage: str) -> None:
    install(tmp_path, monkeypatch, query_raw=garbage)
    with pytest.raises(DetectError, match="cannot read nvidia-smi output"):
        detect_gpus()


def test_missing_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DetectError, match="not found on PATH"):
        detect_gpus()


def test_hung_nvidia_smi_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, monkeypatch, gpus=H100_NODE, sleep=5.0)
    with pytest.raises(DetectError, match="did not answer within 0.5 s"):
        detect_gpus(timeout_s=0.5)


def test_pipeline_auto_uses_the_first_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(
        tmp_path,
        monkeypatch,
        gpus=A100_MIG,
        table=table(A100_MIG, A100_MIG_TABLE_ROWS),
        listing=A100_MIG_LISTING,
    )
    assert resolve_gpu(HardwareInput(gpu="auto")).name == "A100-PCIe-80GB MIG 3g.40gb"


# ---- the CLI ----


def test_cli_detect_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(tmp_path, monkeypatch, gpus=GEFORCE, table=table(GEFORCE))
    assert main(["detect"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["GPU", "NAME", "MEMORY", "GiB", "CC", "CATALOG", "SKU"]
    assert "NVIDIA GeForce RTX 4090" in out[1] and out[1].rstrip().endswith("RTX-4090")
    assert "not in catalog" in out[2]
    assert out[-1] == "driver 550.90.07, CUDA 12.4"


def test_cli_detect_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(tmp_path, monkeypatch, gpus=H100_NODE, table=table(H100_NODE))
    assert main(["detect", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["gpus"]) == 8
    assert data["gpus"][7]["spec"]["name"] == "H100-SXM-80GB"
    assert GPUSpec.model_validate(data["gpus"][0]["spec"]).memory_gib == 79.19


def test_cli_detect_no_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install(tmp_path, monkeypatch, gpus=[])
    assert main(["detect"]) == 0
    assert "no NVIDIA GPU detected" in capsys.readouterr().out
    assert main(["detect", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"gpus": []}


def test_cli_detect_missing_and_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["detect"]) == EXIT_USAGE
    assert "nvidia-smi was not found" in capsys.readouterr().err
    install(tmp_path, monkeypatch, fail=(DRIVER_FAILURE, 9))
    assert main(["detect", "--json"]) == EXIT_USAGE
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # a script reading stdout still gets JSON
    assert report["gpus"] == [] and "exit code 9" in report["error"]
    assert "exit code 9" in captured.err
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert main(["detect", "--json"]) == EXIT_USAGE
    assert "nvidia-smi was not found" in json.loads(capsys.readouterr().out)["error"]


def test_mig_enabled_without_devices_offers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing = "".join(
        line + "\n" for line in A100_MIG_LISTING.splitlines() if line.startswith("GPU")
    )
    install(tmp_path, monkeypatch, gpus=A100_MIG, table=table(A100_MIG), listing=listing)
    assert [(g.index, g.mig_device) for g in detect_gpus()] == [(1, None)]
