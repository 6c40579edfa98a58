"""Salted hashes of secret values, so a provider can tell "changed" without storing the value.

A secret input (a Runpod secret's value, a registry password, a Modal secret's env) is diffed by an
HMAC-SHA256 keyed with a random per-resource salt kept in state: equal values give equal hashes, and
the hash of a short or guessable value cannot be looked up in a precomputed table. Every provider
uses these functions; each keeps its own output format around the hex digest.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

_SALT = re.compile(r"^[0-9a-f]{32}$")


def new_salt() -> str:
    return secrets.token_hex(16)


def is_salt(value: Any) -> bool:
    return isinstance(value, str) and bool(_SALT.match(value))


def keep_or_new_salt(old: Any) -> str:
    """The salt already in state (so unchanged values keep their hash), or a fresh one."""
    return old if is_salt(old) else new_salt()


def hmac_hex(salt: str, text: str) -> str:
    return hmac.new(bytes.fromhex(salt), text.encode(), hashlib.sha256).hexdigest()
