"""The synchronous path: one request in, the model's answer out. No Firestore on this path."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from inference.gateway.backends import Backend, BackendError, BackendJob, ModalBackend


async def predict(backend: Backend, job_input: Any, poll_interval: float) -> BackendJob:
    """Run one request within the model's timeout; raises BackendError("timeout") past it."""
    timeout = backend.route.timeout_seconds
    if isinstance(backend, ModalBackend):
        return await backend.call(job_input, timeout)
    deadline = time.monotonic() + timeout
    job = await backend.run_sync(job_input, timeout)
    # /runsync returns the job still queued or running when its wait elapses; keep polling it.
    while not job.terminal:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or job.id is None:
            if job.id is not None:
                # Best effort: Runpod's executionTimeout stops the job anyway.
                with contextlib.suppress(BackendError):
                    await backend.cancel(job.id)
            raise BackendError("timeout", f"the model did not answer within {timeout:g}s")
        await asyncio.sleep(min(poll_interval, remaining))
        job = await backend.status(job.id)
    return job
