"""Fixtures for the worker tests: tiny models built once per session, and small local servers."""

# No `from __future__ import annotations` here: FastAPI reads the fake gateway's annotations at runtime.
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker import tiny_models


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.llama(tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="session")
def llama_sharded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.llama(tmp_path_factory.mktemp("llama-sharded"), shard="20KB", tied=False, seed=1)


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.bert(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="session")
def bert_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.bert(tmp_path_factory.mktemp("bert-cls"), head="classifier")


@pytest.fixture(scope="session")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_models.vit(tmp_path_factory.mktemp("vit"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """A uvicorn server for an ASGI app on 127.0.0.1, started and stopped by the test."""

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = 30.0
        import time

        start = time.monotonic()
        while not self.server.started:
            if time.monotonic() - start > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def serve() -> Iterator:
    servers: list[ServerThread] = []

    def start(app, port: int | None = None) -> "ServerThread":
        server = ServerThread(app, port).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


class FakeGateway:
    """Receives readiness callbacks like the gateway would; answers with scripted statuses."""

    def __init__(self, statuses: list[int] | None = None, retry_after: str | None = None):
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse

        self.statuses = list(statuses or [])
        self.retry_after = retry_after
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.changed = threading.Condition()
        self.app = FastAPI()

        @self.app.post("/callbacks/worker")
        async def receive(request: Request) -> JSONResponse:
            body = await request.body()
            with self.changed:
                self.received.append((dict(request.headers), body))
                status = self.statuses.pop(0) if self.statuses else 200
                self.changed.notify_all()
            headers = {"Retry-After": self.retry_after} if self.retry_after and status != 200 else {}
            return JSONResponse({"ok": status == 200}, status_code=status, headers=headers)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[dict[str, str], bytes]]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.received) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} callbacks, got {len(self.received)}")
            return list(self.received)


@pytest.fixture
def gateway(serve):
    """A fake gateway on a free port; `.url` is its callback URL."""

    def start(statuses: list[int] | None = None, retry_after: str | None = None) -> FakeGateway:
        fake = FakeGateway(statuses, retry_after)
        server = serve(fake.app)
        fake.url = f"{server.url}/callbacks/worker"  # type: ignore[attr-defined]
        return fake

    return start
