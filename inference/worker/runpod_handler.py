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

from inference.worker.core import ModelLoadError, Worker

log = logging.getLogger(__name__)


def make_handler(worker: Worker) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def handler(job: dict[str, Any]) -> dict[str, Any]:
        payload = job.get("input") if isinstance(job, dict) else None
        if not isinstance(payload, dict):
            return {"error": "invalid input: the job's input must be a JSON object"}
        try:
            return worker.predict(payload)
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
    worker = Worker.from_env()
    # Load before taking jobs (Runpod's advice, and the cold start we optimise). A failure is
    # logged and each job gets the error (see the module docstring).
    with contextlib.suppress(ModelLoadError):
        worker.load()
    runpod.serverless.start({"handler": make_handler(worker)})


if __name__ == "__main__":
    main()
