"""The job record: what Firestore holds for one asynchronous request, and how callers see it.

Firestore is the source of truth. Inputs and outputs are stored as JSON strings rather than maps:
Firestore would refuse nested arrays and turn integers into doubles, and a string round-trips
exactly. Times are Unix seconds (doubles), which also makes the lease query a plain range scan.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

IN_QUEUE, IN_PROGRESS, COMPLETED, FAILED, CANCELLED = "IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})

# Webhook delivery states.
PENDING, DELIVERED, GAVE_UP = "pending", "delivered", "failed"


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    """Name of the API key that created the job; only that caller can see or cancel it."""
    model: str
    provider: str
    input_json: str
    request_hash: str
    """Hash of (model, input, webhook): an idempotent retry must repeat the same request."""
    status: str
    created_at: float
    updated_at: float
    deadline: float
    attempts: int = 0
    backend_job_id: str | None = None
    backend_status: str | None = None
    started_at: float | None = None
    completed_at: float | None = None
    error: str | None = None
    output_json: str | None = None
    output_path: str | None = None
    output_url: str | None = None
    output_url_expires_at: float | None = None
    webhook: dict[str, Any] | None = None
    lease_owner: str | None = None
    lease_until: float | None = None
    """Set while the job needs driving (running, or a webhook pending); absent once it is done."""
    version: Any = field(default=None, compare=False)
    """Firestore update_time of the snapshot this was read from: the precondition of the next write."""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def evolve(self, **changes: Any) -> Job:
        return replace(self, **changes)


_STORED = [f.name for f in fields(Job) if f.name not in ("id", "version")]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


FIELD_NAMES = {name: _camel(name) for name in _STORED}
"""Python attribute -> Firestore field (camelCase, like the API)."""


def to_document(job: Job) -> dict[str, Any]:
    return {FIELD_NAMES[name]: getattr(job, name) for name in _STORED if getattr(job, name) is not None}


def from_document(doc_id: str, data: dict[str, Any], version: Any) -> Job:
    values = {name: data.get(stored) for name, stored in FIELD_NAMES.items()}
    values["attempts"] = int(values.get("attempts") or 0)
    return Job(id=doc_id, version=version, **values)


def request_hash(model: str, job_input: Any, webhook: str | None) -> str:
    canonical = json.dumps({"model": model, "input": job_input, "webhook": webhook}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_id(owner: str, key: str) -> str:
    """Same caller + same key -> same document id, so a retry can only ever find the first job."""
    return "i" + hashlib.sha256(f"{owner}\n{key}".encode()).hexdigest()[:39]


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def view(job: Job) -> dict[str, Any]:
    """What the API returns and webhooks carry."""
    out: dict[str, Any] = {
        "id": job.id,
        "model": job.model,
        "status": job.status,
        "createdAt": _iso(job.created_at),
        "updatedAt": _iso(job.updated_at),
        "attempts": job.attempts,
    }
    optional = {
        "startedAt": _iso(job.started_at),
        "completedAt": _iso(job.completed_at),
        "backendJobId": job.backend_job_id,
        "error": job.error,
        "outputUrl": job.output_url,
        "outputUrlExpiresAt": _iso(job.output_url_expires_at),
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    if job.output_json is not None:
        out["output"] = json.loads(job.output_json)
    if job.webhook is not None:
        hook = job.webhook
        out["webhook"] = {
            "url": hook.get("url"),
            "state": hook.get("state"),
            "attempts": hook.get("attempts", 0),
            **({"lastStatus": hook["lastStatus"]} if hook.get("lastStatus") is not None else {}),
            **({"lastError": hook["lastError"]} if hook.get("lastError") else {}),
            **({"deliveredAt": _iso(hook["deliveredAt"])} if hook.get("deliveredAt") else {}),
        }
    return out
