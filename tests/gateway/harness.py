"""Run ASGI apps under uvicorn on 127.0.0.1 in a thread, and build gateways wired to the fakes."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import uvicorn

from inference.gateway.apikeys import ApiKeys
from inference.gateway.app import Overrides, create_app
from inference.gateway.settings import ModelRoute, Secret, Settings
from tests.gateway.fakes import MODAL_TOKEN, RUNPOD_KEY

ALICE_KEY = "alice-key-0123456789abcdef"
BOB_KEY = "bob-key-0123456789abcdef00"
CALLBACK_SECRET = "callback-secret-for-tests-0123456789"
WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789"


class ServerThread:
    """uvicorn serving `app` on a socket bound here (port 0), so no port race with other tests."""

    def __init__(self, app: Any, **config: Any):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", loop="asyncio",
                                timeout_graceful_shutdown=2, **config)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start()
            self.error = exc

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve(sockets=[self.sock])

    def start(self, timeout: float = 20) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.error!r}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()

    def run(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the server's loop (to reach the app's internals from a test)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


def gateway_settings(fake_url: str, project: str, **changes: Any) -> Settings:
    settings = Settings(
        api_keys=ApiKeys.parse(f"alice:{ALICE_KEY},bob:{BOB_KEY}"),
        models=routes(fake_url),
        project=project,
        callback_secret=Secret(CALLBACK_SECRET),
        webhook_secret=Secret(WEBHOOK_SECRET),
        runpod_api_key=Secret(RUNPOD_KEY),
        modal_proxy_token=(Secret(MODAL_TOKEN[0]), Secret(MODAL_TOKEN[1])),
        rate_limit_rps=1000.0,
        rate_limit_burst=1000,
        poll_interval_seconds=0.05,
        lease_seconds=1.0,
        webhook_backoff_seconds=0.05,
    )
    return replace(settings, **changes)


@dataclass
class RunningGateway:
    server: ServerThread
    settings: Settings
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> Any:
        """The running app's `Gateway` (store, runner, ...), for assertions on internals."""
        return self.server.server.config.app.state.gateway

    def client(self, key: str | None = ALICE_KEY, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30, trust_env=False, **kwargs)
        self.clients.append(client)
        return client

    def wait_for_job(self, job_id: str, key: str = ALICE_KEY, timeout: float = 20,
                     until: Any = None) -> dict[str, Any]:
        """Poll GET /v1/jobs/{id} until the job is final (or `until(job)` holds)."""
        client = self.client(key)
        deadline = time.monotonic() + timeout
        while True:
            job = client.get(f"/v1/jobs/{job_id}").json()
            done = until(job) if until else job.get("status") in ("COMPLETED", "FAILED", "CANCELLED")
            if done:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} did not get there in {timeout}s: {job}")
            time.sleep(0.02)

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()


def start_gateway(settings: Settings, overrides: Overrides | None = None) -> RunningGateway:
    app = create_app(settings, overrides)
    return RunningGateway(ServerThread(app).start(), settings)


def routes(fake_url: str, flux_timeout: float = 10.0, embedder_timeout: float = 10.0) -> dict[str, ModelRoute]:
    """The two test models (Runpod `flux`, Modal `embedder`) with chosen timeouts."""
    return {
        "flux": ModelRoute("flux", "runpod", f"{fake_url}/v2/ep-flux", flux_timeout),
        "embedder": ModelRoute("embedder", "modal", f"{fake_url}/modal/embedder", embedder_timeout),
    }
