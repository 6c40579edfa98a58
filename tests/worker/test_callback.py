"""The readiness callback against a fake gateway: signed, retried with backoff, bounded."""

import json
import logging

import pytest

from inference import signing
from inference.worker import callback

SECRET = "callback-secret-123"
FAST = callback.RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=5)


def _body(**extra):
    return callback.readiness_body(
        status="ready", model="m", model_id="org/name", revision="a" * 40, task="text-generation",
        provider="local", endpoint_id=None, worker_id="w1", load_seconds=1.23456, **extra,
    )


def test_delivered_after_transient_failures_and_signed(gateway, caplog):
    fake = gateway(statuses=[503, 429])
    delays: list[float] = []
    caplog.set_level(logging.DEBUG)
    result = callback.deliver(fake.url, SECRET, _body(), FAST, sleep=delays.append)
    assert result.delivered and result.attempts == 3 and result.status == 200
    received = fake.wait_for(3)
    bodies = {raw for _, raw in received}
    assert len(bodies) == 1  # the same body on every attempt, so the gateway can deduplicate by id
    for headers, raw in received:
        signing.verify(SECRET, headers, raw)  # every attempt is signed afresh and verifies
    payload = json.loads(received[0][1])
    assert payload["status"] == "ready" and payload["loadSeconds"] == 1.235 and payload["type"] == "worker.readiness"
    assert len(delays) == 2 and all(0 <= d <= FAST.max_delay for d in delays)
    assert SECRET not in caplog.text


def test_refusal_is_final(gateway):
    fake = gateway(statuses=[401, 401])
    delays: list[float] = []
    result = callback.deliver(fake.url, SECRET, _body(), FAST, sleep=delays.append)
    assert not result.delivered and result.attempts == 1 and result.status == 401 and delays == []


def test_retry_after_is_honoured_within_the_cap(gateway):
    fake = gateway(statuses=[429], retry_after="0.02")
    delays: list[float] = []
    result = callback.deliver(fake.url, SECRET, _body(), FAST, sleep=delays.append)
    assert result.delivered and delays == [0.02]


def test_gives_up_after_max_attempts_when_nobody_listens():
    from tests.worker.conftest import free_port

    delays: list[float] = []
    url = f"http://127.0.0.1:{free_port()}/callbacks/worker"  # nothing listens there
    result = callback.deliver(url, SECRET, _body(), FAST, sleep=delays.append)
    assert not result.delivered and result.attempts == FAST.max_attempts and len(delays) == FAST.max_attempts - 1


def test_backoff_grows_and_is_capped():
    policy = callback.RetryPolicy(base_delay=1.0, max_delay=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        assert all(0 <= policy.delay(attempt) <= ceiling for _ in range(50))
    assert policy.delay(1, retry_after=100) == 8.0


def test_failed_status_carries_the_error():
    body = _body(error="OSError: disk")
    assert body["error"] == "OSError: disk"
    assert "error" not in _body()


@pytest.mark.parametrize("status", [500, 502, 408])
def test_server_errors_are_retried(gateway, status):
    fake = gateway(statuses=[status])
    result = callback.deliver(fake.url, SECRET, _body(), FAST, sleep=lambda _: None)
    assert result.delivered and result.attempts == 2
