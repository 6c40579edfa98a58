"""The Modal app a `provider: modal` GPU endpoint deploys: one class that loads the pinned model once
per container and serves it over HTTP.

modelstack deploys it (components/providers/modal), not `modal deploy`: every setting (app name, GPU,
scaling, secrets, volumes, the model and its pinned revision) arrives through environment variables
named in inference/contract.py. The model-serving core,
`inference.worker.core.Worker`, is imported only inside the container (`@modal.enter` and the web
app), so deploying never imports torch or the model locally.

Modal imports this module as `inference.modal_app`, so the container needs the `inference` package,
but not all of it: the app is created with `include_source=False` and the image adds the package's
Python files except the gateway (`_not_shipped`), which never runs here. What is shipped is what
`ModalApp` hashes, so an edit to the gateway does not redeploy the model, an edit to the worker does.

HTTP API, one URL (the `Model.web` endpoint), behind Modal proxy auth unless the stack turns it off
(`endpoint.modal.proxyAuth: false`): callers send `Modal-Key` and `Modal-Secret` headers, as the gateway
does with its MODAL_PROXY_TOKEN_ID/MODAL_PROXY_TOKEN_SECRET:
    POST /         -> {"output": <the worker's answer>} for {"input": {...}}: what the gateway sends
                      (inference/gateway/backends.py); {"error": ...} with 400 for bad input, 500 otherwise
    GET  /health   -> {"ready": bool, "model": <repo id>, "revision": <sha>}
    POST /predict  -> the worker's answer for the JSON object in the body; 400 {"error": ...} on bad input
"""

# No `from __future__ import annotations`: FastAPI resolves the handlers' annotations at runtime,
# and `Request` is imported inside the container-side method, out of reach of string annotations.
import os
from pathlib import Path
from typing import Any

import modal

from inference import contract as names
from inference.contract import MODAL_REQUIREMENTS as REQUIREMENTS
from inference.contract import ModalSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REQUIREMENTS = "inference/worker/requirements.txt"

settings = ModalSettings.from_env()


def _requirements_files() -> list[str]:
    """The worker's requirements (and its diffusers extras for text-to-image), as images/worker uses."""
    path = Path(os.environ.get(REQUIREMENTS) or DEFAULT_REQUIREMENTS)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    files = [path]
    diffusers = path.with_name("requirements-diffusers.txt")
    if settings.env.get(names.MODEL_TASK) == "text-to-image" and diffusers.is_file():
        files.append(diffusers)
    return [str(f) for f in files]


image = modal.Image.debian_slim(python_version="3.11")
# The worker's own dependencies (torch, transformers, ...), maintained next to the worker.
for _requirements in _requirements_files():
    image = image.pip_install_from_requirements(_requirements)
# What this file needs on top for its web endpoint.
image = image.pip_install("fastapi>=0.115,<1")


def _not_shipped(path: Path) -> bool:
    """Files of `inference/` (relative paths) the container never needs: the gateway, anything but
    Python source, caches and dot-files (a custom ignore replaces Modal's own dot-file rule)."""
    parts = path.parts
    return path.suffix != ".py" or parts[:1] == ("gateway",) or any(p.startswith(".") or p == "__pycache__" for p in parts)


# Last: mount layers must follow every build step. The worker, the settings and this file itself.
image = image.add_local_python_source("inference", ignore=_not_shipped)

app = modal.App(settings.app_name, include_source=False)

# Explicit environment everywhere: never whatever MODAL_ENVIRONMENT or a profile says.
_environment = settings.environment or None
volumes = {
    path: modal.Volume.from_name(name, environment_name=_environment) for path, name in settings.volumes.items()
}
secrets = [modal.Secret.from_name(name, environment_name=_environment) for name in settings.secrets]


@app.cls(
    image=image,
    gpu=settings.gpu_arg,
    min_containers=settings.min_containers,
    max_containers=settings.max_containers or None,
    buffer_containers=settings.buffer_containers or None,
    scaledown_window=settings.scaledown_window,
    timeout=settings.timeout,
    # `load` downloads the pinned snapshot and loads it: its own budget, not one request's timeout.
    startup_timeout=settings.startup_timeout_arg,
    secrets=secrets,
    volumes=volumes,
    env=settings.container_env(),
)
class Model:
    @modal.enter()
    def load(self) -> None:
        from inference.worker.core import Worker

        self.worker = Worker.from_env()
        self.worker.load()
        # The HF cache lives on a volume (HF_HOME); commit what the first load downloaded so the
        # next container starts from it instead of the Hub.
        for volume in volumes.values():
            volume.commit()

    @modal.method()
    def ping(self) -> bool:
        return bool(self.worker.ready)

    # Proxy auth (on unless the stack sets proxyAuth: false): Modal itself refuses requests without
    # the workspace token's Modal-Key/Modal-Secret headers, before any GPU container starts.
    @modal.asgi_app(requires_proxy_auth=settings.proxy_auth)
    def web(self) -> Any:
        from fastapi import FastAPI, Request
        from fastapi.concurrency import run_in_threadpool
        from fastapi.responses import JSONResponse

        worker = self.worker
        api = FastAPI(title=settings.app_name)

        @api.get("/health")
        def health() -> dict[str, Any]:
            return {
                "ready": bool(worker.ready),
                "model": os.environ.get(names.MODEL_ID, ""),
                "revision": os.environ.get(names.MODEL_REVISION, ""),
            }

        @api.post("/")
        async def gateway_call(request: Request) -> Any:
            # The gateway posts to the endpoint's URL itself, in the same envelope as Runpod's job
            # API, and takes {"error": ...} as the model's own failure (the job fails, no retry).
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"error": "the body must be JSON"}, status_code=400)
            payload = body.get("input") if isinstance(body, dict) else None
            if not isinstance(payload, dict):
                return JSONResponse({"error": "the body must be {\"input\": {...}}"}, status_code=400)
            try:
                return {"output": await run_in_threadpool(worker.predict, payload)}
            except ValueError as exc:
                return JSONResponse({"error": f"invalid input: {exc}"}, status_code=400)
            except Exception as exc:
                return JSONResponse({"error": f"prediction failed: {type(exc).__name__}"}, status_code=500)

        @api.post("/predict")
        async def predict(request: Request) -> Any:
            try:
                payload = await request.json()
            except ValueError:
                return JSONResponse({"error": "the body must be JSON"}, status_code=400)
            if not isinstance(payload, dict):
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
            try:
                return await run_in_threadpool(worker.predict, payload)
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)

        return api


if settings.warm_schedule:

    @app.function(image=image, schedule=modal.Cron(settings.warm_schedule), env=settings.container_env())
    def keep_warm() -> bool:
        """Start (or keep) one container during the hours the schedule covers."""
        return Model().ping.remote()
