"""Fixtures for model metadata: a fake Hub on 127.0.0.1 reached the way a user reaches the Hub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from checker.models.hub import RetryPolicy
from checker.models.resolve import clear_cache
from tests.models.fake_hub import FakeHub

TOKEN = "hf_s3cretTOKENvalue0123456789abcdef"
FAST = RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=5.0)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake Hub, online: HF_ENDPOINT points at it and HF_HUB_OFFLINE is unset.

    huggingface_hub reads HF_HUB_OFFLINE once, when first imported, and the suite-wide fixture
    sets it; so its copy is switched off here too, as a process started online would have it.
    """
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    clear_cache()
    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.url)
        yield fake
    clear_cache()
