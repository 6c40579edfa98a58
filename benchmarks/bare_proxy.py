"""The benchmark's anchor: the least an ASGI proxy in front of Runpod can do, as raw ASGI.

    PORT=8081 HOST=127.0.0.1 BACKEND_URL=http://127.0.0.1:8080/v2/ep RUNPOD_API_KEY=... \\
        python benchmarks/bare_proxy.py

Any POST: read the body and forward it unchanged as `POST BACKEND_URL/runsync?wait=30000` with
`Authorization: Bearer $RUNPOD_API_KEY`, through ONE pooled aiohttp session made in the lifespan
(the same client settings as the gateway's backend session), and return the backend's status and
body bytes as they came. `GET /healthz` answers `{"status":"ok"}`. No auth, no limits, no parsing.

It runs under the gateway's own uvicorn settings (`inference.gateway.serve.server_options()`), one
worker, so that whatever the gateway costs beyond this is the gateway's code, not the server's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script, `benchmarks` and `inference` are not importable
    sys.path.insert(0, str(ROOT))

from benchmarks.echo_backend import Receive, Scope, Send, lifespan_loop, read_body, respond  # noqa: E402

_HEALTHZ = b'{"status":"ok"}'
BACKEND_TIMEOUT = aiohttp.ClientTimeout(total=40)  # runsync waits up to 30 s; a little more for the answer


class BareProxy:
    def __init__(self, backend_url: str, api_key: str):
        self.url = backend_url.rstrip("/") + "/runsync?wait=30000"
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.session: aiohttp.ClientSession | None = None

    async def startup(self) -> None:
        # Made inside the running loop (aiohttp binds to it), like the gateway's lifespan does.
        self.session = aiohttp.ClientSession(
            trust_env=False, connector=aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300))

    async def shutdown(self) -> None:
        if self.session is not None:
            await self.session.close()

    async def forward(self, body: bytes) -> tuple[int, bytes]:
        assert self.session is not None, "the lifespan did not run"
        try:
            async with self.session.post(self.url, data=body, headers=self.headers,
                                         timeout=BACKEND_TIMEOUT) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 502, f'{{"error":"backend unreachable ({type(exc).__name__})"}}'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan_loop(receive, send, self.startup, self.shutdown)
            return
        if scope["type"] != "http":
            return
        if scope["method"] == "POST":
            await respond(send, *await self.forward(await read_body(receive)))
        elif scope["method"] == "GET" and scope["path"] == "/healthz":
            await respond(send, 200, _HEALTHZ)
        else:
            await respond(send, 404, b'{"error":"not found"}')


def uvicorn_options(env: Mapping[str, str]) -> dict[str, Any]:
    """The gateway's uvicorn settings, with one worker and this process's host and port."""
    from inference.gateway.serve import server_options

    options = server_options(env)
    options.setdefault("log_level", "warning")  # no start-up banner in the benchmark's output
    options.update(host=env.get("HOST", "127.0.0.1"), port=int(env.get("PORT", "8080")),
                   workers=1)  # the benchmark compares one worker with one worker
    return options


def main() -> None:
    import uvicorn

    env = {**os.environ, "WEB_CONCURRENCY": "1"}
    app = BareProxy(env["BACKEND_URL"], env.get("RUNPOD_API_KEY", ""))
    uvicorn.run(app, **uvicorn_options(env))


if __name__ == "__main__":
    main()
