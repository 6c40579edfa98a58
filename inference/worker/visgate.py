"""Visgate's container contract, so the worker image (images/worker) can be Visgate's inference image.

Visgate's deploy API creates a Runpod endpoint per request from one template and passes the model
through the endpoint's environment (seed guide "Visgate Deploy API", Inference image):

    HF_MODEL_ID               the Hugging Face repo to load (required)
    HF_TOKEN                  for gated or private repos (optional; huggingface_hub reads it too)
    VISGATE_WEBHOOK           where to POST lifecycle news: <api>/internal/deployment-ready/<id>
    VISGATE_INTERNAL_SECRET   optional; sent as the X-Visgate-Internal-Secret header (newer
                              Visgate versions; older ones put `?secret=` in the URL itself)

The container POSTs `{"status": "loading_model" | "ready" | "failed", "message": ...}` to the
webhook as the model loads, and Visgate marks the deployment ready (or failed) and calls the user's
webhook. Jobs arrive as Visgate sends them, `{"prompt": ..., "num_inference_steps": ..., ...}` at
the top of the input, and are mapped to the text-to-image task's `{"inputs", "parameters"}`.

Pinning: Visgate names a repo, never a commit. The worker resolves the repo's default branch (or
HF_MODEL_REVISION, if set) to a commit sha once at start and loads exactly that commit, so every
file of one load comes from one commit, and the sha is logged and sent in the ready message.

When MODELSTACK_MODEL_ID is set, modelstack's own settings win and this module stays out of the way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from inference import env
from inference.worker import callback

log = logging.getLogger(__name__)

HF_MODEL_ID = "HF_MODEL_ID"
HF_MODEL_REVISION = "HF_MODEL_REVISION"
WEBHOOK = "VISGATE_WEBHOOK"
INTERNAL_SECRET = "VISGATE_INTERNAL_SECRET"
SECRET_HEADER = "X-Visgate-Internal-Secret"
DEFAULT_TASK = "text-to-image"
"""Visgate deploys diffusion models; a template's MODELSTACK_MODEL_TASK overrides it."""
STATUS = {"loading": "loading_model", "ready": "ready", "failed": "failed"}
IMAGE_PARAMETERS = ("num_inference_steps", "guidance_scale", "width", "height", "negative_prompt", "seed")


class StartError(RuntimeError):
    """The contract's model could not be resolved to a commit; the message is safe to show."""


def applies(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(HF_MODEL_ID, "").strip()) and not environ.get(env.MODEL_ID, "").strip()


def resolve_revision(repo_id: str, revision: str | None, token: str | None) -> str:
    """The commit sha `revision` (default: the repo's default branch) points at now."""
    from huggingface_hub import HfApi

    info = HfApi(token=token).model_info(repo_id, revision=revision or None)
    if not info.sha:
        raise StartError(f"the Hub gave no commit for {repo_id}")
    return info.sha


def worker_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment in modelstack's names for a container started under Visgate's contract."""
    repo = environ[HF_MODEL_ID].strip()
    token = environ.get(env.HF_TOKEN, "").strip() or None
    try:
        sha = resolve_revision(repo, environ.get(HF_MODEL_REVISION, "").strip() or None, token)
    except StartError:
        raise
    except Exception as exc:  # the Hub's own errors name the repo and the reason (gated, not found)
        message = f"{type(exc).__name__}: {exc}"
        if token:
            message = message.replace(token, "***")
        raise StartError(f"cannot resolve {repo} to a commit: {message}") from None
    out = dict(environ)
    out[env.MODEL_ID] = repo
    out[env.MODEL_REVISION] = sha
    out.setdefault(env.MODEL_KEY, repo)
    if not out.get(env.MODEL_TASK, "").strip():
        out[env.MODEL_TASK] = DEFAULT_TASK
    return out


def job_input(payload: dict[str, Any]) -> dict[str, Any]:
    """A Visgate job (`prompt` and parameters at the top) as the text-to-image task's request."""
    if "prompt" not in payload or "inputs" in payload:
        return payload
    extra = sorted(set(payload) - {"prompt", *IMAGE_PARAMETERS})
    if extra:
        raise ValueError(f"unknown input field(s) {', '.join(extra)}; send prompt and {', '.join(IMAGE_PARAMETERS)}")
    parameters = {k: payload[k] for k in IMAGE_PARAMETERS if payload.get(k) is not None}
    return {"inputs": payload["prompt"], **({"parameters": parameters} if parameters else {})}


@dataclass
class Notifier:
    """Sends each state change to VISGATE_WEBHOOK, in order, without ever delaying the load."""

    url: str
    secret: str | None = field(default=None, repr=False)
    policy: callback.RetryPolicy = field(default_factory=callback.RetryPolicy)
    redact: Callable[[str], str] = lambda text: text
    _last: threading.Thread | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    """What was sent (and delivered or not), for logs and tests."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], policy: callback.RetryPolicy | None = None) -> Notifier | None:
        url = environ.get(WEBHOOK, "").strip()
        if not url:
            return None
        if not url.startswith(("http://", "https://")):
            raise StartError(f"{WEBHOOK} must be an http(s) URL")
        return cls(url=url, secret=environ.get(INTERNAL_SECRET, "").strip() or None, policy=policy or callback.RetryPolicy())

    def send(self, status: str, message: str | None = None, **extra: Any) -> threading.Thread:
        body: dict[str, Any] = {"status": status}
        if message:
            body["message"] = self.redact(message)
        body.update(extra)
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = {SECRET_HEADER: self.secret} if self.secret else {}
        previous = self._last

        def run() -> None:
            if previous is not None:
                previous.join()  # loading_model before ready, whatever the retries took
            try:
                result = callback.post_json(self.url, raw, lambda: headers, self.policy, status)
                self.sent.append({**body, "delivered": result.delivered})
            except Exception:  # never let a notification bug take the worker down
                log.exception("Visgate notification crashed")

        thread = threading.Thread(target=run, name=f"visgate-{status}", daemon=True)
        thread.start()
        self._last = thread
        return thread

    def on_change(self, worker: Any) -> threading.Thread | None:
        """A `Worker` state listener (inference.worker.core.StateListener)."""
        status = STATUS.get(worker.state)
        if status is None:
            return None
        s = worker.settings
        if status == "failed":
            return self.send(status, worker.error or "model failed to load")
        if status == "ready":
            return self.send(status, f"{s.model_id} at {s.revision} loaded in {worker.load_seconds or 0:.1f}s")
        return self.send(status, f"loading {s.model_id} at {s.revision}")
