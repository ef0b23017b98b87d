"""Local NVIDIA GPUs as nvidia-smi reports them, each mapped to a GPUSpec.

nvidia-smi is asked up to three times, each call under a timeout:

1. ``--query-gpu=<FIELDS> --format=csv,noheader,nounits``: one row per physical GPU. Older
   drivers refuse newer fields ('Field "compute_cap" is not a valid field to query.'); an
   optional field is then dropped and the query repeated.
2. plain ``nvidia-smi``: the "CUDA Version" in its header (no query field carries it) and the
   memory of each MIG device from its "MIG devices" table.
3. ``nvidia-smi -L``, only when a GPU has MIG mode enabled: its MIG devices and their profiles.
   Such a GPU is reported as its MIG devices, which is what CUDA sees, never as a whole; one
   with MIG enabled but no MIG device offers CUDA nothing and is left out.

CUDA's total memory is memory.total minus memory.reserved (driver and firmware); drivers that do
not know memory.reserved already leave it out of memory.total. "No devices were found" is an
empty list; a missing, failing, hung or unreadable nvidia-smi is a DetectError.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import NamedTuple

from checker.errors import DetectError, GPUNotFoundError, reason
from checker.hardware.catalog import all_gpus, find_gpu
from checker.schemas.enums import Interconnect
from checker.schemas.error_words import error_text
from checker.schemas.gpu import GPUSpec
from checker.schemas.section import ConfigDict, Section, ValidationError

# the --query-gpu fields, in order; all but index, name and memory.total may be refused
FIELDS = "index,name,uuid,memory.total,memory.reserved,driver_version,compute_cap,mig.mode.current"
_REQUIRED = ("index", "name", "memory.total")
_MISSING = {"", "n/a", "[n/a]", "[not supported]", "[unknown error]"}
_BAD_FIELD = re.compile(r'Field "([^"]+)" is not a valid field to query')
_NO_DEVICES = "No devices were found"
_CUDA = re.compile(r"CUDA Version:\s*(\d+\.\d+)")
_MIG_TABLE_ROW = re.compile(r"^\|\s*(\d+)\s+\d+\s+\d+\s+(\d+)\s*\|\s*\d+MiB\s*/\s*(\d+)MiB", re.M)
_LIST_GPU = re.compile(r"^GPU (\d+): ")
_LIST_MIG = re.compile(r"^\s+MIG (\S+)\s+Device\s+(\d+): \(UUID: ([^)\s]+)\)")
_PROFILE_GB = re.compile(r"\.(\d+)gb")
_CC = re.compile(r"^(\d+)\.(\d+)$")
_NAME_IT = "or name the GPU with --gpu ('vllm-wizard gpus' lists them)"


class DetectedGPU(Section):
    model_config = ConfigDict(extra="forbid")

    index: int  # nvidia-smi index of the physical GPU
    name: str  # product name as nvidia-smi prints it (a MIG device: its GPU's)
    uuid: str | None = None  # GPU-... or, for a MIG device, MIG-...
    memory_total_mib: int  # memory.total; a MIG device: its own memory
    memory_reserved_mib: int | None = None  # driver/firmware share, not usable by CUDA
    driver_version: str | None = None
    cuda_version: str | None = None  # highest CUDA the driver supports
    compute_capability: str | None = None
    mig_profile: str | None = None  # e.g. "3g.40gb"
    mig_device: int | None = None
    catalog_name: str | None = None  # the catalog SKU; None when built from nvidia-smi figures
    spec: GPUSpec


class _Row(NamedTuple):
    gpu: int  # nvidia-smi index
    name: str
    uuid: str | None
    total_mib: int
    reserved_mib: int | None
    driver: str | None
    cc: str | None
    mig: bool


def detect_gpus(custom: Sequence[GPUSpec] = (), timeout_s: float = 10.0) -> list[DetectedGPU]:
    """The GPUs CUDA would see here, in nvidia-smi order. ``custom`` specs match first."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        raise DetectError(
            "nvidia-smi was not found on PATH",
            hint=f"install the NVIDIA driver, which ships nvidia-smi, {_NAME_IT}",
        )
    rows = _query(smi, timeout_s)
    if not rows:
        return []
    header = _run(smi, [], timeout_s).stdout
    cuda = _CUDA.search(header)
    mig_mib = {(int(g), int(d)): int(mib) for g, d, mib in _MIG_TABLE_ROW.findall(header)}
    listed = _mig_devices(smi, timeout_s) if any(r.mig for r in rows) else {}
    found: list[DetectedGPU] = []
    try:
        for row in rows:
            gpu = _physical(row, cuda[1] if cuda else None, custom)
            if not row.mig:
                found.append(gpu)
                continue
            for profile, device, uuid in listed.get(row.gpu, []):
                slot = mig_mib.get((row.gpu, device))
                found.append(_mig_slice(gpu, profile, device, uuid, slot))
        for gpu in found:  # model_copy skips validation: check what the figures made of a spec
            GPUSpec.model_validate(gpu.spec.model_dump())
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _unreadable(f"{'.'.join(map(str, err['loc']))}: {error_text(err)}") from None
    return found


