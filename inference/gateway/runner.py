"""Drives asynchronous jobs from IN_QUEUE to a final state, and delivers their webhooks.

Every job that still needs work holds a lease (`leaseOwner`, `leaseUntil`) in its document. The
instance that created a job drives it at once; a driver renews the lease while it works. When an
instance dies, its leases run out and the scanner of any instance (including a restarted one)
claims those jobs and carries on from what the document says: dispatch if the backend never got
the job, poll if it did, time out if the deadline passed, deliver the webhook if one is pending.
Every write is conditional on the version last read (see store.py), so two drivers can never both
act on one job: the loser's write fails, it re-reads and steps back.

A Modal web endpoint answers synchronously, so a Modal job is one long HTTP call; its lease is held
until the deadline, and if the instance dies during the call the job fails at its deadline (the
answer died with the connection) rather than being sent to a GPU twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from inference.gateway import logs
from inference.gateway.backends import Backend, BackendError, BackendJob, ModalBackend, RunpodBackend
from inference.gateway.jobs import (
    CANCELLED,
    COMPLETED,
    DELIVERED,
    FAILED,
    GAVE_UP,
    IN_PROGRESS,
    IN_QUEUE,
    PENDING,
    Job,
    view,
)
from inference.gateway.results import ResultStore
from inference.gateway.settings import RESULTS_BUCKET, Settings
from inference.gateway.store import JobStore, StaleJobError
from inference.gateway.webhooks import WebhookSender

MAX_DISPATCH_ATTEMPTS = 5
SCAN_BATCH = 200


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        backends: dict[str, Backend],
        settings: Settings,
        results: ResultStore | None,
        webhooks: WebhookSender | None,
        instance_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.store = store
        self.backends = backends
        self.settings = settings
        self.results = results
        self.webhooks = webhooks
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        self.clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._scanner: asyncio.Task[None] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._scanner = asyncio.create_task(self._scan_loop(), name="job-scanner")

    async def stop(self) -> None:
        """Stop driving; leases are left to expire so another instance takes the jobs over."""
        tasks = [t for t in [self._scanner, *self._tasks.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    @property
    def active(self) -> int:
        return len(self._tasks)

    def new_lease(self, now: float) -> dict[str, Any]:
        return {"lease_owner": self.instance_id, "lease_until": now + self.settings.lease_seconds}

    def drive(self, job: Job) -> None:
        if job.id in self._tasks:
            return
        task = asyncio.create_task(self._drive(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda t, job_id=job.id: self._tasks.pop(job_id, None) if self._tasks.get(job_id) is t else None)

    async def adopt(self, job: Job) -> bool:
        """Claim a job whose lease ran out (its driver died) and drive it here."""
        now = self.clock()
        if job.id in self._tasks or job.lease_until is None or job.lease_until >= now:
            return False
        try:
            claimed = await self.store.write(job, **self.new_lease(now))
        except StaleJobError:
            return False
        logs.event(logging.INFO, "job adopted", jobId=job.id, previousOwner=job.lease_owner, instance=self.instance_id)
        self.drive(claimed)
        return True

    async def scan_once(self) -> int:
        jobs = await self.store.expired_leases(self.clock(), SCAN_BATCH)
        return sum([await self.adopt(job) for job in jobs])

    async def _scan_loop(self) -> None:
        interval = max(0.1, self.settings.lease_seconds / 3)
        while True:
            try:
                await self.scan_once()
            except Exception as exc:
                logs.failure("lease scan failed", exc, instance=self.instance_id)
            await asyncio.sleep(interval)

    # --- cancellation (DELETE /v1/jobs/{id}) -------------------------------------------------

    async def cancel(self, job: Job) -> Job:
        # The record is written first, so a driver that sees the backend's CANCELLED afterwards
        # loses the race cleanly (its write is stale) instead of recording a different reason.
        for _ in range(5):
            if job.terminal:
                return job
            try:
                job = await self._terminal(job, CANCELLED, error="cancelled by the caller")
            except StaleJobError:
                fresh = await self.store.get(job.id)
                if fresh is None:
                    raise
                job = fresh
                continue
            local = self._tasks.pop(job.id, None)
            if local is not None:
                local.cancel()
                await asyncio.gather(local, return_exceptions=True)
            backend = self.backends.get(job.model)
            if isinstance(backend, RunpodBackend) and job.backend_job_id:
                # Best effort: if this fails the GPU job runs on until Runpod's executionTimeout.
                await self._cancel_quietly(backend, job.backend_job_id)
            if job.lease_until is not None:
                self.drive(job)
            return job
        raise StaleJobError(job.id)

    # --- the driver --------------------------------------------------------------------------

    async def _drive(self, job: Job | None) -> None:
        job_id = job.id if job else ""
        try:
            while job is not None:
                try:
                    job = await self._step(job)
                except StaleJobError:
                    job = await self._reread(job.id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The lease runs out and the scanner (here or elsewhere) picks the job up again.
            logs.failure("job driver stopped", exc, jobId=job_id, instance=self.instance_id)

    async def _reread(self, job_id: str) -> Job | None:
        fresh = await self.store.get(job_id)
        if fresh is None or fresh.lease_until is None:
            return None
        if fresh.lease_owner != self.instance_id and fresh.lease_until >= self.clock():
            return None  # another instance holds it now
        return fresh

    async def _step(self, job: Job) -> Job | None:
        if job.terminal:
            return await self._finish_up(job)
        if self.clock() >= job.deadline:
            return await self._time_out(job)
        backend = self.backends.get(job.model)
        if backend is None:
            return await self._terminal(job, FAILED, error=f"model {job.model!r} is no longer served by this gateway")
        if isinstance(backend, ModalBackend):
            return await self._step_modal(job, backend)
        return await self._step_runpod(job, backend)

    async def _step_runpod(self, job: Job, backend: RunpodBackend) -> Job | None:
        now = self.clock()
        if job.backend_job_id is None:
            if job.attempts >= MAX_DISPATCH_ATTEMPTS:
                return await self._terminal(
                    job, FAILED, error=f"the backend did not accept the job after {job.attempts} attempts: {job.error}"
                )
            try:
                submitted = await backend.submit(json.loads(job.input_json), job.deadline - now)
            except BackendError as exc:
                if exc.kind in ("rejected", "not_found"):
                    # The backend refused this request (bad key, bad endpoint): retrying cannot help.
                    return await self._terminal(job, FAILED, attempts=job.attempts + 1, error=exc.message)
                job = await self.store.write(job, attempts=job.attempts + 1, error=exc.message, **self.new_lease(now))
                await self._backoff(job, exc.retry_after)
                return job
            try:
                return await self.store.write(
                    job, backend_job_id=submitted.id, backend_status=submitted.status,
                    attempts=job.attempts + 1, error=None, **self.new_lease(self.clock()),
                )
            except StaleJobError:
                # Someone else decided first (a cancel, or a take-over): our submission is surplus.
                await self._cancel_quietly(backend, submitted.id)
                raise
        await asyncio.sleep(max(0.0, min(self.settings.poll_interval_seconds, job.deadline - now)))
        if self.clock() >= job.deadline:
            return job
        try:
            status = await backend.status(job.backend_job_id)
        except BackendError as exc:
            if exc.kind == "not_found":
                return await self._terminal(job, FAILED, error="the backend no longer knows this job (expired or purged)")
            logs.event(logging.WARNING, "status poll failed", jobId=job.id, reason=exc.message)
            return await self._renew(job)
        return await self._apply(job, status)

    async def _step_modal(self, job: Job, backend: ModalBackend) -> Job | None:
        now = self.clock()
        if job.status == IN_PROGRESS:
            # Only reachable after a take-over, which the deadline-long lease prevents; be explicit.
            return await self._terminal(job, FAILED, error="the gateway instance calling the Modal endpoint stopped")
        job = await self.store.write(
            job, status=IN_PROGRESS, started_at=job.started_at or now, attempts=job.attempts + 1,
            lease_owner=self.instance_id, lease_until=job.deadline + self.settings.lease_seconds,
        )
        try:
            answer = await backend.call(json.loads(job.input_json), job.deadline - now)
        except BackendError as exc:
            if exc.kind in ("unavailable", "busy") and job.attempts < MAX_DISPATCH_ATTEMPTS:
                job = await self.store.write(job, status=IN_QUEUE, error=exc.message, **self.new_lease(self.clock()))
                await self._backoff(job, exc.retry_after)
                return job
            return await self._terminal(job, FAILED, error=exc.message)
        return await self._apply(job, answer)

    async def _apply(self, job: Job, answer: BackendJob) -> Job | None:
        now = self.clock()
        if answer.status == "COMPLETED":
            return await self._complete(job, answer.output)
        if answer.status == "FAILED":
            return await self._terminal(job, FAILED, error=answer.error or "the backend reported FAILED without an error")
        if answer.status == "CANCELLED":
            return await self._terminal(job, CANCELLED, error="cancelled at the backend")
        if answer.status == "TIMED_OUT":
            return await self._terminal(job, FAILED, error="the backend timed the job out (TIMED_OUT)")
        status = {"IN_QUEUE": IN_QUEUE, "IN_PROGRESS": IN_PROGRESS, "RUNNING": IN_PROGRESS}.get(answer.status)
        if status is None:
            logs.event(logging.WARNING, "unknown backend status", jobId=job.id, backendStatus=answer.status[:40])
            return await self._renew(job)
        changes: dict[str, Any] = {}
        if status != job.status:
            changes["status"] = status
            if status == IN_PROGRESS and job.started_at is None:
                changes["started_at"] = now
        if answer.status != job.backend_status:
            changes["backend_status"] = answer.status
        if not changes:
            return await self._renew(job)
        return await self.store.write(job, **changes, **self.new_lease(now))

    async def _renew(self, job: Job) -> Job:
        now = self.clock()
        if job.lease_until is not None and job.lease_until - now > self.settings.lease_seconds * 2 / 3:
            return job
        return await self.store.write(job, **self.new_lease(now))

    async def _complete(self, job: Job, output: Any) -> Job | None:
        data = json.dumps(output, separators=(",", ":")).encode()
        limit = self.settings.result_inline_bytes
        if len(data) <= limit:
            return await self._terminal(job, COMPLETED, output_json=data.decode())
        if self.results is None:
            return await self._terminal(
                job, FAILED,
                error=f"the output is {len(data)} bytes, over the {limit}-byte inline limit, and no results bucket is configured ({RESULTS_BUCKET})",
            )
        path = f"results/{job.id}.json"
        ttl = self.settings.result_url_ttl_seconds
        try:
            await self.results.put(path, data, "application/json")
            url = await self.results.signed_url(path, ttl)
        except Exception as exc:
            # The backend keeps the output (Runpod: 30 minutes), so the next poll can try again.
            logs.failure("result upload failed", exc, jobId=job.id)
            return await self._renew(job)
        return await self._terminal(
            job, COMPLETED, output_path=path, output_url=url, output_url_expires_at=self.clock() + ttl
        )

    async def _time_out(self, job: Job) -> Job | None:
        backend = self.backends.get(job.model)
        if isinstance(backend, RunpodBackend) and job.backend_job_id:
            await self._cancel_quietly(backend, job.backend_job_id)
        budget = job.deadline - job.created_at
        last = f"last backend status {job.backend_status}" if job.backend_status else "the backend never accepted it"
        if job.status == IN_PROGRESS and isinstance(backend, ModalBackend):
            last = "the Modal call did not return"
        return await self._terminal(job, FAILED, error=f"timed out after {budget:g}s ({last})")

    async def _terminal(self, job: Job, status: str, **fields: Any) -> Job:
        now = self.clock()
        changes: dict[str, Any] = {"status": status, "completed_at": now, **fields}
        if status == COMPLETED:
            changes["error"] = None
        hook = job.webhook
        if hook is not None and hook.get("state") == PENDING:
            changes.update(self.new_lease(now))  # still needs driving: the webhook
        else:
            changes.update(lease_owner=None, lease_until=None)
        job = await self.store.write(job, **changes)
        logs.event(logging.INFO, "job finished", jobId=job.id, model=job.model, status=status, attempts=job.attempts)
        return job

    # --- webhooks ----------------------------------------------------------------------------

    async def _finish_up(self, job: Job) -> Job | None:
        hook = job.webhook
        if hook is not None and hook.get("state") == PENDING:
            if self.webhooks is None:
                hook = {**hook, "state": GAVE_UP, "lastError": "webhook signing is not configured on the gateway"}
                await self.store.write(job, webhook=hook, lease_owner=None, lease_until=None)
                return None
            return await self._deliver(job)
        if job.lease_until is not None:
            await self.store.write(job, lease_owner=None, lease_until=None)
        return None

    async def _deliver(self, job: Job) -> Job | None:
        assert self.webhooks is not None and job.webhook is not None
        hook = dict(job.webhook)
        wait = (hook.get("nextAttemptAt") or 0) - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        # Hold the lease past the attempt's own timeout, so nobody else delivers it meanwhile.
        now = self.clock()
        hold = now + self.webhooks.timeout + self.settings.lease_seconds
        if job.lease_until is None or job.lease_until < hold - self.settings.lease_seconds / 2:
            job = await self.store.write(job, lease_owner=self.instance_id, lease_until=hold)
        attempt = int(hook.get("attempts", 0)) + 1
        payload = {"event": f"job.{job.status.lower()}", "job": {k: v for k, v in view(job).items() if k != "webhook"}}
        result = await self.webhooks.deliver(hook["url"], payload, delivery_id=f"{job.id}.{attempt}")
        now = self.clock()
        hook.update(attempts=attempt, lastStatus=result.status, lastError=result.error)
        hook.pop("nextAttemptAt", None)
        if result.ok or attempt >= self.settings.webhook_max_attempts:
            hook["state"] = DELIVERED if result.ok else GAVE_UP
            if result.ok:
                hook["deliveredAt"] = now
            await self.store.write(job, webhook=_compact(hook), lease_owner=None, lease_until=None)
            logs.event(logging.INFO, "webhook " + hook["state"], jobId=job.id, attempts=attempt, status=result.status)
            return None
        delay = min(300.0, self.settings.webhook_backoff_seconds * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
        hook["nextAttemptAt"] = now + delay
        return await self.store.write(
            job, webhook=_compact(hook), lease_owner=self.instance_id, lease_until=now + delay + self.settings.lease_seconds
        )

    # --- helpers -----------------------------------------------------------------------------

    async def _backoff(self, job: Job, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else min(30.0, 0.5 * 2 ** max(0, job.attempts - 1))
        await asyncio.sleep(max(0.0, min(delay, job.deadline - self.clock())))

    async def _cancel_quietly(self, backend: RunpodBackend, backend_job_id: str | None) -> None:
        if not backend_job_id:
            return
        try:
            await backend.cancel(backend_job_id)
        except BackendError as exc:
            logs.event(logging.WARNING, "backend cancel failed", backendJobId=backend_job_id, reason=exc.message)


def _compact(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if v is not None}
