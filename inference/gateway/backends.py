"""Clients for the GPU endpoints a model runs on: Runpod's job API and a Modal web endpoint.

Runpod (queue-based serverless endpoint, base `https://api.runpod.ai/v2/<endpoint id>`):
`POST /runsync` and `POST /run` with `{"input": ..., "policy": {"executionTimeout": ms}}`,
`GET /status/<job id>`, `POST /cancel/<job id>`, `GET /health`, all with
`Authorization: Bearer <RUNPOD_API_KEY>`. Job status is one of IN_QUEUE, IN_PROGRESS (or RUNNING),
COMPLETED, FAILED, CANCELLED, TIMED_OUT; a failed job carries `error`.

Modal web endpoint (synchronous): `POST <url>` with `{"input": ...}`, answered by `{"output": ...}`
(2xx) or `{"error": "..."}`; with proxy auth the `Modal-Key`/`Modal-Secret` headers are sent.

Errors raised here carry a message safe to show a caller: status codes and the backend's own
error text, never a request header.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

from inference.gateway.settings import ModelRoute, Secret

TERMINAL_BACKEND = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
ErrorKind = Literal["unavailable", "busy", "rejected", "timeout", "not_found"]


class BackendError(Exception):
    def __init__(self, kind: ErrorKind, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class BackendJob:
    id: str | None
    status: str
    output: Any = None
    error: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_BACKEND


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: Any

    def json(self) -> Any:
        return json.loads(self.body)


def _retry_after(answer: _Answer) -> float | None:
    raw = answer.headers.get("Retry-After", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _error_text(answer: _Answer) -> str:
    """The backend's own message, truncated; it is shown to the caller, so nothing else is added."""
    try:
        body = answer.json()
    except ValueError:
        return answer.body[:300].decode(errors="replace")
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]


async def _request(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], json_body: Any, timeout: float
) -> _Answer:
    data = None if json_body is None else json.dumps(json_body, separators=(",", ":")).encode()
    sent_headers = headers if data is None else {**headers, "Content-Type": "application/json"}
    async with session.request(method, url, data=data, headers=sent_headers,
                               timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        return _Answer(response.status, await response.read(), response.headers)


async def _send(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    what: str,
    headers: dict[str, str],
    json_body: Any = None,
    timeout: float,
    idempotent: bool,
    attempts: int = 3,
) -> _Answer:
    """One logical call with bounded retries.

    Connection failures before the request was sent and 429 are always retried; 5xx, timeouts
    and dropped connections only for idempotent calls, since a POST may already have been accepted.
    """
    deadline = time.monotonic() + timeout
    last: BackendError | None = None
    for attempt in range(attempts):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            answer = await _request(session, method, url, headers, json_body, remaining)
        except TimeoutError:
            last = BackendError("timeout", f"{what}: the backend did not answer in time")
            if not idempotent:
                raise last from None
        except aiohttp.ClientConnectorError as exc:
            last = BackendError("unavailable", f"{what}: cannot reach the backend ({type(exc).__name__})")
        except aiohttp.ClientError as exc:
            last = BackendError("unavailable", f"{what}: the connection failed ({type(exc).__name__})")
            if not idempotent:
                raise last from None
        else:
            if answer.status < 400:
                return answer
            status = answer.status
            if status == 429:
                last = BackendError("busy", f"{what}: backend rate limit (429)", _retry_after(answer))
            elif status >= 500:
                last = BackendError("unavailable", f"{what}: backend error {status}: {_error_text(answer)}")
                if not idempotent:
                    raise last
            elif status == 404:
                raise BackendError("not_found", f"{what}: not found at the backend (404)")
            else:
                raise BackendError("rejected", f"{what}: backend refused the request ({status}): {_error_text(answer)}")
        if attempt + 1 < attempts:
            delay = last.retry_after if last.retry_after is not None else 0.1 * 2**attempt
            delay = min(delay * random.uniform(0.8, 1.2), deadline - time.monotonic())
            if delay <= 0:
                break
            await asyncio.sleep(delay)
    raise last or BackendError("timeout", f"{what}: the backend did not answer in time")


def _job(body: Any, what: str) -> BackendJob:
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise BackendError("unavailable", f"{what}: the backend answered without a job status")
    error = body.get("error")
    return BackendJob(
        id=str(body["id"]) if body.get("id") is not None else None,
        status=body["status"],
        output=body.get("output"),
        error=None if error is None else str(error)[:2000],
    )


class RunpodBackend:
    provider = "runpod"

    def __init__(self, route: ModelRoute, api_key: Secret, client: aiohttp.ClientSession):
        self.route = route
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key.reveal()}"}

    def _payload(self, job_input: Any, timeout: float) -> dict[str, Any]:
        # Runpod's per-job execution timeout (ms, at least 5 s) stops a GPU worker billing past our budget.
        return {"input": job_input, "policy": {"executionTimeout": max(5000, int(timeout * 1000))}}

    async def run_sync(self, job_input: Any, timeout: float) -> BackendJob:
        wait_ms = min(300_000, max(1000, int(timeout * 1000)))
        response = await _send(
            self._client, "POST", f"{self.route.url}/runsync?wait={wait_ms}", what="runsync",
            headers=self._headers, json_body=self._payload(job_input, timeout),
            timeout=wait_ms / 1000 + 10, idempotent=False,
        )
        return _job(response.json(), "runsync")

    async def submit(self, job_input: Any, timeout: float) -> BackendJob:
        response = await _send(
            self._client, "POST", f"{self.route.url}/run", what="run", headers=self._headers,
            json_body=self._payload(job_input, timeout), timeout=30, idempotent=False,
        )
        job = _job(response.json(), "run")
        if not job.id:
            raise BackendError("unavailable", "run: the backend answered without a job id")
        return job

    async def status(self, job_id: str) -> BackendJob:
        response = await _send(
            self._client, "GET", f"{self.route.url}/status/{job_id}", what="status",
            headers=self._headers, timeout=15, idempotent=True,
        )
        return _job(response.json(), "status")

    async def cancel(self, job_id: str) -> None:
        await _send(
            self._client, "POST", f"{self.route.url}/cancel/{job_id}", what="cancel",
            headers=self._headers, timeout=10, idempotent=True,
        )

    async def check(self) -> None:
        # /health answers from Runpod's control plane without waking a GPU worker.
        await _send(self._client, "GET", f"{self.route.url}/health", what="health",
                    headers=self._headers, timeout=3, idempotent=True, attempts=1)


