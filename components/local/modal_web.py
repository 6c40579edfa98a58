"""A stand-in for a Modal container serving our app's web endpoint: `python -m components.local.modal_web --port N`.

What Modal does for `inference/modal_app.py` in the cloud, done here on 127.0.0.1: import the app
file with the container's environment (this process's, set by the local run from the app's
settings and secrets), run the class's `@modal.enter` (the real worker loads the model and sends
its readiness callback), and serve `Model.web` behind Modal's proxy auth: requests without the
workspace token's `Modal-Key`/`Modal-Secret` headers get Modal's 401, as `requires_proxy_auth` does.

The token arrives as JSON on stdin (`{"proxyToken": [id, secret]}` or `{}`), never in the
environment the app sees. Volumes: Modal mounts them at their paths; the local run maps each mount
to a directory (in the environment it passes), so a volume's `commit()` has nothing to persist.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class LocalVolume:
    """A mounted volume: its files are already where the app reads them, so commit() is a no-op."""

    def __init__(self, name: str):
        self.name = name

    def commit(self) -> None:
        logging.getLogger(__name__).info("volume %s: commit (local directory, nothing to upload)", self.name)


class ProxyAuth:
    """Modal's proxy auth in front of a web endpoint: 401 unless both headers match the workspace token."""

    def __init__(self, app: ASGIApp, token: tuple[str, str]):
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            key, secret = headers.get("modal-key"), headers.get("modal-secret")
            if key is None or secret is None:
                return await _refuse(send, "modal-http: missing credentials for proxy authorization")
            if not (hmac.compare_digest(key, self.token[0]) and hmac.compare_digest(secret, self.token[1])):
                return await _refuse(send, "modal-http: invalid credentials for proxy authorization")
        await self.app(scope, receive, send)


async def _refuse(send: Any, message: str) -> None:
    body = message.encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def build(token: tuple[str, str] | None) -> Any:
    """Import the app file, enter the class (loads the model) and return its web app, guarded as Modal would."""
    from inference import modal_app

    for path, volume in list(modal_app.volumes.items()):
        modal_app.volumes[path] = LocalVolume(getattr(volume, "name", None) or path)
    model = modal_app.Model()
    app = model.web.local()  # runs @modal.enter first, as a container does before serving
    if not modal_app.settings.proxy_auth:
        return app
    if token is None:
        raise SystemExit("the app requires proxy auth, but the local run has no workspace proxy token for it")
    return ProxyAuth(app, token)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m components.local.modal_web")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    request = json.loads(sys.stdin.read() or "{}")
    token = tuple(request["proxyToken"]) if request.get("proxyToken") else None
    app = build(token)  # type: ignore[arg-type]
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
