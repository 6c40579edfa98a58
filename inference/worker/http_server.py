"""Plain HTTP entry point (FastAPI), for local use, tests and any platform that runs a container.

    GET  /healthz   200 {"status": "ready", ...} once the model is loaded; 503 while loading or failed
    POST /predict   the task's request JSON -> its response JSON
                    400 bad input, 503 not ready (Retry-After), 500 anything else (no details leak)

The model loads in a background thread when the app starts, so the process answers /healthz
(with 503) from its first second and platforms can probe it while weights load.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from inference.worker.core import ModelLoadError, Worker

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 32 * 1024 * 1024


def create_app(worker: Worker, load_on_startup: bool = True) -> FastAPI:
    def load() -> None:
        # On failure the worker has logged it, holds the error for /healthz and sent the callback.
        with contextlib.suppress(ModelLoadError):
            worker.load()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if load_on_startup:
            threading.Thread(target=load, name="model-load", daemon=True).start()
        yield

    app = FastAPI(title="modelstack worker", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        info = worker.describe()
        return JSONResponse(info, status_code=200 if worker.ready else 503)

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        if not worker.ready:
            state = worker.state
            message = "model failed to load" if state == "failed" else "model is loading"
            headers = {} if state == "failed" else {"Retry-After": "5"}
            return JSONResponse({"error": message, "status": state}, status_code=503, headers=headers)
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            return JSONResponse({"error": "request body is too large"}, status_code=413)
        try:
            payload: Any = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return JSONResponse({"error": "request body must be JSON"}, status_code=400)
        try:
            result = await run_in_threadpool(worker.predict, payload)
        except ValueError as exc:
            return JSONResponse({"error": worker.settings.redact(str(exc))}, status_code=400)
        except Exception:
            log.exception("prediction failed")
            return JSONResponse({"error": "prediction failed; see the worker's logs"}, status_code=500)
        return JSONResponse(result)

    return app


def main() -> None:
    import uvicorn

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(Worker.from_env())
    uvicorn.run(app, host=os.environ.get("HOST", "0.0.0.0"), port=int(os.environ.get("PORT", "8000")), log_level="info")


if __name__ == "__main__":
    main()
