"""The worker core: one model per container, loaded once, answering `predict` for every entry point.

Runpod (`runpod_handler`), Modal (`inference/modal_app.py`) and plain HTTP (`http_server`) are thin
wrappers around this class:

    worker = Worker.from_env()      # validates the environment; loads nothing
    worker.load()                   # idempotent: the first call loads, later ones return at once
    worker.ready                    # True once loaded
    worker.predict({"inputs": ...}) # ValueError for input the caller must fix

After the first load attempt the worker sends the signed readiness callback (ready or failed) in
the background, when MODELSTACK_CALLBACK_URL is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from inference.worker import callback
from inference.worker.settings import Settings

log = logging.getLogger(__name__)
FAILED_CALLBACK_WAIT_SECONDS = 15.0


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message is safe to show (secrets redacted)."""


StateListener = Callable[["Worker"], "threading.Thread | None"]
"""Told of each state change (loading, ready, failed); may return the thread delivering the news, which
a failed load waits on briefly (see `load`). Another platform's readiness contract hooks in here."""


class Worker:
    def __init__(
        self,
        settings: Settings,
        callback_policy: callback.RetryPolicy | None = None,
        on_change: StateListener | None = None,
    ):
        self.settings = settings
        self.callback_policy = callback_policy or callback.RetryPolicy()
        self.on_change = on_change
        self._lock = threading.Lock()  # one load, and one predict at a time on the model
        self._state = "idle"
        self._error: str | None = None
        self._runner: Any = None
        self._device: Any = None
        self.load_seconds: float | None = None
        self.loader: str | None = None
        self.callback_thread: threading.Thread | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Worker:
        return cls(Settings.from_env(environ))

    # -- state -------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._state == "ready"

    @property
    def state(self) -> str:
        """idle, loading, ready or failed."""
        return self._state

    @property
    def error(self) -> str | None:
        return self._error

    def describe(self) -> dict[str, Any]:
        s = self.settings
        info: dict[str, Any] = {
            "status": self._state,
            "model": s.model_key,
            "modelId": s.model_id,
            "revision": s.revision,
            "task": s.task,
            "device": str(self._device) if self._device is not None else None,
            "loader": self.loader,
            "loadSeconds": None if self.load_seconds is None else round(self.load_seconds, 3),
        }
        if self._error:
            info["error"] = self._error
        return info

    # -- loading -----------------------------------------------------------------------------
    def load(self) -> None:
        """Load the model once; raises ModelLoadError if this (or an earlier) attempt failed."""
        if self._state == "ready":
            return
        with self._lock:
            if self._state == "ready":
                return
            if self._state == "failed":
                raise ModelLoadError(self._error or "model failed to load")
            self._state = "loading"
            self._tell()
            started = time.perf_counter()
            try:
                self._load()
            except Exception as exc:
                self.load_seconds = time.perf_counter() - started
                self._error = self.settings.redact(f"{type(exc).__name__}: {exc}")
                self._state = "failed"
                log.error("model %s failed to load: %s", self.settings.model_key, self._error)
                self._notify()
                if self.callback_thread is not None:
                    # A platform may stop the container as soon as load() raises (Modal's enter):
                    # give the failure report a bounded chance to get out first.
                    self.callback_thread.join(timeout=FAILED_CALLBACK_WAIT_SECONDS)
                raise ModelLoadError(self._error) from None
            self.load_seconds = time.perf_counter() - started
            self._state = "ready"
            log.info(
                "model %s ready in %.2fs (task %s, loader %s, device %s)",
                self.settings.model_key, self.load_seconds, self.settings.task, self.loader, self._device,
            )
            self._notify()

    def _load(self) -> None:
        from inference.worker.source import resolve_model_dir
        from inference.worker.tasks import runner_for
        from inference.worker.tasks.base import LoadContext, pick_device

        s = self.settings
        self._device = pick_device(s.device)
        model_dir = resolve_model_dir(s)
        kwargs = {"spec": s.custom_class} if s.task == "custom" else {}
        runner = runner_for(s.task, **kwargs)
        context = LoadContext(device=self._device, dtype=s.dtype, threads=s.load_threads, direct_io=s.direct_io)
        report = runner.load(model_dir, context)
        method = getattr(report, "method", None)
        self.loader = method or {"custom": "custom", "text-to-image": "diffusers"}.get(s.task, "transformers")
        if report is not None and getattr(report, "fallback_reason", None):
            log.info("fast loader not used: %s", report.fallback_reason)
        elif report is not None and getattr(report, "bytes", 0):
            log.info("weights: %.2f GB in %.2fs (%.2f GB/s)", report.bytes / 1e9, report.seconds, report.gbps)
        self._runner = runner

    def _tell(self) -> None:
        if self.on_change is not None:
            thread = self.on_change(self)
            if thread is not None:
                self.callback_thread = thread

    def _notify(self) -> None:
        self._tell()
        s = self.settings
        if not s.callback_url or not s.callback_secret:
            return
        body = callback.readiness_body(
            status="ready" if self._state == "ready" else "failed",
            model=s.model_key,
            model_id=s.model_id,
            revision=s.revision,
            task=s.task,
            provider=s.provider,
            endpoint_id=s.endpoint_id,
            worker_id=s.worker_id,
            load_seconds=self.load_seconds,
            stack=s.stack,
            environment=s.environment,
            loader=self.loader,
            device=str(self._device) if self._device is not None else None,
            error=self._error,
        )
        self.callback_thread = callback.deliver_in_background(s.callback_url, s.callback_secret, body, self.callback_policy)

    # -- serving -----------------------------------------------------------------------------
    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Answer one request; loads the model first if no one has. ValueError means bad input."""
        if not isinstance(payload, dict):
            raise ValueError("the request must be a JSON object")
        if not self.ready:
            self.load()
        with self._lock:
            return self._runner.predict(payload)
