"""The shared HTTP client's retry rules, against a real local server (the fake Runpod API)."""

from __future__ import annotations

import email.utils
import socket
import time

import httpx
import pytest

from components.providers import http
from components.providers.http import (
    AmbiguousError,
    ApiError,
    HttpClient,
    NotFoundError,
    Redactor,
    RetryPolicy,
    TransientError,
    create_once,
    parse_retry_after,
    retry_while_in_use,
)
from tests.fakes.runpod_server import FakeRunpod, Fault

RESOURCE = "runpod:Template 'demo'"


def client_for(fake: FakeRunpod, **kwargs: object) -> HttpClient:
    return HttpClient(fake.url, headers={"Authorization": f"Bearer {fake.api_key}"},
                      redactor=Redactor([fake.api_key]), **kwargs)  # type: ignore[arg-type]


def list_templates(client: HttpClient) -> http.ApiResponse:
    return client.request("GET", "/v2/templates", resource=RESOURCE, operation="read")


def test_429_waits_what_retry_after_says_then_succeeds(runpod_fake: FakeRunpod, waits: list[float]) -> None:
    runpod_fake.inject("listTemplates", Fault.rate_limited(retry_after=7))
    with client_for(runpod_fake) as client:
        response = list_templates(client)
    assert response.status == 200 and response.body == {"templates": []}
    assert waits == [7.0]
    assert [r.status for r in runpod_fake.calls("listTemplates")] == [429, 200]


def test_429_is_retried_even_for_a_create(runpod_fake: FakeRunpod, waits: list[float]) -> None:
    # A rate-limited request was not processed, so repeating a POST cannot duplicate anything.
    runpod_fake.inject("createTemplate", Fault.rate_limited(retry_after=2))
    with client_for(runpod_fake) as client:
        client.request("POST", "/v2/templates", json={"name": "t", "image": "img"}, resource=RESOURCE,
                       operation="create", idempotent=False)
    assert waits == [2.0]
    assert len(runpod_fake.templates) == 1


