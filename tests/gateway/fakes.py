"""Fake GPU backends on 127.0.0.1: Runpod's serverless job API and a Modal web endpoint.

The Runpod fake speaks the documented queue-endpoint shapes: `POST /v2/<id>/run` and `/runsync`
take `{"input": {...}, "policy"?: {...}}` and answer `{"id", "status"}` (+ `output` / `error`,
`delayTime`, `executionTime`); `GET /status/<job>`; `POST /cancel/<job>` answers
`{"id", "status": "CANCELLED"}`; `GET /health` answers `{"jobs": {...}, "workers": {...}}`;
unknown jobs are 404 and a wrong key is 401.

Each job's behaviour is chosen by its input, so a test states what it wants in the request:
- `steps`: status polls before the job completes (default 1: IN_QUEUE, then COMPLETED);
- `fail`: finish FAILED with this error; `timedOut`: finish TIMED_OUT;
- `hang`: stay IN_PROGRESS for ever (a worker that died mid-job);
- `outputBytes`: return a string output of this many characters;
- `sleep`: seconds /runsync (or the Modal endpoint) takes to answer;
- `early`: /runsync answers at once with the job still IN_QUEUE (its wait ran out);
- `runErrors`: how many /run calls for this `tag` answer 500 before one is accepted;
- `status`: an HTTP status Modal's proxy answers with (plain text, no worker answer).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

RUNPOD_KEY = "rp-test-key-0123456789abcdef"
MODAL_TOKEN = ("wk-test-token-id", "ws-test-token-secret-0123456789")


@dataclass
class FakeJob:
    id: str
    input: dict[str, Any]
    status: str = "IN_QUEUE"
    polls: int = 0
    output: Any = None
    error: str | None = None


@dataclass
class FakeState:
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)
    """Every accepted /run and /runsync body, in order."""
    cancels: list[str] = field(default_factory=list)
    status_calls: int = 0
    modal_calls: list[dict[str, Any]] = field(default_factory=list)
    run_failures: dict[str, int] = field(default_factory=dict)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))


def _output(job_input: dict[str, Any]) -> Any:
    if "outputBytes" in job_input:
        return "x" * int(job_input["outputBytes"])
    return {"echo": job_input}


def _advance(job: FakeJob) -> None:
    """One status poll's worth of progress."""
    if job.status in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
        return
    inp = job.input
    if inp.get("hang"):
        job.status = "IN_PROGRESS"
        return
    job.polls += 1
    steps = int(inp.get("steps", 1))
    if job.polls < steps:
        job.status = "IN_PROGRESS"
        return
    if "fail" in inp:
        job.status, job.error = "FAILED", str(inp["fail"])
    elif inp.get("timedOut"):
        job.status = "TIMED_OUT"
    else:
        job.status, job.output = "COMPLETED", _output(inp)


def _view(job: FakeJob) -> dict[str, Any]:
    body: dict[str, Any] = {"id": job.id, "status": job.status, "delayTime": 12, "executionTime": 34}
    if job.output is not None:
        body["output"] = job.output
    if job.error is not None:
        body["error"] = job.error
    return body