def _run(smi: str, args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [smi, *args],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DetectError(
            f"nvidia-smi did not answer within {timeout_s:g} s",
            hint=f"the driver may be hung; run nvidia-smi by hand, {_NAME_IT}",
        ) from None
    except OSError as exc:
        raise DetectError(f"cannot run nvidia-smi: {reason(exc)}", hint=_NAME_IT) from None


def _failure(done: subprocess.CompletedProcess[str]) -> DetectError:
    lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines()]
    first = next((line for line in lines if line), "no output")[:200]
    if "couldn't communicate with the NVIDIA driver" in first:
        hint = f"the NVIDIA driver is not loaded or does not match its kernel module; {_NAME_IT}"
    else:
        hint = f"run nvidia-smi by hand to see why, {_NAME_IT}"
    return DetectError(f"nvidia-smi failed (exit code {done.returncode}): {first}", hint=hint)


def _query(smi: str, timeout_s: float) -> list[_Row]:
    fields = FIELDS.split(",")
    while True:
        args = [f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"]
        done = _run(smi, args, timeout_s)
        if _NO_DEVICES in done.stdout + done.stderr:
            return []
        if done.returncode == 0:
            return _parse_rows(done.stdout, fields)
        refused = _BAD_FIELD.search(done.stdout + done.stderr)
        if not refused or refused[1] not in fields or refused[1] in _REQUIRED:
            raise _failure(done)
        fields.remove(refused[1])


def _parse_rows(stdout: str, fields: list[str]) -> list[_Row]:
    rows: list[_Row] = []
    for line in filter(str.strip, stdout.splitlines()):
        values = [v.strip() for v in next(csv.reader([line]))]
        if len(values) != len(fields):
            raise _unreadable(line)
        cell = {f: v for f, v in zip(fields, values, strict=True) if v.lower() not in _MISSING}
        numbers = [cell.get("index"), cell.get("memory.total"), cell.get("memory.reserved", "0")]
        name_ok = "name" in cell and cell["name"].isprintable()  # no ESC sequences to echo
        if not name_ok or not all(n and n.isdecimal() for n in numbers):
            raise _unreadable(line)
        cc = cell.get("compute_cap", "")
        rows.append(
            _Row(
                gpu=int(cell["index"]),
                name=cell["name"],
                uuid=cell.get("uuid"),
                total_mib=int(cell["memory.total"]),
                reserved_mib=int(cell["memory.reserved"]) if "memory.reserved" in cell else None,
                driver=cell.get("driver_version"),
                cc=cc if _CC.match(cc) else None,
                mig=cell.get("mig.mode.current", "").lower() == "enabled",
            )
        )
    if not rows:
        raise _unreadable(stdout)
    return rows


def _unreadable(text: str) -> DetectError:
    return DetectError(
        f"cannot read nvidia-smi output: {text.strip()[:200]!r}",
        hint=f"check that 'nvidia-smi' on PATH is NVIDIA's, {_NAME_IT}",
    )


def _mig_devices(smi: str, timeout_s: float) -> dict[int, list[tuple[str, int, str]]]:
    """GPU index -> [(profile, MIG device number, MIG UUID)] from ``nvidia-smi -L``."""
    done = _run(smi, ["-L"], timeout_s)
    if done.returncode != 0:
        raise _failure(done)
    devices: dict[int, list[tuple[str, int, str]]] = {}
    current: int | None = None
    for line in done.stdout.splitlines():
        if gpu := _LIST_GPU.match(line):
            current = int(gpu[1])
        elif (mig := _LIST_MIG.match(line)) and current is not None:
            devices.setdefault(current, []).append((mig[1], int(mig[2]), mig[3]))
    return devices


def _physical(row: _Row, cuda: str | None, custom: Sequence[GPUSpec]) -> DetectedGPU:
    usable = row.total_mib - (row.reserved_mib or 0)
    if usable <= 0:
        raise _unreadable(f"{row.name}: memory.total {row.total_mib}, reserved {row.reserved_mib}")
    memory_gib = round(usable / 1024, 2)
    catalog_name: str | None = None
    try:
        base = find_gpu(row.name, custom)
    except GPUNotFoundError:
        spec = _estimate(row.name, memory_gib, row.cc)
    else:
        catalog_name = base.name
        source = (
            f"memory: nvidia-smi on this host ({row.total_mib} MiB total, "
            f"{row.reserved_mib or 0} MiB reserved); other figures: catalog {base.name}"
        )
        spec = base.model_copy(update={"memory_gib": memory_gib, "source": source})
    return DetectedGPU(
        index=row.gpu,
        name=row.name,
        uuid=row.uuid,
        memory_total_mib=row.total_mib,
        memory_reserved_mib=row.reserved_mib,
        driver_version=row.driver,
        cuda_version=cuda,
        compute_capability=row.cc,
        catalog_name=catalog_name,
        spec=spec,
    )


def _estimate(name: str, memory_gib: float, cc: str | None) -> GPUSpec:
    """A spec for a GPU the catalog lacks: nvidia-smi's figures plus a same-generation donor's."""
    parts = _CC.match(cc or "")
    if parts is None:
        raise DetectError(
            f"{name!r} is not in the GPU catalog and nvidia-smi does not report its compute "
            "capability",
            hint="describe it under hardware.custom_gpus, " + _NAME_IT,
        )
    capability = int(parts[1]) * 10 + int(parts[2])
    donor = min(
        (g for g in all_gpus() if g.vendor == "nvidia"),
        key=lambda g: (abs(g.capability - capability), abs(g.memory_gib - memory_gib)),
    )
    return GPUSpec(
        name=name[:128],
        memory_gib=memory_gib,
        memory_bandwidth_gbs=donor.memory_bandwidth_gbs,
        fp16_tflops=donor.fp16_tflops,
        fp8_tflops=donor.fp8_tflops if capability >= 89 else None,
        int8_tops=donor.int8_tops,
        compute_capability=f"{parts[1]}.{parts[2]}",
        interconnect=Interconnect.UNKNOWN,
        consumer="geforce" in name.lower(),
        source=(
            "not in the catalog: memory and compute capability from nvidia-smi; bandwidth and "
            f"TFLOPS borrowed from {donor.name} (cc {donor.compute_capability}), an estimate"
        ),
    )


def _mig_slice(
    gpu: DetectedGPU, profile: str, device: int, uuid: str, table_mib: int | None
) -> DetectedGPU:
    """One MIG device; its bandwidth and TFLOPS are its GPU's scaled by its memory share."""
    nominal = _PROFILE_GB.search(profile)
    if table_mib is not None:
        mib, where = table_mib, "nvidia-smi MIG table"
    elif nominal is not None:
        mib, where = int(nominal[1]) * 1000, "MIG profile name, approximate"
    else:
        raise _unreadable(f"MIG {profile} Device {device}")
    share = mib / gpu.memory_total_mib
    parent = gpu.spec
    spec = parent.model_copy(
        update={
            "name": f"{parent.name} MIG {profile}"[:128],
            "aliases": (),
            "memory_gib": round(mib / 1024, 2),
            "memory_bandwidth_gbs": round(parent.memory_bandwidth_gbs * share, 1),
            "fp16_tflops": round(parent.fp16_tflops * share, 1),
            "fp8_tflops": round(parent.fp8_tflops * share, 1) if parent.fp8_tflops else None,
            "int8_tops": round(parent.int8_tops * share, 1) if parent.int8_tops else None,
            "interconnect": Interconnect.UNKNOWN,  # MIG devices have no peer-to-peer links
            "nvlink_bandwidth_gbs": None,
            "source": (
                f"MIG {profile} of {parent.name}: memory from the {where}; bandwidth and TFLOPS "
                f"scaled by its memory share {share:.2f}, an estimate"
            ),
        }
    )
    return gpu.model_copy(
        update={
            "uuid": uuid,
            "memory_total_mib": mib,
            "memory_reserved_mib": None,
            "mig_profile": profile,
            "mig_device": device,
            "spec": spec,
        }
    )
