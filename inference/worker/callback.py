"""The readiness callback: once the model is loaded (or failed to load), tell the gateway.

POST <MODELSTACK_CALLBACK_URL>
    Content-Type: application/json
    X-Modelstack-Timestamp: <unix seconds>
    X-Modelstack-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>   (inference.signing)
    body: see `readiness_body`

Delivery runs in a daemon thread and never delays serving. Connection errors, timeouts, 408, 425,
429 and 5xx are retried with exponential backoff and full jitter (Retry-After honoured, capped),
for at most `max_attempts` tries; other 4xx answers are final (the gateway refused the callback,
e.g. a wrong secret), and so is success (any 2xx). Every attempt is signed afresh, so a late retry
is not rejected as stale; the body, and its `id`, stay the same, so the gateway can deduplicate.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from inference.signing import sign_headers

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 425, 429})
USER_AGENT = "modelstack-worker/1"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 10.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before attempt `attempt + 1` (attempt counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return random.uniform(0, ceiling)  # full jitter: workers that start together spread out


@dataclass
class Delivery:
    delivered: bool = False
    attempts: int = 0
    status: int | None = None
    """The last HTTP status received, if any."""


def readiness_body(
    *,
    status: str,
    model: str,
    model_id: str | None,
    revision: str | None,
    task: str,
    provider: str,
    endpoint_id: str | None,
    worker_id: str,
    load_seconds: float | None,
    stack: str | None = None,
    environment: str | None = None,
    loader: str | None = None,
    device: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": "worker.readiness",
        "status": status,
        "model": model,
        "modelId": model_id,
        "revision": revision,
        "task": task,
        "stack": stack,
        "environment": environment,
        "provider": provider,
        "endpointId": endpoint_id,
        "workerId": worker_id,
        "loadSeconds": None if load_seconds is None else round(load_seconds, 3),
        "loader": loader,
        "device": device,
        "sentAt": int(time.time()),
    }
    if error is not None:
        body["error"] = error
    return body


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def deliver(
    url: str,
    secret: str,
    body: dict[str, Any],
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Delivery:
    """POST the signed body until it is accepted, refused, or the attempts run out."""
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return post_json(url, raw, lambda: sign_headers(secret, raw), policy, str(body.get("status")), sleep, transport)


def post_json(
    url: str,
    raw: bytes,
    headers: Callable[[], Mapping[str, str]],
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Delivery:
    """POST `raw` (JSON) with bounded retries; `headers()` is called for every attempt (a signature
    carries a timestamp). The URL is never logged: a caller's may hold a secret in its query."""
    result = Delivery()
    with httpx.Client(timeout=policy.timeout, transport=transport, follow_redirects=False) as client:
        for attempt in range(1, policy.max_attempts + 1):
            result.attempts = attempt
            sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers()}
            retry_after = None
            try:
                response = client.post(url, content=raw, headers=sent)
            except httpx.HTTPError as exc:
                log.warning("readiness callback attempt %d failed: %s", attempt, type(exc).__name__)
            else:
                result.status = response.status_code
                if response.is_success:
                    result.delivered = True
                    log.info("readiness callback delivered (%s, attempt %d)", what, attempt)
                    return result
                if response.status_code not in RETRYABLE and response.status_code < 500:
                    log.error("readiness callback refused with HTTP %d; not retrying", response.status_code)
                    return result
                retry_after = _retry_after(response)
                log.warning("readiness callback attempt %d got HTTP %d", attempt, response.status_code)
            if attempt < policy.max_attempts:
                sleep(policy.delay(attempt, retry_after))
    log.error("readiness callback not delivered after %d attempts", result.attempts)
    return result


def deliver_in_background(url: str, secret: str, body: dict[str, Any], policy: RetryPolicy = RetryPolicy()) -> threading.Thread:
    def run() -> None:
        try:
            deliver(url, secret, body, policy)
        except Exception:  # never let a callback bug take the worker down
            log.exception("readiness callback crashed")

    thread = threading.Thread(target=run, name="readiness-callback", daemon=True)
    thread.start()
    return thread