def build_app(state: FakeState) -> Starlette:
    def authorized(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {RUNPOD_KEY}"

    async def parse_job_body(request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return JSONResponse({"error": "input is required"}, status_code=400)
        if set(body) - {"input", "policy", "webhook", "s3Config"}:
            return JSONResponse({"error": "unknown top-level keys"}, status_code=400)
        policy = body.get("policy", {})
        if not isinstance(policy, dict) or int(policy.get("executionTimeout", 5000)) < 5000:
            return JSONResponse({"error": "executionTimeout must be at least 5000 ms"}, status_code=400)
        return body

    async def run(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        body = await parse_job_body(request)
        if isinstance(body, Response):
            return body
        inp = body["input"]
        tag = str(inp.get("tag", ""))
        if inp.get("runErrors") and state.run_failures.get(tag, 0) < int(inp["runErrors"]):
            state.run_failures[tag] = state.run_failures.get(tag, 0) + 1
            return JSONResponse({"error": "internal error"}, status_code=500)
        state.runs.append(body)
        job = FakeJob(id=f"job-{next(state.counter)}-u1", input=inp)
        state.jobs[job.id] = job
        return JSONResponse({"id": job.id, "status": "IN_QUEUE"})

    async def runsync(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        body = await parse_job_body(request)
        if isinstance(body, Response):
            return body
        wait_ms = int(request.query_params.get("wait", "90000"))
        if not 1000 <= wait_ms <= 300000:
            return JSONResponse({"error": "wait must be between 1000 and 300000"}, status_code=400)
        inp = body["input"]
        if "statusCode" in inp:
            return JSONResponse({"error": "worker crashed"}, status_code=int(inp["statusCode"]))
        state.runs.append(body)
        job = FakeJob(id=f"sync-{next(state.counter)}", input=inp)
        state.jobs[job.id] = job
        if inp.get("early"):
            return JSONResponse(_view(job))  # as when runsync's wait elapses with the job queued
        sleep = float(inp.get("sleep", 0))
        if inp.get("hang") or sleep * 1000 > wait_ms:
            await asyncio.sleep(wait_ms / 1000)
            job.status = "IN_PROGRESS"
            return JSONResponse(_view(job))
        if sleep:
            await asyncio.sleep(sleep)
        for _ in range(int(inp.get("steps", 1))):
            _advance(job)
        return JSONResponse(_view(job))

    async def status(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        state.status_calls += 1
        job = state.jobs.get(request.path_params["job"])
        if job is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        _advance(job)
        return JSONResponse(_view(job))

    async def cancel(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        job = state.jobs.get(request.path_params["job"])
        if job is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        state.cancels.append(job.id)
        if job.status not in ("COMPLETED", "FAILED", "TIMED_OUT"):
            job.status = "CANCELLED"
        return JSONResponse({"id": job.id, "status": "CANCELLED"})

    async def health(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        counts = {s: sum(1 for j in state.jobs.values() if j.status == s) for s in ("COMPLETED", "FAILED", "IN_PROGRESS", "IN_QUEUE")}
        return JSONResponse({
            "jobs": {"completed": counts["COMPLETED"], "failed": counts["FAILED"], "inProgress": counts["IN_PROGRESS"],
                     "inQueue": counts["IN_QUEUE"], "retried": 0},
            "workers": {"idle": 1, "running": 0},
        })

    async def modal(request: Request) -> Response:
        if (request.headers.get("modal-key"), request.headers.get("modal-secret")) != MODAL_TOKEN:
            return Response("modal-http: missing credentials for proxy authorization", status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        inp = body.get("input") if isinstance(body, dict) else None
        if not isinstance(inp, dict):
            return JSONResponse({"error": "input is required"}, status_code=422)
        state.modal_calls.append(inp)
        if inp.get("sleep"):
            await asyncio.sleep(float(inp["sleep"]))
        if "status" in inp:  # Modal's proxy answering for a container that is not there
            return Response("modal-http: upstream unavailable", status_code=int(inp["status"]))
        if "fail" in inp:
            return JSONResponse({"error": str(inp["fail"])}, status_code=500)
        return JSONResponse({"output": _output(inp)})

    base = "/v2/{endpoint}"
    return Starlette(routes=[
        Route(f"{base}/run", run, methods=["POST"]),
        Route(f"{base}/runsync", runsync, methods=["POST"]),
        Route(f"{base}/status/{{job}}", status, methods=["GET"]),
        Route(f"{base}/cancel/{{job}}", cancel, methods=["POST"]),
        Route(f"{base}/health", health, methods=["GET"]),
        Route("/modal/{name}", modal, methods=["POST"]),
    ])


class MemoryResultStore:
    """A results bucket in memory; URLs look signed so tests can tell them apart."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.signed: list[tuple[str, int]] = []

    async def put(self, path: str, data: bytes, content_type: str) -> None:
        self.objects[path] = (data, content_type)

    async def signed_url(self, path: str, ttl_seconds: int) -> str:
        self.signed.append((path, ttl_seconds))
        return f"https://storage.example.test/results-bucket/{path}?X-Goog-Expires={ttl_seconds}&n={len(self.signed)}"


@dataclass
class Receiver:
    """A user's webhook endpoint: records deliveries, answers with scripted status codes."""

    statuses: list[int] = field(default_factory=list)
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.deliveries.append((dict(request.headers), await request.body()))
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        return Starlette(routes=[Route("/hooks/{rest:path}", hook, methods=["POST"])])
