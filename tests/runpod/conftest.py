"""Fixtures for the Runpod provider tests: the fake Runpod server, fast retry settings, recorded waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from components.providers import http
from tests.fakes.runpod_server import FakeRunpod
from tests.runpod.support import FAST_RETRIES


@pytest.fixture
def runpod_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)
    # Credentials come only from what each test configures, never from the developer's shell.
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    return dict(FAST_RETRIES)


@pytest.fixture
def runpod_fake(runpod_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunpod]:
    """A fresh fake Runpod on 127.0.0.1; fails the test if any request or response broke the spec."""
    fake = FakeRunpod().start()
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    try:
        yield fake
    finally:
        fake.stop()
    assert fake.violations == [], "requests or responses that do not match the Runpod API:\n" + "\n".join(
        fake.violations
    )


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every retry wait instead of sleeping it (Retry-After would otherwise cost seconds)."""
    recorded: list[float] = []
    monkeypatch.setattr(http, "_pause", recorded.append)
    return recorded
