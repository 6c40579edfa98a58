"""A minimal Runpod `/runsync` responder for the gateway benchmark, as raw ASGI (no framework).

    python benchmarks/echo_backend.py --port N

`POST /v2/<id>/runsync` with `Authorization: Bearer <RUNPOD_KEY>` and a body `{"input": ..., ...}`
answers 200 `{"id": "<n>", "status": "COMPLETED", "output": <input>, "delayTime": 0,
"executionTime": 1}`, which is all the gateway's Runpod client (`run_sync`) needs: a string
`status` that is terminal, so it never polls. `GET /v2/<id>/health` answers a Runpod-shaped health
document. A wrong key is 401, a body that is not a JSON object with `input` is 400, anything else 404.

It is deliberately tiny (the fake in tests/gateway/fakes.py runs a Starlette router and keeps every
job) so that the backend's CPU cost is small and identical for every side of the comparison: the
direct call, the bare proxy and the gateway all pay exactly this much.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

RUNPOD_KEY = "rp-test-key-0123456789abcdef"  # the key tests/gateway/fakes.py accepts too
_AUTHORIZATION = b"Bearer " + RUNPOD_KEY.encode()

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]

_HEALTH = json.dumps({
    "jobs": {"completed": 0, "failed": 0, "inProgress": 0, "inQueue": 0, "retried": 0},
    "workers": {"idle": 1, "running": 0},
}).encode()
_ids = itertools.count(1)


async def respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _nothing() -> None:
    return None


async def lifespan_loop(receive: Receive, send: Send, startup: Hook = _nothing, shutdown: Hook = _nothing) -> None:
    """The ASGI lifespan protocol; answering it keeps uvicorn from logging that it is unsupported."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


def authorized(scope: Scope) -> bool:
    return any(name == b"authorization" and value == _AUTHORIZATION for name, value in scope["headers"])


def runsync_answer(body: bytes) -> tuple[int, bytes]:
    try:
        request = json.loads(body)
    except ValueError:
        return 400, b'{"error":"invalid JSON"}'
    if not isinstance(request, dict) or "input" not in request:
        return 400, b'{"error":"input is required"}'
    answer = {"id": str(next(_ids)), "status": "COMPLETED", "output": request["input"],
              "delayTime": 0, "executionTime": 1}
    return 200, json.dumps(answer, separators=(",", ":")).encode()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan_loop(receive, send)
        return
    if scope["type"] != "http":
        return
    # /v2/<id>/<action>: split gives ["", "v2", id, action].
    parts = scope["path"].split("/")
    action = parts[3] if len(parts) == 4 and parts[1] == "v2" and parts[2] else None
    method = scope["method"]
    if (action, method) not in (("runsync", "POST"), ("health", "GET")):
        await respond(send, 404, b'{"error":"not found"}')
        return
    body = await read_body(receive)  # read even when refusing, so the connection stays reusable
    if not authorized(scope):
        await respond(send, 401, b'{"error":"Unauthorized"}')
    elif action == "health":
        await respond(send, 200, _HEALTH)
    else:
        await respond(send, *runsync_answer(body))


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