def test_retry_after_is_capped(runpod_fake: FakeRunpod, waits: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELSTACK_HTTP_MAX_RETRY_AFTER_SECONDS", "45")
    runpod_fake.inject("listTemplates", Fault.rate_limited(retry_after=3600))
    with client_for(runpod_fake) as client:
        list_templates(client)
    assert waits == [45.0]


def test_retry_after_accepts_an_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after("12") == 12
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_is_retried_with_bounded_backoff_for_idempotent_requests(
    runpod_fake: FakeRunpod, waits: list[float], status: int
) -> None:
    runpod_fake.inject("listTemplates", Fault.server_error(status), times=2)
    with client_for(runpod_fake) as client:
        assert list_templates(client).status == 200
    assert [r.status for r in runpod_fake.calls("listTemplates")] == [status, status, 200]
    policy = RetryPolicy.from_env()
    assert len(waits) == 2 and all(0 <= w <= policy.max_backoff_seconds for w in waits)


def test_5xx_on_a_create_is_ambiguous_and_not_repeated(runpod_fake: FakeRunpod, waits: list[float]) -> None:
    runpod_fake.inject("createTemplate", Fault.server_error(500))
    with client_for(runpod_fake) as client, pytest.raises(AmbiguousError) as caught:
        client.request("POST", "/v2/templates", json={"name": "t", "image": "img"}, resource=RESOURCE,
                       operation="create", idempotent=False)
    assert len(runpod_fake.calls("createTemplate")) == 1
    assert str(caught.value).startswith(f"{RESOURCE}: create failed: HTTP 500")
    assert "may have been applied" in str(caught.value)


def test_gives_up_after_the_configured_attempts(runpod_fake: FakeRunpod, waits: list[float]) -> None:
    runpod_fake.inject("listTemplates", Fault.server_error(503), times=100)
    with client_for(runpod_fake) as client, pytest.raises(TransientError) as caught:
        list_templates(client)
    attempts = RetryPolicy.from_env().max_attempts
    assert len(runpod_fake.calls("listTemplates")) == attempts
    message = str(caught.value)
    assert message.startswith(f"{RESOURCE}: read failed: gave up after {attempts} attempts: HTTP 503")
    assert "upstream temporarily unavailable" in message  # the API's own words


def test_a_hanging_response_times_out_and_is_retried(
    runpod_fake: FakeRunpod, waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELSTACK_HTTP_TIMEOUT_SECONDS", "0.3")
    runpod_fake.inject("listTemplates", Fault.hang())
    with client_for(runpod_fake) as client:
        started = time.monotonic()
        assert list_templates(client).status == 200
    assert time.monotonic() - started < 5
    assert [r.status for r in runpod_fake.calls("listTemplates")] == ["hung", 200]


def test_a_dropped_connection_is_retried_for_reads(runpod_fake: FakeRunpod, waits: list[float]) -> None:
    runpod_fake.inject("listTemplates", Fault.drop_after_commit())
    with client_for(runpod_fake) as client:
        assert list_templates(client).status == 200
    assert [r.status for r in runpod_fake.calls("listTemplates")] == ["dropped", 200]


def test_a_dropped_create_is_ambiguous(runpod_fake: FakeRunpod, waits: list[float]) -> None:
    runpod_fake.inject("createTemplate", Fault.drop_after_commit())
    with client_for(runpod_fake) as client, pytest.raises(AmbiguousError):
        client.request("POST", "/v2/templates", json={"name": "t", "image": "img"}, resource=RESOURCE,
                       operation="create", idempotent=False)
    assert len(runpod_fake.templates) == 1  # applied, though the answer never came


def test_404_raises_not_found_at_once(runpod_fake: FakeRunpod, waits: list[float]) -> None:
    with client_for(runpod_fake) as client, pytest.raises(NotFoundError) as caught:
        client.request("GET", "/v2/templates/nope", resource=RESOURCE, operation="read")
    assert caught.value.status == 404 and waits == []
    assert "template nope not found" in str(caught.value)


def test_connection_refused_is_retried_then_reported(waits: list[float], runpod_env: dict[str, str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with HttpClient(f"http://127.0.0.1:{port}") as client, pytest.raises(TransientError) as caught:
        client.request("POST", "/v2/templates", json={}, resource=RESOURCE, operation="create", idempotent=False)
    attempts = RetryPolicy.from_env().max_attempts
    assert client.calls == attempts  # never sent, so safe to repeat even a create
    assert "ConnectError" in str(caught.value) and str(caught.value).startswith(f"{RESOURCE}: create failed")


def test_error_text_never_contains_a_known_secret() -> None:
    key = "rpa_SUPERSECRETKEY_1234567890"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"title": "Bad Request", "status": 400,
                                         "detail": f"key {key} may not create this; value hunter2-xyz rejected"})

    redactor = Redactor([key, "hunter2-xyz"])
    with HttpClient("http://runpod.invalid", redactor=redactor, transport=httpx.MockTransport(handler)) as client, \
            pytest.raises(ApiError) as caught:
        client.request("POST", "/v2/templates", json={}, resource=RESOURCE, operation="create")
    text = str(caught.value)
    assert key not in text and "hunter2-xyz" not in text
    assert text.count("[redacted]") == 2 and "may not create this" in text


def test_backoff_is_full_jitter_below_the_cap() -> None:
    policy = RetryPolicy(backoff_seconds=0.5, max_backoff_seconds=4)
    samples = [policy.backoff(attempt) for attempt in range(8) for _ in range(50)]
    assert all(0 <= s <= 4 for s in samples)
    assert max(policy.backoff(0) for _ in range(200)) <= 0.5
    assert len({round(s, 6) for s in samples}) > 100  # jittered, not a fixed schedule


def test_policy_comes_from_the_environment() -> None:
    policy = RetryPolicy.from_env({"MODELSTACK_HTTP_MAX_ATTEMPTS": "7", "MODELSTACK_HTTP_TIMEOUT_SECONDS": "1.5"})
    assert policy.max_attempts == 7 and policy.timeout_seconds == 1.5
    assert RetryPolicy.from_env({}) == RetryPolicy()
    with pytest.raises(ValueError, match="MODELSTACK_HTTP_MAX_ATTEMPTS"):
        RetryPolicy.from_env({"MODELSTACK_HTTP_MAX_ATTEMPTS": "many"})


# ------------------------------------------------------------------ create_once / retry_while_in_use


def ambiguous() -> AmbiguousError:
    return AmbiguousError(RESOURCE, "create", "ReadTimeout; it may have been applied")


def test_create_once_adopts_what_an_interrupted_attempt_made(waits: list[float]) -> None:
    made: list[str] = []

    def post() -> str:
        made.append("obj")
        raise ambiguous()

    result = create_once(post, lambda: made[0] if made else None, policy=RetryPolicy(max_attempts=3), resource=RESOURCE)
    assert result == "obj" and len(made) == 1


def test_create_once_repeats_a_create_that_did_not_happen(waits: list[float]) -> None:
    attempts: list[int] = []

    def post() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ambiguous()
        return "obj"

    assert create_once(post, lambda: None, policy=RetryPolicy(max_attempts=5), resource=RESOURCE) == "obj"
    assert len(attempts) == 3


def test_create_once_is_bounded(waits: list[float]) -> None:
    calls: list[int] = []

    def post() -> str:
        calls.append(1)
        raise ambiguous()

    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        create_once(post, lambda: None, policy=RetryPolicy(max_attempts=3), resource=RESOURCE)
    assert len(calls) == 3


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_in_use_is_retried_until_released(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(http, "_pause", lambda s: setattr(clock, "now", clock.now + s))
    results = iter([ApiError(RESOURCE, "delete", "HTTP 400: template is in use", status=400)] * 3 + [None])

    def delete() -> str:
        outcome = next(results)
        if outcome is not None:
            raise outcome
        return "deleted"

    policy = RetryPolicy(backoff_seconds=1, max_backoff_seconds=5, in_use_timeout_seconds=60)
    assert retry_while_in_use(delete, lambda e: "in use" in e.api_message, policy=policy, clock=clock) == "deleted"
    assert 0 < clock.now < 60


def test_in_use_gives_up_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(http, "_pause", lambda s: setattr(clock, "now", clock.now + s))

    def delete() -> None:
        raise ApiError(RESOURCE, "delete", "HTTP 400: template is in use", status=400)

    policy = RetryPolicy(backoff_seconds=1, max_backoff_seconds=5, in_use_timeout_seconds=30)
    with pytest.raises(ApiError, match=r"delete failed: still in use after 30s: HTTP 400: template is in use"):
        retry_while_in_use(delete, lambda e: "in use" in e.api_message, policy=policy, clock=clock)
    assert clock.now == pytest.approx(30)


def test_other_errors_are_not_retried_as_in_use() -> None:
    calls: list[int] = []

    def delete() -> None:
        calls.append(1)
        raise ApiError(RESOURCE, "delete", "HTTP 403: access denied", status=403)

    with pytest.raises(ApiError, match="access denied"):
        retry_while_in_use(delete, lambda e: "in use" in e.api_message, policy=RetryPolicy())
    assert calls == [1]
