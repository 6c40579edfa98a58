"""Reject request bodies over a size limit before they are buffered.

A plain ASGI middleware (not BaseHTTPMiddleware, which costs latency on every request): a declared
Content-Length over the limit is refused at once; a chunked body is counted as it streams and
refused as soon as it passes the limit, so a client cannot make the gateway hold an unbounded body.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inference.gateway.errors import error_response


class _BodyTooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._refuse(scope, receive, send, 400, "invalid_request", "Content-Length is not a number")
                    return
                if declared > self.max_bytes:
                    await self._refuse(scope, receive, send, 413, "payload_too_large", self._message())
                    return
                break

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLargeError:
            if started:
                raise
            await error_response(413, "payload_too_large", self._message())(scope, receive, send)

    def _message(self) -> str:
        return f"request body is over the limit of {self.max_bytes} bytes"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
        # Connection: close, so the server does not try to read the rest of a body we refused.
        response = error_response(status, code, message, {"Connection": "close"})
        await response(scope, receive, send)
