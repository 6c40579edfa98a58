"""The contract between the program and the runtime: every environment variable the program sets
and the gateway, the worker or a Modal app file reads, named once.

The program (components/) imports this module and nothing else from inference/; the gateway, the
worker and Modal app files import it too, so neither side can rename a variable without the other
(tests/structure checks the import rule). Standard library only: it ships in every image and in
Modal containers.

Sections: the GPU worker; Cloud Run services (what the platform sets on every service, and the
gateway's own settings a stack maps through `secretEnv`); a Modal app's deploy settings, with the
`ModalSettings` codec the deploy writes and the app file reads; and the settings the gateway and
the worker refuse to start without (`Required`), which their settings code enforces at start-up and
the config checks at plan time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

# ============================================================================================
# the GPU worker (inference/worker)
# ============================================================================================

# --- the worker: which model to load, and how ---
MODEL_KEY = "MODELSTACK_MODEL_KEY"
"""The model's key in the stack config (e.g. flux); names the endpoint in logs and callbacks."""
MODEL_ID = "MODELSTACK_MODEL_ID"
"""Hugging Face repo id, e.g. black-forest-labs/FLUX.1-schnell."""
MODEL_REVISION = "MODELSTACK_MODEL_REVISION"
"""The pinned commit sha. Workers never load a moving branch."""
MODEL_TASK = "MODELSTACK_MODEL_TASK"
"""One of TASKS."""
TASKS = (
    "text-generation",
    "feature-extraction",
    "text-classification",
    "image-classification",
    "text-to-image",
    "custom",
)
"""What a worker can do with a model; the config's `task:` takes the same values."""
MODEL_PATH = "MODELSTACK_MODEL_PATH"
"""A local directory (Modal or Runpod volume) already holding the snapshot; skips the Hub."""
MODEL_MANIFEST = "MODELSTACK_MODEL_MANIFEST"
"""s3://bucket/models/<org>/<name>/<sha>/manifest.json written by the ModelMirror resource."""
CUSTOM_CLASS = "MODELSTACK_CUSTOM_CLASS"
"""module:Class with load() and predict(), for task=custom."""
APP_MODELS = "MODELSTACK_APP_MODELS"
"""An app's pinned models (modelstack:apps.<key>.models) as a JSON object:
{"<model key>": {"id": "<repo id>", "revision": "<commit sha>", "task": "<task>"}}. A bucket checkpoint
has s3://<bucket>/<prefix> as its id and an empty revision (its content is pinned where it is copied)."""
STACK = "MODELSTACK_STACK"
ENVIRONMENT = "MODELSTACK_ENVIRONMENT"

# --- readiness callback from worker to gateway ---
CALLBACK_URL = "MODELSTACK_CALLBACK_URL"
CALLBACK_SECRET = "MODELSTACK_CALLBACK_SECRET"

# --- Hugging Face client settings, honoured by huggingface_hub itself ---
HF_TOKEN = "HF_TOKEN"
HF_HOME = "HF_HOME"

# --- worker tuning (optional; defaults suit a GPU worker) ---
DEVICE = "MODELSTACK_DEVICE"
"""auto (cuda when available, else cpu), cpu, cuda or cuda:N."""
MODEL_DTYPE = "MODELSTACK_MODEL_DTYPE"
"""auto (the checkpoint's, as transformers' dtype="auto"), bfloat16, float16 or float32."""
LOAD_THREADS = "MODELSTACK_LOAD_THREADS"
"""Parallel readers for the weights (default 16 on a GPU, 8 on CPU)."""
DIRECT_IO = "MODELSTACK_DIRECT_IO"
"""auto (O_DIRECT for files not in the page cache), on or off."""
MODEL_CACHE_DIR = "MODELSTACK_MODEL_CACHE_DIR"
"""Where snapshots fetched from a bucket manifest are kept (default $HF_HOME/modelstack)."""
ENDPOINT_ID = "MODELSTACK_ENDPOINT_ID"
"""Names the endpoint in the readiness callback where the platform does not (Modal: the app name).
On Runpod the worker reads RUNPOD_ENDPOINT_ID, which Runpod sets."""

# Weight formats the worker never reads: skipping them keeps Hub downloads to what loads.
WORKER_SKIPPED_FILES = (
    "*.h5", "*.msgpack", "*.onnx", "*.onnx_data", "*.tflite", "*.ot", "*.mlmodel", "*.gguf", "*.pb", "*.ckpt",
    "coreml/*", "onnx/*", "openvino/*",
)  # fmt: skip
WORKER_PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth")
"""Skipped too when the snapshot has safetensors (the pickled duplicates of the same weights)."""

def model_var(model_key: str, field: str) -> str:
    """One app model's own variable: `model_var("controlnet-depth", "REVISION")` is
    MODELSTACK_MODEL_CONTROLNET_DEPTH_REVISION (fields ID and REVISION, as in APP_MODELS)."""
    return f"MODELSTACK_MODEL_{model_key.upper().replace('-', '_')}_{field}"


# ============================================================================================
# Cloud Run services (components/platform.py sets these; inference/gateway/settings.py reads them)
# ============================================================================================

