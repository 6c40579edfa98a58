"""The settings a `ModalApp` deploy hands to a Modal app file, as environment variables.

The deploy subprocess (`components/providers/modal/deploy.py`) sets these before it imports the app
file, and the app file reads them when its decorators run. They are also set inside the containers
(through the function's `env`), because Modal imports the app file again there and the decorators
must see the same values. Standard library only: this module runs in the container too.

A user's own app file may read them with `ModalSettings.from_env()` or ignore them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from inference.env import APP_MODELS

APP_NAME = "MODELSTACK_MODAL_APP_NAME"
ENVIRONMENT = "MODELSTACK_MODAL_ENVIRONMENT"
GPU = "MODELSTACK_MODAL_GPU"
"""Comma-separated Modal GPU names in priority order (`T4`, `A10G:2`); empty for CPU only."""
MIN_CONTAINERS = "MODELSTACK_MODAL_MIN_CONTAINERS"
MAX_CONTAINERS = "MODELSTACK_MODAL_MAX_CONTAINERS"
"""0 means no limit."""
BUFFER_CONTAINERS = "MODELSTACK_MODAL_BUFFER_CONTAINERS"
SCALEDOWN_WINDOW = "MODELSTACK_MODAL_SCALEDOWN_WINDOW"
TIMEOUT = "MODELSTACK_MODAL_TIMEOUT"
SECRETS = "MODELSTACK_MODAL_SECRETS"
"""Comma-separated names of Modal secrets to attach."""
VOLUMES = "MODELSTACK_MODAL_VOLUMES"
"""JSON object: mount path -> Modal volume name."""
ENV = "MODELSTACK_MODAL_ENV"
"""JSON object: plain environment for the containers (model id, revision, task, ...)."""
WARM_SCHEDULE = "MODELSTACK_MODAL_WARM_SCHEDULE"
"""Cron expression (UTC) for a function that keeps a container warm; empty for none."""
PROXY_AUTH = "MODELSTACK_MODAL_PROXY_AUTH"
"""`true` (the default) or `false`: whether the app's web endpoints require Modal proxy auth, that is
`Modal-Key`/`Modal-Secret` headers holding a workspace proxy auth token. Off, anyone who learns the
URL can start GPU containers."""
REQUIREMENTS = "MODELSTACK_MODAL_REQUIREMENTS"
"""Requirements file the image installs, relative to the project root (our app file only)."""

ALL = (
    APP_NAME, ENVIRONMENT, GPU, MIN_CONTAINERS, MAX_CONTAINERS, BUFFER_CONTAINERS, SCALEDOWN_WINDOW,
    TIMEOUT, SECRETS, VOLUMES, ENV, WARM_SCHEDULE, PROXY_AUTH,
)


@dataclass(frozen=True)
class PinnedModel:
    """One model an app uses, as the stack pinned it (inference.env.APP_MODELS)."""

    id: str
    revision: str
    """The commit sha; empty for a bucket checkpoint."""
    task: str = ""


def pinned_models(environ: Mapping[str, str] | None = None) -> dict[str, PinnedModel]:
    """The app's models by key, in the order the stack file lists them."""
    environ = os.environ if environ is None else environ
    raw = environ.get(APP_MODELS, "")
    if not raw:
        return {}
    parsed = json.loads(raw)
    if not isinstance(parsed, dict):
        raise ValueError(f"{APP_MODELS} must be a JSON object of models")
    models: dict[str, PinnedModel] = {}
    for key, entry in parsed.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ValueError(f"{APP_MODELS}: model {key!r} must be an object with an id")
        models[str(key)] = PinnedModel(str(entry["id"]), str(entry.get("revision") or ""), str(entry.get("task") or ""))
    return models


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _flag(value: str | None, name: str, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    normalised = value.strip().lower()
    if normalised in ("true", "1", "yes", "on"):
        return True
    if normalised in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false")


def _json_map(value: str, name: str) -> dict[str, str]:
    if not value:
        return {}
    parsed = json.loads(value)
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ValueError(f"{name} must be a JSON object of strings")
    return {str(k): v for k, v in parsed.items()}


@dataclass(frozen=True)
class ModalSettings:
    app_name: str
    environment: str = ""
    gpu: list[str] = field(default_factory=list)
    min_containers: int = 0
    max_containers: int = 0
    buffer_containers: int = 0
    scaledown_window: int = 60
    timeout: int = 300
    secrets: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    warm_schedule: str = ""
    proxy_auth: bool = True
    """Pass to the web endpoint decorators as `requires_proxy_auth=`: on unless the stack says otherwise."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModalSettings:
        environ = os.environ if environ is None else environ
        app_name = environ.get(APP_NAME, "")
        if not app_name:
            raise RuntimeError(
                f"{APP_NAME} is not set: deploy this app through modelstack (pulumi up), which sets "
                "the app's settings, rather than with `modal deploy`"
            )
        return cls(
            app_name=app_name,
            environment=environ.get(ENVIRONMENT, ""),
            gpu=_csv(environ.get(GPU, "")),
            min_containers=int(environ.get(MIN_CONTAINERS) or 0),
            max_containers=int(environ.get(MAX_CONTAINERS) or 0),
            buffer_containers=int(environ.get(BUFFER_CONTAINERS) or 0),
            scaledown_window=int(environ.get(SCALEDOWN_WINDOW) or 60),
            timeout=int(environ.get(TIMEOUT) or 300),
            secrets=_csv(environ.get(SECRETS, "")),
            volumes=_json_map(environ.get(VOLUMES, ""), VOLUMES),
            env=_json_map(environ.get(ENV, ""), ENV),
            warm_schedule=environ.get(WARM_SCHEDULE, "").strip(),
            proxy_auth=_flag(environ.get(PROXY_AUTH), PROXY_AUTH, default=True),
        )

    def to_env(self) -> dict[str, str]:
        return {
            APP_NAME: self.app_name,
            ENVIRONMENT: self.environment,
            GPU: ",".join(self.gpu),
            MIN_CONTAINERS: str(self.min_containers),
            MAX_CONTAINERS: str(self.max_containers),
            BUFFER_CONTAINERS: str(self.buffer_containers),
            SCALEDOWN_WINDOW: str(self.scaledown_window),
            TIMEOUT: str(self.timeout),
            SECRETS: ",".join(self.secrets),
            VOLUMES: json.dumps(self.volumes, sort_keys=True),
            ENV: json.dumps(self.env, sort_keys=True),
            WARM_SCHEDULE: self.warm_schedule,
            PROXY_AUTH: "true" if self.proxy_auth else "false",
        }

    @property
    def gpu_arg(self) -> str | list[str] | None:
        """What `@app.cls(gpu=...)` takes: one name, an ordered fallback list, or None for CPU."""
        if not self.gpu:
            return None
        return self.gpu[0] if len(self.gpu) == 1 else list(self.gpu)

    def container_env(self) -> dict[str, str]:
        """The containers' environment: the plain env plus these settings, so re-imports agree."""
        return {**self.env, **self.to_env()}
