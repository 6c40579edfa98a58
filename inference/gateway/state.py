"""What one running gateway holds: settings, clients and the job runner, built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from inference.gateway.backends import Backend
from inference.gateway.ratelimit import RateLimiter
from inference.gateway.results import ResultStore
from inference.gateway.runner import JobRunner
from inference.gateway.settings import Settings
from inference.gateway.store import JobStore
from inference.gateway.webhooks import WebhookSender


@dataclass
class Gateway:
    settings: Settings
    store: JobStore
    backends: dict[str, Backend]
    limiter: RateLimiter
    runner: JobRunner
    results: ResultStore | None
    webhooks: WebhookSender | None
