"""What every Modal resource provider shares: the token, a client per operation, retries, errors.

The token comes from `configure()` (stack config `modelstack:credentials.modalTokenId/modalTokenSecret`,
else `MODAL_TOKEN_ID`/`MODAL_TOKEN_SECRET`) and is never a resource input. The server URL is the
`modal` client's own setting (`MODAL_SERVER_URL`), which is how tests point the real client at a fake.

Every operation opens its own `modal.Client.from_credentials(...)` and closes it afterwards: the
provider object is pickled into state and re-imported by the engine, so it must not hold a client.
Every call passes `client=` and `environment_name=` explicitly, so neither `MODAL_ENVIRONMENT` nor a
local Modal profile can send a resource to the wrong environment or workspace.

The `modal` client already retries transient gRPC failures (UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL,
...) three times with backoff; `run()` adds a small outer bound on top for failures the client gives
up on (connection setup, a burst of UNAVAILABLE), with exponential backoff and jitter.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from components.providers import credentials as creds

T = TypeVar("T")

ATTEMPTS = 3
BASE_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 4.0
SECRET_MARK = "[secret]"


@dataclass(frozen=True)
class Token:
    token_id: str = field(repr=False)
    token_secret: str = field(repr=False)


def token_from(credentials: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Token | None:
    token_id = creds.resolve(creds.MODAL_TOKEN_ID, credentials, environ)
    token_secret = creds.resolve(creds.MODAL_TOKEN_SECRET, credentials, environ)
    if token_id and token_secret:
        return Token(token_id, token_secret)
    return None


@dataclass(frozen=True)
class Target:
    """The resource an operation acts on, as errors name it."""

    kind: str
    name: str
    environment: str

    def __str__(self) -> str:
        return f"modal {self.kind} {self.name!r} (environment {self.environment!r})"


class ModalProviderError(Exception):
    """An operation on a Modal resource failed. The message names the resource, the operation and
    what Modal said, and never contains the token or a secret value."""

    def __init__(self, target: Target, operation: str, message: str):
        self.target = target
        self.operation = operation
        super().__init__(f"{target}: {operation} failed: {message}")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every given secret (and the token) replaced by a mark, longest first."""
    for value in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, SECRET_MARK)
    return text


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _exceptions() -> dict[str, tuple[type[BaseException], ...]]:
    import modal.exception as mx

    return {
        # Network-level builtins too (not all of OSError: a missing local file is not worth a retry).
        "transient": (mx.ServiceError, mx.InternalError, mx.ConnectionError, mx.TimeoutError, ConnectionError, TimeoutError),
        "auth": (mx.AuthError, mx.PermissionDeniedError),
    }


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _exceptions()["transient"])


def auth_hint(error: str) -> str:
    """The message for a rejected token; `error` is what Modal said."""
    return (
        f"Modal rejected the token ({error}). Check the token in credentials.modalTokenId and "
        f"credentials.modalTokenSecret ({creds.MODAL_TOKEN_ID.set_command}) or MODAL_TOKEN_ID and "
        "MODAL_TOKEN_SECRET, and that it belongs to the intended workspace"
    )


def missing_token_message() -> str:
    return (
        "no Modal token: set credentials.modalTokenId and credentials.modalTokenSecret "
        f"({creds.MODAL_TOKEN_ID.set_command}; likewise modalTokenSecret) or export MODAL_TOKEN_ID "
        "and MODAL_TOKEN_SECRET"
    )


@contextmanager
def client_for(token: Token) -> Iterator[Any]:
    """An authenticated `modal.Client`, closed on exit."""
    import modal

    client = modal.Client.from_credentials(token.token_id, token.token_secret)
    try:
        yield client
    finally:
        client.close()


def run(
    target: Target,
    operation: str,
    token: Token | None,
    fn: Callable[[Any], T],
    *,
    secrets: Iterable[str] = (),
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn(client)` with bounded retries of transient failures; raise ModalProviderError."""
    if token is None:
        raise ModalProviderError(target, operation, missing_token_message())
    hidden = [token.token_id, token.token_secret, *secrets]
    delay = BASE_DELAY_SECONDS
    for attempt in range(1, attempts + 1):
        try:
            with client_for(token) as client:
                return fn(client)
        except ModalProviderError:
            raise
        except Exception as exc:
            if isinstance(exc, _exceptions()["auth"]):
                raise ModalProviderError(target, operation, scrub(auth_hint(describe(exc)), hidden)) from None
            if not is_transient(exc) or attempt == attempts:
                suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise ModalProviderError(target, operation, scrub(describe(exc), hidden) + suffix) from None
        sleep(delay * (0.5 + random.random() / 2))
        delay = min(delay * 2, MAX_DELAY_SECONDS)
    raise AssertionError("unreachable")
