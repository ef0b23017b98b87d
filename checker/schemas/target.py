"""GPU targets written "NAME" or "NAME:COUNT": one parser for every place a user writes one
(``check``/``plan``/``audit`` ``--gpu``, a profile's and the repo config's ``targets``, the
fleet file's short form), so each says the same thing about the same mistake."""

from __future__ import annotations

from checker.errors import ProfileError
from checker.schemas.lazy_dataclass import lazy_dataclass

MAX_NAME = 128
MAX_COUNT = 4096  # the bound of hardware.gpus, so a target never fails later as a request
TARGET_HINT = f"the count is a whole number from 1 to {MAX_COUNT}, e.g. H100-SXM-80GB:2"


@lazy_dataclass(frozen=True)
class Target:
    """One GPU target of a profile: a catalog name (or 'auto') and a GPU count."""

    gpu: str
    count: int

    def __str__(self) -> str:
        return f"{self.gpu}:{self.count}"


def parse_target(text: str) -> Target:
    """``text`` as a target. Space around the name and the count is dropped (a shell variable
    or a YAML value may carry it; no GPU name starts or ends with one); no name holds a colon."""
    target = _parsed(text)
    if target is None:
        raise ProfileError(target_error(text), hint=TARGET_HINT)
    return target


def _parsed(text: str) -> Target | None:
    name, colon, count = (part.strip() for part in text.partition(":"))
    if not 1 <= len(name) <= MAX_NAME:
        return None
    if not colon:
        return Target(name, 1)
    digits = count.isascii() and count.isdigit() and not count.startswith("0")
    if digits and len(count) <= len(str(MAX_COUNT)) and int(count) <= MAX_COUNT:
        return Target(name, int(count))
    return None


def target_error(text: str) -> str:
    return f'GPU target {text[:200]!r} is not "NAME" or "NAME:COUNT"'


def well_formed_targets(value: list[str]) -> list[str]:
    """A field validator's check of a list of targets (a profile's or the repo config's)."""
    bad = next((item for item in value if _parsed(item) is None), None)
    if bad is not None:
        raise ValueError(f"{target_error(bad)} ({TARGET_HINT})")
    return value
