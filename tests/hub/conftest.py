"""Fixtures for the Hugging Face provider tests: a fake Hub the real client reaches via HF_ENDPOINT."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from huggingface_hub import constants

from tests.fakes.hub_server import FakeHub

TOKEN_OK = "hf_alice-token-with-access"
TOKEN_NO_ACCESS = "hf_bob-token-no-access"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = FakeHub({TOKEN_OK: "alice", TOKEN_NO_ACCESS: "bob"}).start()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    # huggingface_hub fetches an "agent harness" registry from its import-time endpoint to build
    # its user agent (and caches it under HF_HOME); tests must not reach out or write there.
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    # Only what a test configures may reach the provider.
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    yield fake
    fake.stop()
