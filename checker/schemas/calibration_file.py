"""Where a command finds the calibration file, and loading it. The calibration's
classes (checker.schemas.calibration) are imported only when there is a file to read: most
checks have none, and defining the classes is a cold start's cost."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checker.schemas.calibration import Calibration

DEFAULT_NAME = "vllm-wizard.calibration.yaml"


def calibration_path(
    explicit: Path | None, config_path: Path | None, configured: str | None, cwd: Path
) -> tuple[Path, bool]:
    """(the calibration file, whether it must exist): ``--calibration``, else the repo config's
    ``calibration`` (relative to that file), else DEFAULT_NAME beside the repo config (or in
    ``cwd`` without one), used only when it exists."""
    if explicit is not None:
        return explicit, True
    if configured is not None and config_path is not None:
        return config_path.parent / configured, True
    return (config_path.parent if config_path else cwd) / DEFAULT_NAME, False


def load_calibration(path: Path, must_exist: bool) -> Calibration | None:
    if not must_exist and not path.exists():
        return None
    from checker.schemas.calibration import read_calibration

    return read_calibration(path)
