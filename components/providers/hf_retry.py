"""Bounded retries for the Hub calls a plan or apply makes, honouring the Hub's rate limit.

The Hub says how long to wait when it rate-limits: its 429 carries `RateLimit: "api";r=0;t=<s>`
(IETF draft httpapi-ratelimit-headers; the Hub sends the header on every answer, and only `r=0`
makes it the reason for a 429), sometimes a `Retry-After` instead. huggingface_hub 2.x reads it
with `huggingface_hub.utils.parse_ratelimit_headers` and waits `t + 1` s in its own backoff
(`utils/_http.py`, `_http_backoff_base`); `model_info`, which a plan calls, has no such backoff, so
we do the same here: wait what the Hub asks, for at most RATE_LIMIT_BUDGET_S in all, then fail
with an error that names the model and says the Hub rate-limited us. Other transient faults (5xx,
timeouts, a 429 that says nothing) get ATTEMPTS tries with jittered exponential backoff.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

ATTEMPTS = 4
RATE_LIMIT_BUDGET_S = 330.0
"""Most one call waits for the Hub's rate limit in all: a little over the Hub's 5-minute window,
so a limit that resets is waited out and one that does not fails the plan within minutes."""
RATE_LIMIT_RETRIES = 12
"""Most rate-limit retries of one call, whatever the waits (a `Retry-After: 0` loop stays short)."""
RETRY_AFTER_CAP_S = 60.0
"""Most one wait for a 5xx's Retry-After."""

T = TypeVar("T")

sleep: Callable[[float], None] = time.sleep
"""How retries wait; tests put a recorder here instead of sleeping."""


class RateLimitedError(Exception):
    """The Hub kept rate-limiting one call past the wait budget (hf_hub turns it into a HubError)."""

    def __init__(self, resource: str | None, asked_s: float, waited_s: float, cause: BaseException):
        super().__init__(f"rate-limited after waiting {waited_s:.0f} s")
        self.resource, self.asked_s, self.waited_s, self.cause = resource, asked_s, waited_s, cause


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _headers(exc: BaseException) -> dict[str, str]:
    response = getattr(exc, "response", None)
    return dict(getattr(response, "headers", None) or {})


def _retry_after(headers: dict[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: treated as no hint, the backoff applies


def rate_limit_wait(exc: BaseException) -> tuple[str | None, float] | None:
    """(resource, seconds) the Hub asks a 429 to wait, or None when it does not say."""
    if status_of(exc) != 429:
        return None
    from huggingface_hub.utils import parse_ratelimit_headers

    headers = _headers(exc)
    info = parse_ratelimit_headers(headers)
    if info is not None and info.remaining == 0:
        return info.resource_type, float(info.reset_in_seconds) + 1.0  # +1 s, as the client does
    retry_after = _retry_after(headers)
    return (None, retry_after) if retry_after is not None else None


def _transient(exc: BaseException) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError)):
        return True
    return isinstance(exc, HfHubHTTPError) and status_of(exc) in (429, 500, 502, 503, 504)


def call_with_retries(fn: Callable[[], T], attempts: int = ATTEMPTS, wait: Callable[[float], None] | None = None) -> T:
    """`fn()`, retried: rate limits as the Hub asks (bounded by RATE_LIMIT_BUDGET_S), other
    transient faults `attempts` times in all. Raises RateLimitedError or the last error."""
    failures = limited = 0
    waited = 0.0
    while True:  # bounded: every pass adds to `failures` or `limited`, and both have a ceiling
        try:
            return fn()
        except Exception as exc:
            asked = rate_limit_wait(exc)
            if asked is not None:
                resource, seconds = asked
                limited += 1
                if limited > RATE_LIMIT_RETRIES or waited + seconds > RATE_LIMIT_BUDGET_S:
                    raise RateLimitedError(resource, seconds, waited, exc) from exc
                (wait or sleep)(seconds)
                waited += seconds
                continue
            failures += 1
            if failures >= attempts or not _transient(exc):
                raise
            delay = _retry_after(_headers(exc))
            if delay is None:
                delay = min(8.0, 0.5 * 2 ** (failures - 1)) * (0.5 + random.random() / 2)
            (wait or sleep)(min(delay, RETRY_AFTER_CAP_S))
