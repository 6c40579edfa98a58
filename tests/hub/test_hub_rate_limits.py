"""The provider honours the Hub's rate limit the way the Hub states it, within a bound.

The Hub's 429 says how long to wait in `RateLimit: "api";r=0;t=<seconds>` (no Retry-After); the
fake answers the same. Waits go through hf_retry's `sleep` seam, so nothing sleeps for real here.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.providers import hf_hub, hf_retry
from components.providers.huggingface import HuggingFaceModelProvider
from tests.fakes.checkpoints import model_repo
from tests.fakes.hub_server import FakeHub
from tests.fakes.provider_config import configured
from tests.hub.conftest import TOKEN_OK

REPO = "acme/tiny-lm"


@pytest.fixture
def sha(hub: FakeHub) -> str:
    hub.add_repo(REPO, pipeline_tag="text-generation", library_name="transformers")
    return hub.commit(REPO, model_repo(seed=0))


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    # raising=False: before the fix there was no seam, and the provider slept its own backoff.
    monkeypatch.setattr(hf_retry, "sleep", recorded.append, raising=False)
    return recorded


def create(token: str | None = None) -> dict[str, Any]:
    p = configured(HuggingFaceModelProvider(), {"hfToken": token} if token else {})
    inputs = p.check({}, {"source": f"hf://{REPO}", "task": None}).inputs
    return p.create(inputs).outs


def _api_calls(hub: FakeHub) -> list[str]:
    return [r.path for r in hub.requests if r.path.startswith(f"/api/models/{REPO}")]


def test_a_rate_limited_plan_waits_what_the_hub_says_then_pins(hub: FakeHub, sha: str, waits: list[float]) -> None:
    hub.rate_limit(times=2, reset_s=1)
    assert create()["sha"] == sha
    # t=1 from the header, plus the second huggingface_hub itself adds against rounding
    assert waits == [2.0, 2.0]
    assert len(_api_calls(hub)) == 3


def test_refresh_waits_too(hub: FakeHub, sha: str, waits: list[float]) -> None:
    hub.rate_limit(times=1, reset_s=3)
    assert hf_hub.resolve_sha(REPO, "main", None) == sha
    assert waits == [4.0]


def test_a_persistent_rate_limit_fails_naming_the_model_within_the_budget(hub: FakeHub, sha: str, waits: list[float]) -> None:
    hub.rate_limit(times=1000, reset_s=30)
    with pytest.raises(hf_hub.HubError) as failed:
        create(TOKEN_OK)
    message = str(failed.value)
    assert f"huggingface:Model {REPO}" in message and "rate-limited" in message and "'api'" in message
    assert "still did after 310 s of waiting" in message and "run pulumi up again" in message
    assert TOKEN_OK not in message
    assert sum(waits) <= hf_retry.RATE_LIMIT_BUDGET_S
    assert len(waits) == min(hf_retry.RATE_LIMIT_RETRIES, int(hf_retry.RATE_LIMIT_BUDGET_S // 31))  # no more
    assert len(_api_calls(hub)) == len(waits) + 1


def test_a_wait_beyond_the_budget_is_not_attempted(hub: FakeHub, sha: str, waits: list[float]) -> None:
    hub.rate_limit(times=1, reset_s=3600)
    with pytest.raises(hf_hub.HubError, match=r"asks to wait 3601 s") as failed:
        create()
    assert waits == [] and len(_api_calls(hub)) == 1
    # anonymous callers get the lowest limit: the error says how to raise it
    assert "credentials.hfToken" in str(failed.value)


def test_a_429_with_retry_after_only_still_waits_that(hub: FakeHub, sha: str, waits: list[float]) -> None:
    hub.fail_api(429, times=1, retry_after=5)
    assert create()["sha"] == sha
    assert waits == [5.0]
