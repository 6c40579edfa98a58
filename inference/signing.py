"""Signed callbacks between our services: the worker's readiness callback and user webhooks.

Scheme (one for both, so a receiver verifies either the same way):
- headers `X-Modelstack-Timestamp: <unix seconds>` and `X-Modelstack-Signature: v1=<hex>`;
- the signature is HMAC-SHA256 with the shared secret over `<timestamp>.` followed by the raw body
  bytes, so neither the body nor the time can be changed without the secret;
- receivers reject timestamps more than `TOLERANCE_SECONDS` away from their clock (replay window)
  and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Modelstack-Timestamp"
SIGNATURE_HEADER = "X-Modelstack-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request's signature is missing, stale or wrong. The message never includes the secret."""


def signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def sign_headers(secret: str | bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise SignatureError unless `headers` carry a fresh, valid signature of `body`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ts = lowered.get(TIMESTAMP_HEADER.lower())
    given = lowered.get(SIGNATURE_HEADER.lower())
    if not raw_ts or not given:
        raise SignatureError("missing signature headers")
    try:
        timestamp = int(raw_ts)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside the allowed window")
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureError("signature does not match")
