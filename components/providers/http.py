"""The one HTTP client every dynamic provider uses: timeouts, bounded retries, honest errors.

Vendor-neutral on purpose: it knows HTTP semantics, not Runpod's. What it guarantees:

- every request has a timeout, and every retry loop is bounded (`RetryPolicy`);
- 429 is retried after `Retry-After` (seconds or an HTTP date, capped), any method, because a
  rate-limited request was not processed;
- 5xx, timeouts and dropped connections are retried with exponential backoff and full jitter, but
  only for idempotent requests. A non-idempotent request (a POST that creates something) that fails
  ambiguously raises `AmbiguousError` instead: it may have been applied, and only the caller knows
  how to find out (see `create_once`, which looks the object up by its unique name and adopts it);
- a request that never left (connection refused) is retried whatever its method;
- errors name the resource and the operation, carry the API's own message, and have every known
  secret (API keys, secret values in flight) replaced by `[redacted]` before they are built.

Retry settings come from the environment so operators and tests can tune them without touching
resource inputs: MODELSTACK_HTTP_TIMEOUT_SECONDS (30), MODELSTACK_HTTP_MAX_ATTEMPTS (5),
MODELSTACK_HTTP_BACKOFF_SECONDS (0.5, doubled per attempt up to MODELSTACK_HTTP_MAX_BACKOFF_SECONDS,
20), MODELSTACK_HTTP_MAX_RETRY_AFTER_SECONDS (60) and MODELSTACK_IN_USE_TIMEOUT_SECONDS (180, how
long a delete keeps retrying an object the API says is still in use).
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

log = logging.getLogger("modelstack.http")

T = TypeVar("T")

REDACTED = "[redacted]"
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"})
"""PATCH is idempotent for the APIs we call: every body states final values, never increments."""

# The request never reached the server: safe to send again whatever it was.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have been processed: only idempotent requests are simply sent again.
_MAYBE_SENT = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def _pause(seconds: float) -> None:
    """Every wait goes through here, so tests can observe waits without sleeping."""
    time.sleep(seconds)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A call failed. The text names the resource and operation and holds no secret."""

    def __init__(self, resource: str, operation: str, message: str, *, status: int | None = None):
        self.resource = resource
        self.operation = operation
        self.api_message = message
        self.status = status
        super().__init__(f"{resource}: {operation} failed: {message}")


class NotFoundError(ApiError):
    """The API says the object does not exist (404)."""


class TransientError(ApiError):
    """Retries were exhausted on a failure that might succeed later (429, 5xx, timeouts)."""


class AmbiguousError(TransientError):
    """A non-idempotent request failed in a way that leaves open whether it was applied."""


class Redactor:
    """Replaces known secret strings in any text that may leave the provider."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        # Longest first, so a secret that contains another is redacted whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, *secrets: str | None) -> None:
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


# --------------------------------------------------------------------------------------------
# policy
# --------------------------------------------------------------------------------------------


def _env_float(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    return max(minimum, value)


@dataclass(frozen=True)
class RetryPolicy:
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 20.0
    max_retry_after_seconds: float = 60.0
    in_use_timeout_seconds: float = 180.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        env = os.environ if environ is None else environ
        return cls(
            timeout_seconds=_env_float(env, "MODELSTACK_HTTP_TIMEOUT_SECONDS", cls.timeout_seconds, 0.05),
            max_attempts=int(_env_float(env, "MODELSTACK_HTTP_MAX_ATTEMPTS", cls.max_attempts, 1)),
            backoff_seconds=_env_float(env, "MODELSTACK_HTTP_BACKOFF_SECONDS", cls.backoff_seconds, 0.0),
            max_backoff_seconds=_env_float(env, "MODELSTACK_HTTP_MAX_BACKOFF_SECONDS", cls.max_backoff_seconds, 0.0),
            max_retry_after_seconds=_env_float(
                env, "MODELSTACK_HTTP_MAX_RETRY_AFTER_SECONDS", cls.max_retry_after_seconds, 0.0
            ),
            in_use_timeout_seconds=_env_float(env, "MODELSTACK_IN_USE_TIMEOUT_SECONDS", cls.in_use_timeout_seconds, 0.0),
        )

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)], so retrying clients spread out."""
        ceiling = min(self.max_backoff_seconds, self.backoff_seconds * (2**attempt))
        return random.uniform(0, ceiling)

    def retry_after(self, header: str | None, attempt: int) -> float:
        """The server's Retry-After (delta seconds or HTTP date), capped; backoff when absent."""
        seconds = parse_retry_after(header)
        if seconds is None:
            return self.backoff(attempt)
        return min(seconds, self.max_retry_after_seconds)


def parse_retry_after(header: str | None, now: float | None = None) -> float | None:
    if header is None or not header.strip():
        return None
    value = header.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# --------------------------------------------------------------------------------------------
# the client
# --------------------------------------------------------------------------------------------


@dataclass
class ApiResponse:
    status: int
    body: Any
    """Parsed JSON, or None for an empty body."""
    headers: Mapping[str, str]


