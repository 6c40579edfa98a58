"""Runtime contracts, checked at plan time: can each service and worker start with what the stack
gives it?

- A service running the stack's own gateway image (`images/gateway`) needs the settings the
  gateway refuses to start without (`inference.contract.GATEWAY_REQUIRED`, the list its own
  settings code enforces), and a URL for every model it routes to.
- A model served by the stack's own worker (`images/worker` on Runpod, the default app file on
  Modal) needs what the worker refuses to start without (`inference.contract.WORKER_REQUIRED`).
- `modal.webEndpoints` entries must be web endpoints of the app file, read from its source with
  `ast` (components/config/appfile.py); user code never runs at plan time.

Each problem names the key path and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path

from components.config.appfile import read_app_file, web_endpoint_problem
from components.config.base import NAMESPACE
from components.config.endpoints import ModalSettings
from components.config.models import Model
from components.config.services import Service
from components.config.stack import ModelstackConfig
from inference import contract

GATEWAY_IMAGE = "images/gateway"
"""The stack's own gateway build directory (inference/gateway)."""
WORKER_IMAGE = "images/worker"
"""The stack's own worker build directory (inference/worker), Runpod's default image."""
DEFAULT_APP_FILE = ModalSettings.model_fields["app_file"].default
"""Our Modal app file, which runs the stack's worker."""


def _build_dir(image: str) -> str:
    return image.strip().strip("/")


def _secret_name(var: str) -> str:
    """A modelstack:secrets key to suggest for an environment variable: GATEWAY_API_KEYS -> gatewayApiKeys."""
    words = [w for w in re.split(r"_+", var.lower()) if w]
    return words[0] + "".join(w.capitalize() for w in words[1:]) if words else "secret"


def _routed(cfg: ModelstackConfig, service: Service) -> list[str]:
    with_endpoint = [k for k, m in cfg.models.items() if m.endpoint is not None]
    return with_endpoint if service.models == "all" else [k for k in service.models if k in with_endpoint]


def _gateway_problems(cfg: ModelstackConfig, key: str, service: Service) -> list[str]:
    path = f"{NAMESPACE}services.{key}"
    routed = _routed(cfg, service)
    runpod = [m for m in routed if cfg.models[m].endpoint.provider == "runpod"]  # type: ignore[union-attr]
    facts = {contract.ROUTES_RUNPOD} if runpod else set()
    provided = set(service.env) | set(service.secret_env)
    problems = []
    for needed in contract.missing(contract.GATEWAY_REQUIRED, provided, facts):
        because = f" and routes to Runpod model(s) {', '.join(runpod)}" if needed.when == contract.ROUTES_RUNPOD else ""
        name = _secret_name(needed.var)
        problems.append(
            f"{path}.secretEnv: runs the stack's gateway image ({GATEWAY_IMAGE}){because}; the gateway does not "
            f"start without {needed.var} ({needed.why}); declare a secret (modelstack:secrets.{name}: {{version: 1}}), "
            f"set it with pulumi config set --secret --path secrets.{name}.value <value>, and map it here: "
            f"{needed.var}: {name}"
        )
    for model_key in routed:
        model = cfg.models[model_key]
        assert model.endpoint is not None
        modal = model.endpoint.modal or ModalSettings()
        if model.endpoint.provider == "modal" and not modal.web_endpoints:
            problems.append(
                f"{path}.models: routes to Modal model {model_key}, whose app has no web endpoint "
                f"(models.{model_key}.endpoint.modal.webEndpoints is empty), so {contract.SERVICE_MODELS} gives "
                "the gateway no URL for it and the gateway does not start; name its web endpoint in webEndpoints "
                "or stop routing to it"
            )
    return problems


def _runs_our_worker(model: Model) -> str | None:
    """Which of the stack's own runtimes serves the model's endpoint (for messages), else None."""
    endpoint = model.endpoint
    if endpoint is None:
        return None
    if endpoint.provider == "runpod":
        return WORKER_IMAGE if _build_dir(endpoint.image) == WORKER_IMAGE else None
    app_file = (endpoint.modal or ModalSettings()).app_file
    return app_file if app_file == DEFAULT_APP_FILE else None


def _worker_problems(key: str, model: Model) -> list[str]:
    runtime = _runs_our_worker(model)
    if runtime is None or model.endpoint is None:
        return []
    facts = {contract.TASK_CUSTOM} if model.task == "custom" else set()
    provided = set(model.endpoint.env) | set(model.endpoint.secret_env)
    return [
        f"{NAMESPACE}models.{key}.endpoint.env: serves task {model.task} on the stack's worker ({runtime}), which "
        f"does not start without {needed.var} ({needed.why}); set env: {{{needed.var}: <module.path:ClassName>}} with a module "
        "the worker can import, or serve the model with your own image or app file"
        for needed in contract.missing(contract.WORKER_REQUIRED, provided, facts)
    ]


def _web_endpoint_problems(key: str, model: Model, root: Path) -> list[str]:
    endpoint = model.endpoint
    if endpoint is None or endpoint.provider != "modal":
        return []
    modal = endpoint.modal or ModalSettings()
    source = root / modal.app_file
    if not modal.web_endpoints or not source.is_file():
        return []  # a missing app file is reported with the other repository paths
    path = f"{NAMESPACE}models.{key}.endpoint.modal.webEndpoints"
    try:
        app = read_app_file(source)
    except SyntaxError as exc:
        return [f"{path}: cannot read {modal.app_file}: not valid Python (line {exc.lineno}: {exc.msg})"]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read {modal.app_file} ({type(exc).__name__})"]
    fix = (
        "; name the app's web endpoints here (Class.method or function), or webEndpoints: [] for an app "
        "without a web URL"
    )
    return [
        f"{path}: {problem}{fix}"
        for entry in modal.web_endpoints
        if (problem := web_endpoint_problem(app, entry, modal.app_file)) is not None
    ]


def runtime_problems(cfg: ModelstackConfig, root: Path) -> list[str]:
    problems: list[str] = []
    for key, service in cfg.services.items():
        if _build_dir(service.image) == GATEWAY_IMAGE:
            problems.extend(_gateway_problems(cfg, key, service))
    for key, model in cfg.models.items():
        problems.extend(_worker_problems(key, model))
        problems.extend(_web_endpoint_problems(key, model, root))
    return problems
