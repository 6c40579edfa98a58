"""Runpod serverless entry point: load the model once, then serve jobs with `runpod.serverless.start`.

A job's `input` object is the task's request; the handler returns the task's response as the
job's `output`. Errors follow Runpod's handler convention: returning {"error": "..."} marks the
job FAILED with that message. The handler returns them itself (instead of raising) so a job
never carries a traceback or a secret back to the caller:

- input that is not an object, or that the task rejects -> {"error": "invalid input: ..."}
- the model failed to load                             -> {"error": "model failed to load: ..."}
- anything else                                        -> {"error": "prediction failed: <type>"}

A worker whose model failed to load keeps serving those errors rather than exiting: a bad model
id or revision is permanent, and a crash-looping GPU worker costs money while jobs wait in the
queue; the failed readiness callback tells the gateway.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

from inference.worker import visgate
from inference.worker.core import FAILED_CALLBACK_WAIT_SECONDS as FAILED_REPORT_WAIT_SECONDS
from inference.worker.core import ModelLoadError, Worker
from inference.worker.settings import Settings

log = logging.getLogger(__name__)


def make_handler(
    worker: Worker, translate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """`translate` maps another contract's job input to the task's request (Visgate's)."""

    def handler(job: dict[str, Any]) -> dict[str, Any]:
        payload = job.get("input") if isinstance(job, dict) else None
        if not isinstance(payload, dict):
            return {"error": "invalid input: the job's input must be a JSON object"}
        try:
            return worker.predict(translate(payload) if translate else payload)
        except ModelLoadError as exc:
            return {"error": f"model failed to load: {exc}"}
        except ValueError as exc:
            return {"error": f"invalid input: {worker.settings.redact(str(exc))}"}
        except Exception as exc:
            log.exception("job %s failed", job.get("id"))
            return {"error": f"prediction failed: {type(exc).__name__}"}

    return handler


def main() -> None:
    import runpod

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runpod.serverless.start({"handler": start(dict(os.environ))})


def start(environ: dict[str, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Build the worker from `environ`, load the model, and return the job handler.

    Started under Visgate's contract (HF_MODEL_ID, VISGATE_WEBHOOK), the worker pins the repo to a
    commit first and reports to Visgate's webhook; a repo that cannot be resolved is reported as
    failed and every job gets the error, as for any failed load.
    """
    translate = None
    notifier: visgate.Notifier | None = None
    if visgate.applies(environ):
        try:
            notifier = visgate.Notifier.from_env(environ)
            environ = visgate.worker_environ(environ)
        except visgate.StartError as exc:
            log.error("%s", exc)
            if notifier is not None:
                notifier.send("failed", str(exc)).join(timeout=FAILED_REPORT_WAIT_SECONDS)
            message = f"model failed to load: {exc}"
            return lambda job: {"error": message}
        translate = visgate.job_input
    worker = Worker(Settings.from_env(environ), on_change=notifier.on_change if notifier is not None else None)
    if notifier is not None:
        notifier.redact = worker.settings.redact
    # Load before taking jobs (Runpod's advice, and the cold start we optimise). A failure is
    # logged and each job gets the error (see the module docstring).
    with contextlib.suppress(ModelLoadError):
        worker.load()
    if notifier is not None and worker.callback_thread is not None:
        # Visgate marks the deployment ready and calls the user's webhook on this message; let it
        # out (bounded) before taking jobs, so a short-lived worker never exits with it unsent.
        worker.callback_thread.join(timeout=FAILED_REPORT_WAIT_SECONDS)
    return make_handler(worker, translate)


if __name__ == "__main__":
    main()
