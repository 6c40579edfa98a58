"""The gateway application (hotpath.GatewayApp in front of FastAPI) and its lifespan: clients are built inside the running event loop
(gRPC and httpx clients bind to it) and closed on shutdown; nothing happens at import.

`create_app(settings, overrides)` is what tests use (fakes go in `Overrides`);
`create_app_from_env()` is the uvicorn factory the container runs.
"""

from __future__ import annotations

import inspect
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from fastapi import FastAPI
from google.api_core import exceptions as gexc
from starlette.requests import Request
from starlette.responses import Response

from inference.gateway import errors, logs
from inference.gateway.api import router
from inference.gateway.backends import build_backends
from inference.gateway.hotpath import GatewayApp
from inference.gateway.ratelimit import RateLimiter
from inference.gateway.results import GcsResultStore, ResultStore
from inference.gateway.runner import JobRunner
from inference.gateway.settings import Settings
from inference.gateway.state import Gateway
from inference.gateway.store import JobStore
from inference.gateway.webhooks import Resolver, WebhookPolicy, WebhookSender, system_resolver


@dataclass
class Overrides:
    """Replacements for the real clients, for tests and the benchmark."""

    firestore_client: Any = None
    backend_client: aiohttp.ClientSession | None = None
    webhook_client: httpx.AsyncClient | None = None
    resolver: Resolver | None = None
    results: ResultStore | None = None
    instance_id: str | None = None
    start_runner: bool = True


def _firestore_client(settings: Settings) -> Any:
    from google.cloud import firestore

    # With FIRESTORE_EMULATOR_HOST set, the client talks to the emulator without credentials.
    return firestore.AsyncClient(project=settings.project, database=settings.database)


async def _close_firestore(client: Any) -> None:
    # AsyncClient.close() leaves the gRPC channel open; the transport's close() ends it.
    try:
        result = client._firestore_api.transport.close()
        if inspect.isawaitable(result):
            await result
    except Exception as exc:
        logs.failure("closing the Firestore client failed", exc)


def _webhook_tls(settings: Settings) -> ssl.SSLContext | bool:
    """The public roots (certifi, as httpx uses by default), plus the operator's own CAs if configured."""
    if settings.webhook_ca_file is None:
        return True
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    context.load_verify_locations(cafile=settings.webhook_ca_file)
    return context


def create_app(settings: Settings, overrides: Overrides | None = None) -> GatewayApp:
    o = overrides or Overrides()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            firestore_client = o.firestore_client or _firestore_client(settings)
            if o.firestore_client is None:
                stack.push_async_callback(_close_firestore, firestore_client)
            backend_client = o.backend_client or await stack.enter_async_context(
                # aiohttp rather than httpx here: on the predict path it costs about a sixth of the
                # CPU per call. Direct connections only (no proxy from env), pooled, DNS cached.
                aiohttp.ClientSession(trust_env=False, connector=aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300))
            )
            webhooks = None
            if settings.webhook_secret is not None:
                webhook_client = o.webhook_client or await stack.enter_async_context(
                    httpx.AsyncClient(trust_env=False, follow_redirects=False, verify=_webhook_tls(settings))
                )
                policy = WebhookPolicy(o.resolver or system_resolver, settings.webhook_allow_networks)
                webhooks = WebhookSender(policy, settings.webhook_secret, webhook_client)
            results = o.results
            if results is None and settings.results_bucket:
                results = GcsResultStore(settings.results_bucket)
            store = JobStore(firestore_client, settings.collection_prefix)
            backends = build_backends(settings.models, backend_client, settings.runpod_api_key, settings.modal_proxy_token)
            runner = JobRunner(store, backends, settings, results, webhooks, instance_id=o.instance_id)
            app.state.gateway = Gateway(
                settings=settings,
                store=store,
                backends=backends,
                limiter=RateLimiter(settings.rate_limit_rps, settings.rate_limit_burst),
                runner=runner,
                results=results,
                webhooks=webhooks,
            )
            if o.start_runner:
                runner.start()
            stack.push_async_callback(runner.stop)
            logs.event(20, "gateway started", instance=runner.instance_id, models=sorted(settings.models),
                       stack=settings.stack, environment=settings.environment)
            yield

    app = FastAPI(title="modelstack gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    errors.install(app)

    @app.exception_handler(gexc.GoogleAPICallError)
    async def _store_down(_: Request, exc: gexc.GoogleAPICallError) -> Response:
        logs.failure("job store call failed", exc)
        return errors.error_response(503, "store_unavailable", "the job store is unavailable; retry later",
                                     {"Retry-After": "1"})

    app.include_router(router)
    # /healthz and predict are answered ahead of the framework; the body limit wraps both paths.
    return GatewayApp(app, max_body_bytes=settings.max_body_bytes)


def create_app_from_env() -> GatewayApp:
    logs.configure()
    return create_app(Settings.from_env())
