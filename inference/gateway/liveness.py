"""`GET /healthz` answered before the framework sees the request.

Liveness must not depend on anything that can be slow, and the probe runs every few seconds on
every instance; answering at the outermost ASGI layer costs a fraction of a full route.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/healthz"
_BODY = b'{"status":"ok"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


class LivenessMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else _BODY})
            return
        await self.app(scope, receive, send)
