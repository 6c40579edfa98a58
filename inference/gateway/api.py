"""HTTP routes. Handlers parse and check the request, then hand over to predict / the runner / the store.

Bodies are read as bytes and parsed here (not by FastAPI's body models) so that a malformed body
is a 400 with our error shape, the job-input limit is checked on the exact bytes, and the hot
predict path skips a validation layer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from inference import signing
from inference.gateway import logs
from inference.gateway.backends import Backend, BackendError, BackendJob
from inference.gateway.errors import ApiError
from inference.gateway.jobs import CANCELLED, IN_QUEUE, PENDING, Job, idempotent_id, request_hash, view
from inference.gateway.predict import predict
from inference.gateway.ratelimit import retry_after_header
from inference.gateway.state import Gateway
from inference.gateway.store import StaleJobError
from inference.gateway.webhooks import WebhookRejectedError

router = APIRouter()

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json", headers=headers)


def authenticate(gw: Gateway, authorization: str | None, api_key: str | None) -> str:
    """Check the key (Bearer or X-API-Key) and charge the caller's rate limit. Returns the key name.

    Shared by the FastAPI routes and the predict fast path (hotpath.py), so both enforce the same.
    """
    presented = api_key
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        presented = token.strip() if scheme.lower() == "bearer" else None
    if not presented:
        raise ApiError(401, "unauthenticated", "send an API key as 'Authorization: Bearer <key>'",
                       {"WWW-Authenticate": "Bearer"})
    name = gw.settings.api_keys.match(presented)
    if name is None:
        raise ApiError(401, "unauthenticated", "the API key is not valid", {"WWW-Authenticate": "Bearer"})
    wait = gw.limiter.acquire(name)
    if wait > 0:
        raise ApiError(429, "rate_limited", "too many requests for this API key",
                       {"Retry-After": retry_after_header(wait)})
    return name


async def caller(request: Request) -> str:
    """The FastAPI dependency. Async on purpose: FastAPI runs a sync dependency in its threadpool,
    which cost a thread hand-off (lock waits and wake-ups) on every request."""
    headers = request.headers
    return authenticate(request.app.state.gateway, headers.get("authorization"), headers.get("x-api-key"))


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return body


async def _object_body(request: Request) -> tuple[bytes, dict[str, Any]]:
    raw = await request.body()
    return raw, _json_object(raw)


def _validated(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]]
        raise ApiError(422, "invalid_request", "; ".join(parts)) from None


def _backend_failure(exc: BackendError) -> ApiError:
    if exc.kind == "busy":
        return ApiError(503, "backend_busy", exc.message, {"Retry-After": retry_after_header(exc.retry_after or 1)})
    if exc.kind == "timeout":
        return ApiError(504, "backend_timeout", exc.message)
    return ApiError(502, f"backend_{exc.kind}", exc.message)


# --- health ------------------------------------------------------------------------------------

# GET /healthz (liveness, no I/O) is answered by hotpath.GatewayApp in front of the framework.


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway

    async def check(name: str, probe: Any) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe, timeout=3)
            return name, "ok"
        except BackendError as exc:
            return name, exc.message
        except Exception as exc:
            return name, f"unavailable ({type(exc).__name__})"

    probes = [check("firestore", gw.store.ping())]
    probes += [check(f"model:{name}", backend.check()) for name, backend in gw.backends.items()]
    results = dict(await asyncio.gather(*probes))
    ready = all(v == "ok" for v in results.values())
    return _json(200 if ready else 503, {"status": "ok" if ready else "unavailable", "checks": results})


# --- synchronous predictions -------------------------------------------------------------------


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any]


def predict_input(raw: bytes) -> dict[str, Any]:
    """The `input` of a predict body, or the 400/422 a malformed one gets."""
    req: PredictRequest = _validated(PredictRequest, _json_object(raw))
    return req.input


def model_backend(gw: Gateway, name: str) -> Backend:
    """The backend serving `name`. Asked after authentication, so a caller without a key cannot
    probe which models exist."""
    backend = gw.backends.get(name)
    if backend is None:
        raise ApiError(404, "model_not_found", f"no model named {name!r}")
    return backend


async def predict_answer(gw: Gateway, name: str, who: str, backend: Backend, job_input: Any) -> dict[str, Any]:
    """`POST /v1/models/{name}:predict` once checked: the 200 body, or an ApiError.

    Served by hotpath.GatewayApp ahead of FastAPI (see there for why).
    """
    try:
        answer: BackendJob = await predict(backend, job_input, min(gw.settings.poll_interval_seconds, 0.5))
    except BackendError as exc:
        logs.event(logging.WARNING, "predict failed", model=name, caller=who, kind=exc.kind)
        raise _backend_failure(exc) from None
    if answer.status == "COMPLETED":
        return {"model": name, "id": answer.id, "status": "COMPLETED", "output": answer.output}
    if answer.status == "TIMED_OUT":
        raise ApiError(504, "backend_timeout", "the backend timed the request out")
    message = answer.error or f"the backend reported {answer.status}"
    raise ApiError(502, "model_failed", message)


# --- asynchronous jobs -------------------------------------------------------------------------


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=64)
    input: dict[str, Any]
    webhook: str | None = Field(default=None, max_length=2048)


@router.post("/v1/jobs")
async def create_job(request: Request, who: str = Depends(caller)) -> Response:
    gw: Gateway = request.app.state.gateway
    raw, body = await _object_body(request)
    if len(raw) > gw.settings.max_job_input_bytes:
        raise ApiError(413, "payload_too_large",
                       f"job requests are limited to {gw.settings.max_job_input_bytes} bytes; use predict or pass a URL")
    req: JobRequest = _validated(JobRequest, body)
    route = gw.settings.models.get(req.model)
    if route is None:
        raise ApiError(404, "model_not_found", f"no model named {req.model!r}")
    key = request.headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 printable ASCII characters")
    if req.webhook is not None:
        if gw.webhooks is None:
            raise ApiError(400, "webhooks_disabled", "this gateway has no webhook signing key configured")
        try:
            await gw.webhooks.policy.check(req.webhook)
        except WebhookRejectedError as exc:
            raise ApiError(400, "webhook_rejected", str(exc)) from None

    now = time.time()
    job = Job(
        id=idempotent_id(who, key) if key else uuid.uuid4().hex,
        owner=who,
        model=req.model,
        provider=route.provider,
        input_json=json.dumps(req.input, separators=(",", ":")),
        request_hash=request_hash(req.model, req.input, req.webhook),
        status=IN_QUEUE,
        created_at=now,
        updated_at=now,
        deadline=now + route.timeout_seconds,
        webhook={"url": req.webhook, "state": PENDING, "attempts": 0} if req.webhook else None,
        **gw.runner.new_lease(now),
    )
    stored, created = await gw.store.create(job)
    if not created:
        if stored.request_hash != job.request_hash or stored.owner != who:
            raise ApiError(422, "idempotency_key_reused",
                           "this Idempotency-Key was already used for a different request")
        return _json(200, view(stored), {"Idempotent-Replayed": "true", "Location": f"/v1/jobs/{stored.id}"})
    gw.runner.drive(stored)
    logs.event(logging.INFO, "job created", jobId=stored.id, model=stored.model, caller=who)
    return _json(202, view(stored), {"Location": f"/v1/jobs/{stored.id}"})


async def _own_job(gw: Gateway, job_id: str, who: str) -> Job:
    job = await gw.store.get(job_id) if re.match(r"^[A-Za-z0-9]{1,64}$", job_id) else None
    # Someone else's job is reported exactly like a missing one.
    if job is None or job.owner != who:
        raise ApiError(404, "job_not_found", "no such job")
    return job


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, request: Request, who: str = Depends(caller)) -> Response:
    gw: Gateway = request.app.state.gateway
    job = await _own_job(gw, job_id, who)
    if not job.terminal and job.lease_until is not None and job.lease_until < time.time():
        # Its driver is gone (or this instance was idle without CPU): take it over now.
        await gw.runner.adopt(job)
    if job.output_path and gw.results and (job.output_url_expires_at or 0) < time.time() + 60:
        ttl = gw.settings.result_url_ttl_seconds
        url = await gw.results.signed_url(job.output_path, ttl)
        try:
            job = await gw.store.write(job, output_url=url, output_url_expires_at=time.time() + ttl)
        except StaleJobError:
            job = job.evolve(output_url=url)
    return _json(200, view(job))


@router.delete("/v1/jobs/{job_id}")
async def cancel_job(job_id: str, request: Request, who: str = Depends(caller)) -> Response:
    gw: Gateway = request.app.state.gateway
    job = await _own_job(gw, job_id, who)
    if not job.terminal:
        job = await gw.runner.cancel(job)
    if job.status != CANCELLED:
        raise ApiError(409, "job_finished", f"the job already finished with status {job.status}")
    return _json(200, view(job))


# --- models and the worker's readiness callback -----------------------------------------------


@router.get("/v1/models")
async def list_models(request: Request, who: str = Depends(caller)) -> Response:
    gw: Gateway = request.app.state.gateway
    readiness = await gw.store.readiness()
    models = [
        {"name": name, "provider": r.provider, "timeoutSeconds": r.timeout_seconds, "readiness": readiness.get(name)}
        for name, r in sorted(gw.settings.models.items())
    ]
    return _json(200, {"models": models})


class ReadinessReport(BaseModel):
    model_config = ConfigDict(extra="ignore")  # workers may add fields; we keep the ones we know
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    revision: str = Field(min_length=1, max_length=128)
    endpoint_id: str = Field(alias="endpointId", min_length=1, max_length=256)
    load_seconds: float = Field(alias="loadSeconds", ge=0)
    status: Literal["ready", "failed"]
    error: str | None = Field(default=None, max_length=4000)


@router.post("/internal/ready", status_code=204)
async def worker_ready(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    raw = await request.body()
    secret = gw.settings.callback_secret
    if secret is None:
        raise ApiError(401, "invalid_signature", "readiness callbacks are not configured on this gateway")
    try:
        signing.verify(secret.reveal(), request.headers, raw)
    except signing.SignatureError:
        raise ApiError(401, "invalid_signature", "the callback signature is missing, stale or invalid") from None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    report: ReadinessReport = _validated(ReadinessReport, body)
    record = report.model_dump(by_alias=True)
    record["reportedAt"] = int(request.headers[signing.TIMESTAMP_HEADER])
    record["receivedAt"] = time.time()
    await gw.store.record_readiness(report.model, record)
    logs.event(logging.INFO, "worker readiness", model=report.model, status=report.status,
               revision=report.revision, endpointId=report.endpoint_id, loadSeconds=report.load_seconds)
    return Response(status_code=204)
