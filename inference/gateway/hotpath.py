"""The gateway's outermost ASGI app: `/healthz` and predict answered here, the rest by FastAPI.

Why a fast path: profiled under load (`benchmarks/gateway_latency.py --profile`), a predict call
spent about as much CPU in FastAPI's routing, dependency solving, exception middleware and
response classes as in the proxying itself, and more than the bare passthrough the benchmark
measures it against. The two routes that carry the traffic, liveness probes and synchronous
predictions, skip that stack; they keep every check the routes had, through the same functions
(`api.authenticate`, `api.model_backend`, `api.predict_input`, `api.predict_answer`), the same
body limit (`BodyLimitMiddleware`) and the same error shape. Everything else, including the
lifespan that builds the clients, goes to the FastAPI app unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from inference.gateway import api, logs
from inference.gateway.bodylimit import BodyLimitMiddleware
from inference.gateway.errors import ApiError, error_response
from inference.gateway.state import Gateway

HEALTH_PATH = "/healthz"
# FastAPI's `{name}` path parameter matches one path segment; the predict route is exactly this.
PREDICT_PATH = re.compile(r"^/v1/models/(?P<name>[^/]+):predict$")

_JSON = (b"content-type", b"application/json")
_HEALTH_BODY = b'{"status":"ok"}'
_HEALTH_HEADERS = [_JSON, (b"content-length", str(len(_HEALTH_BODY)).encode())]


async def _send_answer(send: Send, body: bytes) -> None:
    """A 200 JSON answer as two raw ASGI messages: the success path skips building a Response."""
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _DisconnectedError(Exception):
    """The client went away before its body arrived; there is no one to answer."""


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise _DisconnectedError
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    """`Authorization` and `X-API-Key` from the raw headers (ASGI lower-cases the names)."""
    authorization = api_key = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    return authorization, api_key


class GatewayApp:
    """What uvicorn serves. `state` is the FastAPI app's, where the lifespan puts the Gateway."""

    def __init__(self, framework: FastAPI, max_body_bytes: int):
        self.state = framework.state
        self._predict_limited = BodyLimitMiddleware(self._predict, max_bytes=max_body_bytes)
        self._framework_limited = BodyLimitMiddleware(framework, max_bytes=max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path, method = scope["path"], scope["method"]
            if path == HEALTH_PATH and method in ("GET", "HEAD"):
                # Liveness must not depend on anything that can be slow: no I/O, no framework.
                await send({"type": "http.response.start", "status": 200, "headers": _HEALTH_HEADERS})
                await send({"type": "http.response.body", "body": b"" if method == "HEAD" else _HEALTH_BODY})
                return
            if PREDICT_PATH.match(path):
                if method == "POST":
                    await self._predict_limited(scope, receive, send)
                else:
                    await error_response(405, "method_not_allowed", "Method Not Allowed",
                                         {"Allow": "POST"})(scope, receive, send)
                return
        await self._framework_limited(scope, receive, send)

    async def _predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        gw: Gateway = self.state.gateway
        try:
            # Outside the catch-all below: the body limit's refusal is raised through receive().
            raw = await _read_body(receive)
        except _DisconnectedError:
            return
        try:
            who = api.authenticate(gw, *_credentials(scope))
            match = PREDICT_PATH.match(scope["path"])
            assert match is not None  # routed here only when it matched
            name = match["name"]
            backend = api.model_backend(gw, name)
            answer: dict[str, Any] = await api.predict_answer(gw, name, who, backend, api.predict_input(raw))
        except ApiError as exc:
            await error_response(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
            return
        except Exception as exc:
            # What FastAPI's server-error middleware did for the route, in our error shape.
            logs.failure("predict crashed", exc)
            await error_response(500, "internal", "the gateway failed; retry later")(scope, receive, send)
            return
        await _send_answer(send, json.dumps(answer, separators=(",", ":")).encode())
