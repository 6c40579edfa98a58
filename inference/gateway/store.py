"""Firestore persistence for jobs and model readiness.

Concurrency is handled with Firestore's own primitives rather than locks:
- `create` uses the create-only write, so two requests racing on one idempotency key cannot both
  create a job; the loser reads the winner's document;
- every later write carries the `last_update_time` precondition of the snapshot it was computed
  from, so a write based on a stale read fails (`StaleJobError`) and the writer re-reads and decides
  again. Cancellation, lease take-over and completion therefore cannot overwrite each other.
The lease query is a single-field range scan on `leaseUntil`, served by Firestore's automatic
single-field index: no composite index needs deploying.
"""

from __future__ import annotations

import time
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from inference.gateway.jobs import FIELD_NAMES, Job, from_document, to_document


class StaleJobError(Exception):
    """The document changed since it was read; re-read and decide again."""


class JobStore:
    def __init__(self, client: firestore.AsyncClient, prefix: str = ""):
        self._client = client
        self._jobs = client.collection(f"{prefix}jobs")
        self._models = client.collection(f"{prefix}models")

    async def create(self, job: Job) -> tuple[Job, bool]:
        """Create `job`, or return the one already stored under its id. The bool says "created"."""
        ref = self._jobs.document(job.id)
        try:
            result = await ref.create(to_document(job))
        except gexc.AlreadyExists:
            existing = await self.get(job.id)
            if existing is None:  # created and deleted in between: not something the gateway does
                raise StaleJobError(job.id) from None
            return existing, False
        return job.evolve(version=result.update_time), True

    async def get(self, job_id: str) -> Job | None:
        snap = await self._jobs.document(job_id).get()
        if not snap.exists:
            return None
        return from_document(snap.id, snap.to_dict() or {}, snap.update_time)

    async def write(self, job: Job, **changes: Any) -> Job:
        """Apply `changes` if the document is still the version `job` was read at.

        A change to None deletes the field, which is how a finished job leaves the lease scan.
        """
        updated = job.evolve(updated_at=changes.pop("updated_at", time.time()), **changes)
        fields: dict[str, Any] = {FIELD_NAMES["updated_at"]: updated.updated_at}
        for name, value in changes.items():
            fields[FIELD_NAMES[name]] = firestore.DELETE_FIELD if value is None else value
        option = self._client.write_option(last_update_time=job.version) if job.version else None
        try:
            result = await self._jobs.document(job.id).update(fields, option=option)
        except (gexc.FailedPrecondition, gexc.NotFound):
            raise StaleJobError(job.id) from None
        return updated.evolve(version=result.update_time)

    async def expired_leases(self, now: float, limit: int) -> list[Job]:
        """Jobs that still need driving and whose driver has not renewed its lease."""
        query = (
            self._jobs.where(filter=FieldFilter(FIELD_NAMES["lease_until"], "<", now))
            .order_by(FIELD_NAMES["lease_until"])
            .limit(limit)
        )
        return [from_document(s.id, s.to_dict() or {}, s.update_time) async for s in query.stream()]

    async def record_readiness(self, model: str, record: dict[str, Any]) -> None:
        await self._models.document(model).set(record)

    async def readiness(self) -> dict[str, dict[str, Any]]:
        return {s.id: s.to_dict() or {} async for s in self._models.stream()}

    async def ping(self) -> None:
        """One cheap read: proves the database is reachable and the service account may read it."""
        # No retries: readiness should answer "not ready" quickly, not wait out a backoff.
        await self._models.document("_ping").get(retry=None, timeout=2)
