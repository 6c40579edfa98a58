"""API keys: parsed from the secret once, kept only as SHA-256 digests, matched in constant time.

Format of `GATEWAY_API_KEYS`: entries separated by commas or newlines; each entry is `name:key`
or a bare `key`. A name identifies the caller in logs, rate limits and job ownership, so rotating
a key under the same name keeps that caller's jobs visible to it. A bare key is named
`key-<first 8 hex digits of its SHA-256>`, which is stable and reveals nothing usable.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_KEY_LENGTH = 16


class ApiKeyError(ValueError):
    """The key list is malformed. Messages name entries by position, never by content."""


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    def __init__(self, digests: dict[str, bytes]):
        # name -> sha256(key); a list keeps the scan order fixed for the constant-time match.
        self._entries = list(digests.items())

    @classmethod
    def parse(cls, raw: str) -> ApiKeys:
        entries = [e.strip() for e in re.split(r"[,\n]", raw) if e.strip()]
        if not entries:
            raise ApiKeyError("no keys configured; the gateway refuses to start without one")
        digests: dict[str, bytes] = {}
        for position, entry in enumerate(entries, start=1):
            name, sep, key = entry.partition(":")
            if not sep:
                name, key = "", entry
            key = key.strip()
            if len(key) < MIN_KEY_LENGTH:
                raise ApiKeyError(f"entry {position}: keys must be at least {MIN_KEY_LENGTH} characters")
            digest = _digest(key)
            name = name.strip() or f"key-{digest.hex()[:8]}"
            if not _NAME.match(name):
                raise ApiKeyError(f"entry {position}: names are 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)")
            if name in digests:
                raise ApiKeyError(f"entry {position}: the name {name!r} is used twice")
            if any(hmac.compare_digest(digest, d) for d in digests.values()):
                raise ApiKeyError(f"entry {position}: the same key appears twice")
            digests[name] = digest
        return cls(digests)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._entries)} keys)"

    def match(self, presented: str) -> str | None:
        """The caller's name, or None. Every stored digest is compared, so timing says nothing."""
        digest = _digest(presented)
        found: str | None = None
        for name, stored in self._entries:
            if hmac.compare_digest(digest, stored):
                found = name
        return found
