"""A stand-in for Runpod's serverless job queue, on 127.0.0.1: the part of Runpod between the gateway and a worker.

Callers (the gateway) use the queue endpoint API, `Authorization: Bearer <key>`:

    POST /v2/<endpoint>/run                 {"input": {...}, "policy"?: {"executionTimeout": ms}} -> {"id", "status"}
    POST /v2/<endpoint>/runsync?wait=<ms>   the same, answered once the job finishes or `wait` runs out
    GET  /v2/<endpoint>/status/<job>        {"id", "status", "output"?, "error"?, "delayTime", "executionTime"}
    POST /v2/<endpoint>/cancel/<job>        {"id", "status": "CANCELLED"}
    GET  /v2/<endpoint>/health              {"jobs": {...}, "workers": {...}}

Workers are the real `runpod` SDK in worker mode (`runpod.serverless.start`), which pulls jobs
through the URLs Runpod gives every container (`worker_env`), sending the worker key Runpod sets
as `RUNPOD_AI_API_KEY` in `Authorization` (no scheme):

    GET  /v2/<endpoint>/job-take/<worker>?...       a job {"id", "input"} (long poll), or 204
    POST /v2/<endpoint>/job-done/<worker>/<job>?... the handler's result {"output"} or {"error"} (JSON body)
    GET  /v2/<endpoint>/job-stop/<worker>?...       {"jobsToStop": [...]} (long poll), or 204
    GET  /v2/<endpoint>/ping/<worker>?...           heartbeat

So `/runsync` and `/run` reach the worker only the way they do on Runpod: queued, taken, answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
LONG_POLL_SECONDS = 2.0
"""How long job-take and job-stop hold a request open; short, so workers stop promptly."""
MAX_WAIT_MS = 300_000


@dataclass
class Job:
    id: str
    endpoint: str
    input: dict[str, Any]
    timeout_ms: int
    created: float = field(default_factory=time.time)
    status: str = "IN_QUEUE"
    worker: str | None = None
    started: float | None = None
    finished: float | None = None
    output: Any = None
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def view(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.started is not None:
            body["delayTime"] = int((self.started - self.created) * 1000)
        if self.finished is not None and self.started is not None:
            body["executionTime"] = int((self.finished - self.started) * 1000)
        if self.status == "COMPLETED":
            body["output"] = self.output
        if self.error is not None:
            body["error"] = self.error
        return body


class RunpodQueue:
    """Queues for the given endpoint ids; `api_keys` are the account keys callers may present."""

    def __init__(self, endpoints: Iterable[str], api_keys: Iterable[str]):
        self.endpoints = set(endpoints)
        self._api_keys = frozenset(api_keys)
        self.worker_key = secrets.token_hex(16)
        """What a worker sends (Runpod sets it in the container as RUNPOD_AI_API_KEY)."""
        self.jobs: dict[str, Job] = {}
        self.pings: dict[str, float] = {}
        self._counter = itertools.count(1)
        self._queued: dict[str, asyncio.Condition] = {}
        self._stops: dict[str, set[str]] = {}

    def worker_env(self, base_url: str, endpoint: str, worker: str) -> dict[str, str]:
        """The variables Runpod sets in a serverless worker's container, pointed at this queue."""
        root = f"{base_url.rstrip('/')}/v2/{endpoint}"
        return {
            "RUNPOD_ENDPOINT_ID": endpoint,
            "RUNPOD_POD_ID": worker,
            "RUNPOD_AI_API_KEY": self.worker_key,
            "RUNPOD_WEBHOOK_GET_JOB": f"{root}/job-take/$ID?gpu=CPU",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{root}/job-done/$RUNPOD_POD_ID/$ID?gpu=CPU",
            "RUNPOD_WEBHOOK_POST_STREAM": f"{root}/job-stream/$RUNPOD_POD_ID/$ID?gpu=CPU",
            "RUNPOD_WEBHOOK_PING": f"{root}/ping/$RUNPOD_POD_ID?gpu=CPU",
        }

    # ------------------------------------------------------------------ state

    def _condition(self, endpoint: str) -> asyncio.Condition:
        return self._queued.setdefault(endpoint, asyncio.Condition())

    async def _enqueue(self, endpoint: str, body: dict[str, Any]) -> Job:
        policy = body.get("policy") or {}
        job = Job(
            id=f"{next(self._counter)}-{secrets.token_hex(4)}-local",
            endpoint=endpoint,
            input=body["input"],
            timeout_ms=int(policy.get("executionTimeout", 600_000)),
        )
        self.jobs[job.id] = job
        async with self._condition(endpoint):
            self._condition(endpoint).notify_all()
        return job

    def _expire(self, job: Job) -> None:
        # Runpod stops a job that runs past its executionTimeout and reports TIMED_OUT.
        if job.status == "IN_PROGRESS" and job.started and (time.time() - job.started) * 1000 > job.timeout_ms:
            self._finish(job, "TIMED_OUT", error="execution timeout exceeded")
            if job.worker:
                self._stops.setdefault(job.worker, set()).add(job.id)

    def _finish(self, job: Job, status: str, output: Any = None, error: str | None = None) -> None:
        if job.status in TERMINAL:
            return
        job.status, job.output, job.error, job.finished = status, output, error, time.time()
        job.done.set()

    async def _take(self, endpoint: str, worker: str) -> Job | None:
        condition = self._condition(endpoint)
        deadline = time.monotonic() + LONG_POLL_SECONDS
        async with condition:
            while True:
                for job in self.jobs.values():
                    if job.endpoint == endpoint and job.status == "IN_QUEUE":
                        job.status, job.worker, job.started = "IN_PROGRESS", worker, time.time()
                        return job
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    await asyncio.wait_for(condition.wait(), remaining)
                except TimeoutError:
                    return None

    # ------------------------------------------------------------------ HTTP

    def app(self) -> Starlette:
        base = "/v2/{endpoint}"
        return Starlette(routes=[
            Route(f"{base}/run", self._run, methods=["POST"]),
            Route(f"{base}/runsync", self._runsync, methods=["POST"]),
            Route(f"{base}/status/{{job}}", self._status, methods=["GET"]),
            Route(f"{base}/cancel/{{job}}", self._cancel, methods=["POST"]),
            Route(f"{base}/health", self._health, methods=["GET"]),
            Route(f"{base}/job-take/{{worker}}", self._job_take, methods=["GET"]),
            Route(f"{base}/job-done/{{worker}}/{{job}}", self._job_done, methods=["POST"]),
            Route(f"{base}/job-stop/{{worker}}", self._job_stop, methods=["GET"]),
            Route(f"{base}/ping/{{worker}}", self._ping, methods=["GET"]),
        ])

    def _caller_error(self, request: Request) -> Response | None:
        if request.path_params["endpoint"] not in self.endpoints:
            return JSONResponse({"error": "endpoint not found"}, status_code=404)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self._api_keys:
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return None

    def _worker_error(self, request: Request) -> Response | None:
        if request.path_params["endpoint"] not in self.endpoints:
            return JSONResponse({"error": "endpoint not found"}, status_code=404)
        if not secrets.compare_digest(request.headers.get("authorization", ""), self.worker_key):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        return None

    async def _job_body(self, request: Request) -> dict[str, Any] | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the body must be JSON"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return JSONResponse({"error": "input is required and must be an object"}, status_code=400)
        unknown = set(body) - {"input", "policy", "webhook", "s3Config"}
        if unknown:
            return JSONResponse({"error": f"unknown keys: {', '.join(sorted(unknown))}"}, status_code=400)
        policy = body.get("policy", {})
        if not isinstance(policy, dict) or int(policy.get("executionTimeout", 5000)) < 5000:
            return JSONResponse({"error": "policy.executionTimeout must be at least 5000 ms"}, status_code=400)
        return body

    async def _run(self, request: Request) -> Response:
        error = self._caller_error(request)
        body = error or await self._job_body(request)
        if isinstance(body, Response):
            return body
        job = await self._enqueue(request.path_params["endpoint"], body)
        return JSONResponse({"id": job.id, "status": job.status})

    async def _runsync(self, request: Request) -> Response:
        error = self._caller_error(request)
        body = error or await self._job_body(request)
        if isinstance(body, Response):
            return body
        wait_ms = int(request.query_params.get("wait", "90000"))
        if not 1000 <= wait_ms <= MAX_WAIT_MS:
            return JSONResponse({"error": f"wait must be between 1000 and {MAX_WAIT_MS}"}, status_code=400)
        job = await self._enqueue(request.path_params["endpoint"], body)
        # Past `wait`, answered with the job still queued or running, as Runpod does.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(job.done.wait(), wait_ms / 1000)
        return JSONResponse(job.view())

    def _own_job(self, request: Request) -> Job | None:
        job = self.jobs.get(request.path_params["job"])
        return job if job is not None and job.endpoint == request.path_params["endpoint"] else None

    async def _status(self, request: Request) -> Response:
        error = self._caller_error(request)
        if error:
            return error
        job = self._own_job(request)
        if job is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        self._expire(job)
        return JSONResponse(job.view())

    async def _cancel(self, request: Request) -> Response:
        error = self._caller_error(request)
        if error:
            return error
        job = self._own_job(request)
        if job is None:
            return JSONResponse({"error": "job not found"}, status_code=404)
        if job.status not in TERMINAL:
            if job.worker:
                self._stops.setdefault(job.worker, set()).add(job.id)
            self._finish(job, "CANCELLED")
        return JSONResponse({"id": job.id, "status": "CANCELLED"})

    async def _health(self, request: Request) -> Response:
        error = self._caller_error(request)
        if error:
            return error
        endpoint = request.path_params["endpoint"]
        jobs = [j for j in self.jobs.values() if j.endpoint == endpoint]

        def count(status: str) -> int:
            return sum(1 for j in jobs if j.status == status)

        seen = [w for w, t in self.pings.items() if w.startswith(endpoint) and time.time() - t < 60]
        return JSONResponse({
            "jobs": {"completed": count("COMPLETED"), "failed": count("FAILED"), "inProgress": count("IN_PROGRESS"),
                     "inQueue": count("IN_QUEUE"), "retried": 0},
            "workers": {"idle": max(0, len(seen) - count("IN_PROGRESS")), "running": count("IN_PROGRESS")},
        })

    async def _job_take(self, request: Request) -> Response:
        error = self._worker_error(request)
        if error:
            return error
        job = await self._take(request.path_params["endpoint"], request.path_params["worker"])
        if job is None:
            return Response(status_code=204)
        return JSONResponse({"id": job.id, "input": job.input})

    async def _job_done(self, request: Request) -> Response:
        error = self._worker_error(request)
        if error:
            return error
        job = self._own_job(request)
        if job is None or job.worker != request.path_params["worker"]:
            return JSONResponse({"error": "job not found"}, status_code=404)
        # The SDK posts the JSON result with a form content type; Runpod reads the raw JSON.
        try:
            result = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the result must be JSON"}, status_code=400)
        if not isinstance(result, dict):
            return JSONResponse({"error": "the result must be an object"}, status_code=400)
        if result.get("error"):
            self._finish(job, "FAILED", error=str(result["error"]))
        else:
            self._finish(job, "COMPLETED", output=result.get("output"))
        return JSONResponse({})

    async def _job_stop(self, request: Request) -> Response:
        error = self._worker_error(request)
        if error:
            return error
        worker = request.path_params["worker"]
        deadline = time.monotonic() + LONG_POLL_SECONDS
        while time.monotonic() < deadline:  # bounded long poll
            stops = self._stops.pop(worker, set())
            if stops:
                return JSONResponse({"jobsToStop": sorted(stops)})
            await asyncio.sleep(0.1)
        return Response(status_code=204)

    async def _ping(self, request: Request) -> Response:
        error = self._worker_error(request)
        if error:
            return error
        self.pings[request.path_params["worker"]] = time.time()
        return JSONResponse({})
