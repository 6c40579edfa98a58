"""Fixtures for the Runpod provider tests: the fake Runpod server and configured providers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from components.providers import http
from tests.fakes.runpod_server import FakeRunpod

P = TypeVar("P")

# Short, but not so short that a busy CI machine turns ordinary requests into timeouts.
FAST_RETRIES = {
    "MODELSTACK_HTTP_TIMEOUT_SECONDS": "2",
    "MODELSTACK_HTTP_MAX_ATTEMPTS": "4",
    "MODELSTACK_HTTP_BACKOFF_SECONDS": "0.01",
    "MODELSTACK_HTTP_MAX_BACKOFF_SECONDS": "0.05",
    "MODELSTACK_IN_USE_TIMEOUT_SECONDS": "3",
}


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


def stack_config(api_key: str) -> dict[str, Any]:
    """What the engine sends a dynamic provider's configure(): the stack config, credentials as JSON."""
    return {"modelstack:credentials": json.dumps({"runpodApiKey": api_key})}


def configured(provider: P, api_key: str) -> P:
    """The provider as the provider server hands it over: configured with the stack's credentials."""
    provider.configure(ConfigureRequest(Config(stack_config(api_key), "modelstack")))  # type: ignore[attr-defined]
    return provider