SERVICE_STACK = STACK
SERVICE_ENVIRONMENT = ENVIRONMENT
GCP_PROJECT = "GCP_PROJECT"
FIRESTORE_DATABASE = "FIRESTORE_DATABASE"
"""The stack's Firestore database, for services with `firestore: true`."""
SERVICE_MODELS = "MODELSTACK_MODELS"
"""JSON: model key -> {provider, url, ...} for the GPU endpoints a service routes to."""
WORKER_CALLBACK_KEY = "WORKER_CALLBACK_KEY"
"""The service's side of `callbackSecret`: verifies the workers' signed readiness callbacks."""
REDIS_HOST = "REDIS_HOST"
REDIS_PORT = "REDIS_PORT"
REDIS_URL = "REDIS_URL"
"""With the AUTH string, from Secret Manager."""

# --- the gateway's own settings, which a stack maps through env / secretEnv ---
GATEWAY_API_KEYS = "GATEWAY_API_KEYS"
WEBHOOK_SIGNING_KEY = "WEBHOOK_SIGNING_KEY"
RESULTS_BUCKET = "BUCKET_RESULTS"
RUNPOD_API_KEY = "RUNPOD_API_KEY"
"""The gateway calls Runpod's job API for `provider: runpod` routes with this key."""
MODAL_PROXY_TOKEN_ID = "MODAL_PROXY_TOKEN_ID"
MODAL_PROXY_TOKEN_SECRET = "MODAL_PROXY_TOKEN_SECRET"
"""The workspace proxy auth token the gateway sends as Modal-Key / Modal-Secret."""

# ============================================================================================
# a Modal app's deploy settings (components/providers/modal sets them; app files read them)
# ============================================================================================
#
# The deploy subprocess (`components/providers/modal/deploy.py`) sets these before it imports the
# app file, and the app file reads them when its decorators run. They are also set inside the
# containers (through the function's `env`), because Modal imports the app file again there and the
# decorators must see the same values. A user's own app file may read them with
# `ModalSettings.from_env()` or ignore them.

MODAL_APP_NAME = "MODELSTACK_MODAL_APP_NAME"
MODAL_ENVIRONMENT = "MODELSTACK_MODAL_ENVIRONMENT"
MODAL_GPU = "MODELSTACK_MODAL_GPU"
"""Comma-separated Modal GPU names in priority order (`T4`, `A10G:2`); empty for CPU only."""
MODAL_MIN_CONTAINERS = "MODELSTACK_MODAL_MIN_CONTAINERS"
MODAL_MAX_CONTAINERS = "MODELSTACK_MODAL_MAX_CONTAINERS"
"""0 means no limit."""
MODAL_BUFFER_CONTAINERS = "MODELSTACK_MODAL_BUFFER_CONTAINERS"
MODAL_SCALEDOWN_WINDOW = "MODELSTACK_MODAL_SCALEDOWN_WINDOW"
MODAL_TIMEOUT = "MODELSTACK_MODAL_TIMEOUT"
MODAL_STARTUP_TIMEOUT = "MODELSTACK_MODAL_STARTUP_TIMEOUT"
"""Seconds for a container's start (`@modal.enter`: download and load the model); `startup_timeout=`."""
MODAL_SECRETS = "MODELSTACK_MODAL_SECRETS"
"""Comma-separated names of Modal secrets to attach."""
MODAL_VOLUMES = "MODELSTACK_MODAL_VOLUMES"
"""JSON object: mount path -> Modal volume name."""
MODAL_ENV = "MODELSTACK_MODAL_ENV"
"""JSON object: plain environment for the containers (model id, revision, task, ...)."""
MODAL_WARM_SCHEDULE = "MODELSTACK_MODAL_WARM_SCHEDULE"
"""Cron expression (UTC) for a function that keeps a container warm; empty for none."""
MODAL_PROXY_AUTH = "MODELSTACK_MODAL_PROXY_AUTH"
"""`true` (the default) or `false`: whether the app's web endpoints require Modal proxy auth, that is
`Modal-Key`/`Modal-Secret` headers holding a workspace proxy auth token. Off, anyone who learns the
URL can start GPU containers."""
MODAL_REQUIREMENTS = "MODELSTACK_MODAL_REQUIREMENTS"
"""Requirements file the image installs, relative to the project root (our app file only)."""

MODAL_ALL = (
    MODAL_APP_NAME, MODAL_ENVIRONMENT, MODAL_GPU, MODAL_MIN_CONTAINERS, MODAL_MAX_CONTAINERS, MODAL_BUFFER_CONTAINERS, MODAL_SCALEDOWN_WINDOW,
    MODAL_TIMEOUT, MODAL_STARTUP_TIMEOUT, MODAL_SECRETS, MODAL_VOLUMES, MODAL_ENV, MODAL_WARM_SCHEDULE, MODAL_PROXY_AUTH,
)


