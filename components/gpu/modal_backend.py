"""The Modal backend of `GpuEndpoint`: a secret, an HF-cache volume and a deployed app per endpoint.

    <name>-cache   ModalVolume  modelstack-<stack>-<model>-cache, mounted at /cache (HF_HOME=/cache/huggingface),
                                so a container loads the pinned snapshot the first one downloaded
    <name>-secret  ModalSecret  modelstack-<stack>-<model>-env: the endpoint's secretEnv (only if any)
    <name>-app     ModalApp     modelstack-<stack>-<model>: inference/modal_app.py with the endpoint's
                                GPU(s), scaling, timeout, model and pinned revision

Every child names its Modal environment explicitly. The app's id, deployed version and web URL are
the endpoint's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pulumi

from components.naming import physical_name
from components.providers.modal import ModalApp, ModalSecret, ModalVolume
from inference import env as worker_env

if TYPE_CHECKING:
    from components.gpu.endpoint import EndpointOutputs, GpuEndpoint, GpuEndpointArgs

DEFAULT_MODAL_ENVIRONMENT = "main"
"""Modal's default environment. Set `modal_environment` to deploy elsewhere."""
# Where the worker image (images/worker) expects its model volume and HF cache.
CACHE_MOUNT = "/cache"
HF_HOME = f"{CACHE_MOUNT}/huggingface"
# Names the endpoint in the worker's readiness callback where the platform does not (Modal).
ENDPOINT_ID = getattr(worker_env, "ENDPOINT_ID", "MODELSTACK_ENDPOINT_ID")
WEB_ENDPOINT = "Model.web"
# Room for "-cache" and for Modal's web label `<app>-model-web` within 63 characters.
APP_NAME_MAX = 48


def app_name(stack: str, model_key: str) -> str:
    """One Modal app per stack and model; lowercase, as Modal's web URLs are."""
    return physical_name("modelstack", stack, model_key, max_len=APP_NAME_MAX)


def modal_environment(args: GpuEndpointArgs) -> str:
    """The Modal environment: `args['modal_environment']`, else the endpoint's `modalEnvironment`
    config (a proposed field), else Modal's default `main`. Never left to MODAL_ENVIRONMENT."""
    explicit = args.get("modal_environment")  # type: ignore[misc]
    configured = getattr(args["endpoint"], "modal_environment", None)
    return str(explicit or configured or DEFAULT_MODAL_ENVIRONMENT)


def gpu_names(ids: Sequence[str], count: int) -> list[str]:
    """Modal GPU arguments in priority order; `T4:2` for two GPUs per container."""
    return [f"{gpu}:{count}" if count > 1 else gpu for gpu in ids]


def worker_environment(args: GpuEndpointArgs, name: str) -> dict[str, pulumi.Input[str]]:
    model = args["model"]
    env: dict[str, pulumi.Input[str]] = {
        ENDPOINT_ID: name,
        worker_env.MODEL_KEY: args["model_key"],
        worker_env.MODEL_ID: model.repo_id,
        worker_env.MODEL_REVISION: args["revision"],
        worker_env.MODEL_TASK: model.task or "",
        worker_env.STACK: args["stack"],
        worker_env.ENVIRONMENT: args["environment"],
        worker_env.HF_HOME: HF_HOME,
    }
    env.update(args["env"])
    return env


def deploy(parent: GpuEndpoint, name: str, args: GpuEndpointArgs) -> EndpointOutputs:
    from components.gpu.endpoint import EndpointOutputs

    endpoint = args["endpoint"]
    environment = modal_environment(args)
    base = app_name(args["stack"], args["model_key"])
    child = pulumi.ResourceOptions(parent=parent, protect=args["protect"])

    cache = ModalVolume(f"{name}-cache", {"name": f"{base}-cache", "environment": environment}, opts=child)

    secret_names: list[pulumi.Input[str]] = []
    triggers: dict[str, pulumi.Input[str]] = {}
    if args["secret_env"]:
        secret = ModalSecret(
            f"{name}-secret",
            {"name": f"{base}-env", "environment": environment, "values": dict(args["secret_env"])},
            opts=child,
        )
        secret_names.append(secret.name)
        # Deployed functions hold the secret by id; a re-created secret must redeploy the app.
        triggers["secret"] = secret.secret_id

    count = endpoint.gpu.count
    gpu: Any = pulumi.Output.from_input(args["gpu_ids"]).apply(lambda ids: gpu_names(list(ids), count))
    app = ModalApp(
        f"{name}-app",
        {
            "name": base,
            "environment": environment,
            "gpu": gpu,
            "min_containers": endpoint.workers.min,
            "max_containers": endpoint.workers.max,
            "buffer_containers": endpoint.workers.buffer,
            "scaledown_window": endpoint.idle_timeout_seconds,
            "timeout": endpoint.execution_timeout_seconds,
            "secrets": secret_names,
            "volumes": {CACHE_MOUNT: cache.name},
            "env": worker_environment(args, base),
            "warm_schedule": getattr(endpoint, "warm_schedule", None) or "",
            "web_endpoints": [WEB_ENDPOINT],
            "triggers": triggers,
        },
        opts=child,
    )
    return EndpointOutputs(
        endpoint_id=app.app_id,
        url=app.web_url,
        version=app.version.apply(lambda v: str(v) if v is not None else ""),
    )
