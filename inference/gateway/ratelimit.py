"""Per-caller token buckets, in process memory.

Each instance (and each uvicorn worker process) keeps its own buckets, so the effective limit of
a caller is the configured rate times the number of processes serving it. That is the trade for
no shared store on the request path; it bounds abuse from one key, it is not a billing meter.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        # caller -> (tokens, last refill time); a handful of callers, so no eviction is needed.
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, caller: str) -> float:
        """Take one token. Returns 0 when allowed, else the seconds until a token is available."""
        now = self._clock()
        tokens, last = self._buckets.get(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[caller] = (tokens - 1.0, now)
            return 0.0
        self._buckets[caller] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after_header(wait_seconds: float) -> str:
    """`Retry-After` takes whole seconds; round up so a client that obeys it is never early."""
    return str(max(1, math.ceil(wait_seconds)))
