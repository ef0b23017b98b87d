"""A fake ``nvidia-smi`` executable that prints real nvidia-smi output formats.

``install`` writes a small program into a temporary directory, puts that directory first on
PATH and returns the machine it imitates. The program answers the three calls detection makes
(``--query-gpu=...``, plain ``nvidia-smi``, ``-L``), printing only the fields asked for, in
the order asked, as nvidia-smi's ``csv,noheader,nounits`` does; it refuses fields an older
driver lacks and logs every call. The texts below follow outputs published in public
repositories (driver 550 layouts: H100 HGX node, A100 80GB PCIe with MIG, GeForce desktops).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

_PROGRAM = r"""
import json, pathlib, sys, time
here = pathlib.Path(sys.argv[1])
args = sys.argv[2:]
cfg = json.loads((here / "machine.json").read_text())
with open(here / "calls.log", "a") as log:
    log.write(json.dumps(args) + "\n")
time.sleep(cfg["sleep"])
if cfg["fail"]:
    sys.stdout.write(cfg["fail"][0])
    sys.exit(cfg["fail"][1])
query = [a for a in args if a.startswith("--query-gpu=")]
if query:
    fields = query[0].split("=", 1)[1].split(",")
    for name in fields:
        if name in cfg["refuse"]:
            print('Field "%s" is not a valid field to query.' % name)
            sys.exit(2)
    if cfg["query_raw"] is not None:
        sys.stdout.write(cfg["query_raw"])
        sys.exit(0)
    if not cfg["gpus"]:
        print("No devices were found")
        sys.exit(6)
    for gpu in cfg["gpus"]:
        print(", ".join(gpu[name] for name in fields))
elif args == ["-L"]:
    sys.stdout.write(cfg["listing"])
else:
    sys.stdout.write(cfg["table"])