@dataclass(frozen=True)
class PinnedModel:
    """One model an app uses, as the stack pinned it (APP_MODELS)."""

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
    startup_timeout: int = 0
    """Seconds for `@modal.enter`; 0 leaves Modal's default (the function `timeout`)."""
    secrets: list[str] = field(default_factory=list)
    volumes: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    warm_schedule: str = ""
    proxy_auth: bool = True
    """Pass to the web endpoint decorators as `requires_proxy_auth=`: on unless the stack says otherwise."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModalSettings:
        environ = os.environ if environ is None else environ
        app_name = environ.get(MODAL_APP_NAME, "")
        if not app_name:
            raise RuntimeError(
                f"{MODAL_APP_NAME} is not set: deploy this app through modelstack (pulumi up), which sets "
                "the app's settings, rather than with `modal deploy`"
            )
        return cls(
            app_name=app_name,
            environment=environ.get(MODAL_ENVIRONMENT, ""),
            gpu=_csv(environ.get(MODAL_GPU, "")),
            min_containers=int(environ.get(MODAL_MIN_CONTAINERS) or 0),
            max_containers=int(environ.get(MODAL_MAX_CONTAINERS) or 0),
            buffer_containers=int(environ.get(MODAL_BUFFER_CONTAINERS) or 0),
            scaledown_window=int(environ.get(MODAL_SCALEDOWN_WINDOW) or 60),
            timeout=int(environ.get(MODAL_TIMEOUT) or 300),
            startup_timeout=int(environ.get(MODAL_STARTUP_TIMEOUT) or 0),
            secrets=_csv(environ.get(MODAL_SECRETS, "")),
            volumes=_json_map(environ.get(MODAL_VOLUMES, ""), MODAL_VOLUMES),
            env=_json_map(environ.get(MODAL_ENV, ""), MODAL_ENV),
            warm_schedule=environ.get(MODAL_WARM_SCHEDULE, "").strip(),
            proxy_auth=_flag(environ.get(MODAL_PROXY_AUTH), MODAL_PROXY_AUTH, default=True),
        )

    def to_env(self) -> dict[str, str]:
        return {
            MODAL_APP_NAME: self.app_name,
            MODAL_ENVIRONMENT: self.environment,
            MODAL_GPU: ",".join(self.gpu),
            MODAL_MIN_CONTAINERS: str(self.min_containers),
            MODAL_MAX_CONTAINERS: str(self.max_containers),
            MODAL_BUFFER_CONTAINERS: str(self.buffer_containers),
            MODAL_SCALEDOWN_WINDOW: str(self.scaledown_window),
            MODAL_TIMEOUT: str(self.timeout),
            MODAL_STARTUP_TIMEOUT: str(self.startup_timeout),
            MODAL_SECRETS: ",".join(self.secrets),
            MODAL_VOLUMES: json.dumps(self.volumes, sort_keys=True),
            MODAL_ENV: json.dumps(self.env, sort_keys=True),
            MODAL_WARM_SCHEDULE: self.warm_schedule,
            MODAL_PROXY_AUTH: "true" if self.proxy_auth else "false",
        }

    @property
    def gpu_arg(self) -> str | list[str] | None:
        """What `@app.cls(gpu=...)` takes: one name, an ordered fallback list, or None for CPU."""
        if not self.gpu:
            return None
        return self.gpu[0] if len(self.gpu) == 1 else list(self.gpu)

    @property
    def startup_timeout_arg(self) -> int | None:
        """What `@app.cls(startup_timeout=...)` / `@app.function` take: None keeps Modal's default."""
        return self.startup_timeout or None

    def container_env(self) -> dict[str, str]:
        """The containers' environment: the plain env plus these settings, so re-imports agree."""
        return {**self.env, **self.to_env()}


# ============================================================================================
# settings a runtime refuses to start without
# ============================================================================================

ALWAYS = "always"
ROUTES_RUNPOD = "routes:runpod"
"""The service routes to at least one `provider: runpod` model (MODELSTACK_MODELS names one)."""
TASK_CUSTOM = "task:custom"
"""The worker serves `task: custom`."""


@dataclass(frozen=True)
class Required:
    """One setting a runtime will not start without, and when it is needed."""

    var: str
    when: str
    """ALWAYS, or a fact about the deployment (ROUTES_RUNPOD, TASK_CUSTOM) that makes it needed."""
    why: str
    """What the runtime does with it, for the message that names the missing variable."""


GATEWAY_REQUIRED: tuple[Required, ...] = (
    Required(GATEWAY_API_KEYS, ALWAYS, "it authenticates every request with these keys"),
    Required(RUNPOD_API_KEY, ROUTES_RUNPOD, "it calls Runpod's job API for provider runpod models with it"),
)
"""Enforced by inference/gateway/settings.py at start-up; checked by the stack config at plan time."""

WORKER_REQUIRED: tuple[Required, ...] = (
    Required(CUSTOM_CLASS, TASK_CUSTOM, "it loads task custom from your module:Class"),
)
"""Enforced by inference/worker/settings.py at start-up; checked by the stack config at plan time."""


def missing(required: Iterable[Required], provided: Collection[str], facts: Collection[str]) -> list[Required]:
    """The requirements that apply (`ALWAYS`, or their fact holds) and whose variable is not provided."""
    return [r for r in required if (r.when == ALWAYS or r.when in facts) and r.var not in provided]