class ModalBackend:
    provider = "modal"

    def __init__(self, route: ModelRoute, token: tuple[Secret, Secret] | None, client: aiohttp.ClientSession):
        self.route = route
        self._client = client
        self._headers = {"Modal-Key": token[0].reveal(), "Modal-Secret": token[1].reveal()} if token else {}

    async def call(self, job_input: Any, timeout: float) -> BackendJob:
        try:
            response = await _request(self._client, "POST", self.route.url, self._headers, {"input": job_input}, timeout)
        except TimeoutError:
            raise BackendError("timeout", "modal: the endpoint did not answer in time") from None
        except aiohttp.ClientError as exc:
            raise BackendError("unavailable", f"modal: cannot reach the endpoint ({type(exc).__name__})") from None
        if response.status == 429:
            raise BackendError("busy", "modal: endpoint rate limit (429)", _retry_after(response))
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error") is not None:
            # The worker itself answered with an error: the model failed on this input. Retrying
            # would fail the same way, so the job fails, whatever the status code.
            return BackendJob(id=None, status="FAILED", error=str(body["error"])[:2000])
        if response.status >= 500:
            # No worker answer (Modal's proxy, a crashed container): worth another try.
            raise BackendError("unavailable", f"modal: endpoint error {response.status}")
        if response.status >= 400:
            return BackendJob(id=None, status="FAILED", error=f"{response.status}: {_error_text(response)}")
        if not isinstance(body, dict) or "output" not in body:
            raise BackendError("unavailable", "modal: the endpoint answered without an output")
        return BackendJob(id=None, status="COMPLETED", output=body["output"])

    async def check(self) -> None:
        # Any HTTP request to a Modal web endpoint may start a GPU container, so readiness only
        # checks that its host accepts a connection.
        parts = urlsplit(self.route.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), timeout=3)
        except (OSError, TimeoutError):
            raise BackendError("unavailable", "modal: cannot connect to the endpoint's host") from None
        writer.close()


Backend = RunpodBackend | ModalBackend


def build_backends(
    routes: dict[str, ModelRoute],
    client: aiohttp.ClientSession,
    runpod_key: Secret | None,
    modal_token: tuple[Secret, Secret] | None,
) -> dict[str, Backend]:
    backends: dict[str, Backend] = {}
    for name, route in routes.items():
        if route.provider == "runpod":
            assert runpod_key is not None, "settings guarantee a Runpod key when a runpod model exists"
            backends[name] = RunpodBackend(route, runpod_key, client)
        else:
            backends[name] = ModalBackend(route, modal_token, client)
    return backends