"""

DRIVER_FAILURE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n\n"
)

_HEAD = """\
Tue Nov 12 09:48:31 2024
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI {driver}              Driver Version: {driver}      CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |
|                                         |                        |               MIG M. |
|=========================================+========================+======================|
"""
_GPU = """\
|   {i}  {name:<31}On  |   00000000:{bus:02X}:00.0 Off |                    0 |
| N/A   24C    P0             99W /  700W |       0MiB / {total:>6}MiB |      0%      Default |
|                                         |                        |             {mig:>8} |
+-----------------------------------------+------------------------+----------------------+
"""
_PROCESSES = """
+-----------------------------------------------------------------------------------------+
| Processes:                                                                              |
|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |
|        ID   ID                                                               Usage      |
|=========================================================================================|
|  No running processes found                                                             |
+-----------------------------------------------------------------------------------------+
"""
_MIG_HEAD = """
+-----------------------------------------------------------------------------------------+
| MIG devices:                                                                            |
+------------------+----------------------------------+-----------+-----------------------+
| GPU  GI  CI  MIG |                     Memory-Usage |        Vol|        Shared         |
|      ID  ID  Dev |                       BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |
|                  |                                  |        ECC|                       |
|==================+==================================+===========+=======================|
"""
_MIG_ROW = (
    "|  {gpu}   {gi:>2}   0   {dev}  |             107MiB / {mib:>5}MiB    "
    "| 42      0 |  3   0    2    0    0 |\n"
    "|                  |                 0MiB / 65535MiB  |           |                       |\n"
    "+------------------+----------------------------------+-----------+-----------------------+\n"
)


def gpu_row(
    index: int,
    name: str,
    total: int,
    reserved: int | None,
    *,
    driver: str = "550.90.07",
    cc: str = "9.0",
    mig: str = "Disabled",
) -> dict[str, str]:
    """One GPU as --query-gpu prints it (nounits: MiB as bare integers; [N/A] when unknown)."""
    return {
        "index": str(index),
        "name": name,
        "uuid": f"GPU-{index:08x}-2150-7cb7-b4d2-93705d00c323",
        "memory.total": str(total),
        "memory.reserved": "[N/A]" if reserved is None else str(reserved),
        "driver_version": driver,
        "compute_cap": cc,
        "mig.mode.current": mig,
    }


def table(gpus: list[dict[str, str]], mig_rows: Sequence[tuple[int, int, int, int]] = ()) -> str:
    """Plain ``nvidia-smi`` output; ``mig_rows`` are (gpu, gpu instance, device, MiB)."""
    driver = gpus[0]["driver_version"] if gpus else "550.90.07"
    text = _HEAD.format(driver=driver, cuda="12.4")
    for g in gpus:
        text += _GPU.format(
            i=g["index"],
            name=g["name"] if len(g["name"]) <= 31 else g["name"][:28] + "...",
            bus=0x18 + 16 * int(g["index"]),
            total=g["memory.total"],
            mig=g["mig.mode.current"] if g["mig.mode.current"] != "[N/A]" else "N/A",
        )
    if mig_rows:
        text += _MIG_HEAD + "".join(
            _MIG_ROW.format(gpu=gpu, gi=gi, dev=dev, mib=mib) for gpu, gi, dev, mib in mig_rows
        )
    return text + _PROCESSES


@dataclass
class Machine:
    """What the fake nvidia-smi answers; change it and call ``save``."""

    root: Path
    gpus: list[dict[str, str]] = field(default_factory=list)
    table: str = ""
    listing: str = ""
    refuse: list[str] = field(default_factory=list)
    query_raw: str | None = None
    fail: tuple[str, int] | None = None
    sleep: float = 0.0

    def save(self) -> Machine:
        config: dict[str, Any] = {k: v for k, v in vars(self).items() if k != "root"}
        (self.root / "machine.json").write_text(json.dumps(config), encoding="utf-8")
        return self

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.log"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **answers: Any) -> Machine:
    root = tmp_path / "fake-smi"
    root.mkdir(exist_ok=True)
    (root / "program.py").write_text(_PROGRAM, encoding="utf-8")
    exe = root / "nvidia-smi"
    exe.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{root / "program.py"}" "{root}" "$@"\n',
        encoding="utf-8",
    )
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(root))
    return Machine(root=root, **answers).save()


# ---- machines ----

H100_NODE = [gpu_row(i, "NVIDIA H100 80GB HBM3", 81559, 469) for i in range(8)]

A100_MIG = [
    gpu_row(0, "NVIDIA A100 80GB PCIe", 81920, 870, driver="550.54.15", cc="8.0", mig="Enabled"),
    gpu_row(1, "NVIDIA A100 80GB PCIe", 81920, 870, driver="550.54.15", cc="8.0"),
]
A100_MIG_LISTING = """\
GPU 0: NVIDIA A100 80GB PCIe (UUID: GPU-4101de38-535a-4255-ac14-a63e072d7a10)
  MIG 3g.40gb     Device  0: (UUID: MIG-d771d938-b556-4f9d-b742-2dd26b864023)
  MIG 2g.20gb     Device  1: (UUID: MIG-08bce7f3-bac7-4715-b56f-91541f15fe37)
  MIG 1g.10gb     Device  2: (UUID: MIG-761ea9d1-82ac-41cb-9e19-d3593973f144)
GPU 1: NVIDIA A100 80GB PCIe (UUID: GPU-5ac08ef4-9737-c367-bf80-200f205f6014)
"""
A100_MIG_TABLE_ROWS = [(0, 1, 0, 40192), (0, 5, 1, 19968), (0, 13, 2, 9728)]

GEFORCE = [
    gpu_row(0, "NVIDIA GeForce RTX 4090", 24564, 480, cc="8.9", mig="[N/A]"),
    gpu_row(1, "NVIDIA GeForce RTX 4070 SUPER", 12282, 400, cc="8.9", mig="[N/A]"),
]