def default_error_message(response: httpx.Response) -> str:
    """The API's own words: RFC 9457 `detail`/`title`, or the usual `message`/`error` keys."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return f"HTTP {response.status_code}" + (f": {text[:300]}" if text else "")
    parts: list[str] = []
    if isinstance(body, Mapping):
        for key in ("title", "detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value and value not in parts:
                parts.append(value)
        errors = body.get("errors")
        if isinstance(errors, list):
            parts.extend(str(e.get("message", e) if isinstance(e, Mapping) else e) for e in errors[:5])
    return f"HTTP {response.status_code}" + (f": {'; '.join(parts)}" if parts else "")


class HttpClient:
    """JSON over HTTP with the retry rules above. Build one per provider call; close it after."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        redactor: Redactor | None = None,
        error_message: Callable[[httpx.Response], str] = default_error_message,
        transport: httpx.BaseTransport | None = None,
    ):
        self.policy = policy or RetryPolicy.from_env()
        self.redact = redactor or Redactor()
        self._error_message = error_message
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=dict(headers or {}),
            timeout=httpx.Timeout(self.policy.timeout_seconds),
            transport=transport,
            follow_redirects=False,
        )
        self.calls = 0
        """Requests actually sent (retries included); the API-call benchmark reads it."""

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        resource: str,
        operation: str,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> ApiResponse:
        """Send one logical request, retrying as the policy allows; raise `ApiError` on failure."""
        method = method.upper()
        idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        policy = self.policy
        last: ApiError | None = None
        retry_after: float | None = None
        for attempt in range(policy.max_attempts):
            if attempt:
                assert last is not None
                delay = policy.backoff(attempt - 1) if retry_after is None else retry_after
                retry_after = None
                log.info("%s: retrying %s in %.2fs (attempt %d of %d): %s", resource, operation, delay,
                         attempt + 1, policy.max_attempts, last.api_message)
                _pause(delay)
            try:
                self.calls += 1
                response = self._client.request(method, path, json=json, params=params)
            except _NOT_SENT as exc:
                last = TransientError(resource, operation, self._describe(exc))
                continue
            except _MAYBE_SENT as exc:
                message = self._describe(exc)
                if not idempotent:
                    raise AmbiguousError(resource, operation, f"{message}; it may have been applied") from None
                last = TransientError(resource, operation, message)
                continue
            except httpx.HTTPError as exc:
                raise ApiError(resource, operation, self._describe(exc)) from None

            if response.status_code < 400:
                return ApiResponse(response.status_code, self._json(response), dict(response.headers))
            message = self.redact(self._error_message(response))
            status = response.status_code
            if status == 429:
                last = TransientError(resource, operation, message, status=status)
                retry_after = policy.retry_after(response.headers.get("Retry-After"), attempt)
                continue
            if status in RETRYABLE_STATUS:
                if not idempotent:
                    raise AmbiguousError(resource, operation, f"{message}; it may have been applied", status=status)
                last = TransientError(resource, operation, message, status=status)
                continue
            if status == 404:
                raise NotFoundError(resource, operation, message, status=status)
            raise ApiError(resource, operation, message, status=status)
        assert last is not None
        raise TransientError(
            resource, operation, f"gave up after {policy.max_attempts} attempts: {last.api_message}", status=last.status
        )

    def _describe(self, exc: Exception) -> str:
        kind = type(exc).__name__
        return self.redact(f"{kind}: {exc}" if str(exc) else kind)

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return None


# --------------------------------------------------------------------------------------------
# patterns built on the client
# --------------------------------------------------------------------------------------------


def create_once(
    post: Callable[[], T],
    find: Callable[[], T | None],
    *,
    policy: RetryPolicy,
    resource: str,
) -> T:
    """Create an object exactly once although the request that creates it is not idempotent.

    On an ambiguous failure (timeout, dropped connection, 5xx after the body was sent) look for the
    object by its unique key with `find`: if the earlier attempt went through, adopt what it made;
    if not, send the create again. Bounded by the policy's attempts.
    """
    last: AmbiguousError | None = None
    for attempt in range(policy.max_attempts):
        if attempt:
            _pause(policy.backoff(attempt - 1))
            found = find()
            if found is not None:
                log.info("%s: adopting the object an interrupted create made", resource)
                return found
        try:
            return post()
        except AmbiguousError as exc:
            last = exc
    assert last is not None
    found = find()
    if found is not None:
        return found
    raise TransientError(last.resource, last.operation, f"gave up after {policy.max_attempts} attempts: {last.api_message}")


def retry_while_in_use(
    action: Callable[[], T],
    in_use: Callable[[ApiError], bool],
    *,
    policy: RetryPolicy,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run `action`, retrying for up to `policy.in_use_timeout_seconds` while the API says 'in use'.

    Deleting a template or volume right after the endpoint that used it is a normal race: the
    vendor releases the reference a little later. Anything else propagates at once.
    """
    deadline = clock() + policy.in_use_timeout_seconds
    attempt = 0
    while True:
        try:
            return action()
        except ApiError as exc:
            if not in_use(exc):
                raise
            remaining = deadline - clock()
            if remaining <= 0:
                raise ApiError(
                    exc.resource,
                    exc.operation,
                    f"still in use after {policy.in_use_timeout_seconds:g}s: {exc.api_message}",
                    status=exc.status,
                ) from None
            _pause(min(remaining, max(policy.backoff(attempt), policy.backoff_seconds, 0.01)))
            attempt += 1
