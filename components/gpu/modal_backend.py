"""The Modal backend of `GpuEndpoint`: volumes, a secret and a deployed app per endpoint.

With the default `ModalOptions` (our app file, inference/modal_app.py):

    <name>-volume-cache  ModalVolume  modelstack-<stack>-<model>-cache at /cache, where the worker keeps
                                      its HF cache (HF_HOME=/cache/huggingface): containers after the
                                      first load the pinned snapshot from it, not from the Hub
    <name>-secret        ModalSecret  modelstack-<stack>-<model>-env: the endpoint's secretEnv (if any)
    <name>-app           ModalApp     modelstack-<stack>-<model>: the app file with the endpoint's GPU(s),
                                      scaling, timeout, model and pinned revision

A user's own app file (HatCat, caption boundaries, Modomo) sets `args["modal"]` to ModalOptions with
its file, the volumes it mounts (managed here, optionally seeded from a directory of the repository
or from objects in an S3-compatible bucket), existing Modal secrets it attaches by name, its web
endpoints and an optional warm schedule. Web endpoints require Modal proxy auth unless
`proxy_auth` is false. Every child names its Modal environment explicitly. The app's id, deployed version and first web URL are the endpoint's outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.gpu.args import (
    CACHE_MOUNT,
    DEFAULT_MODAL_ENVIRONMENT,
    EndpointOutputs,
    GpuEndpointArgs,
    ModalOptions,
    ModalVolumeSpec,
)
from components.naming import physical_name
from components.providers.modal import ModalApp, ModalSecret, ModalVolume
from inference import contract

__all__ = ["CACHE_MOUNT", "DEFAULT_MODAL_ENVIRONMENT", "ModalOptions", "ModalVolumeSpec", "deploy"]

HF_HOME = f"{CACHE_MOUNT}/huggingface"
# Names the endpoint in the worker's readiness callback where the platform does not (Modal).
ENDPOINT_ID = contract.ENDPOINT_ID
# Room for "-cache" and for Modal's web label `<app>-model-web` within 63 characters.
APP_NAME_MAX = 48


def app_name(stack: str, model_key: str) -> str:
    """One Modal app per stack and model; lowercase, as Modal's web URLs are."""
    return physical_name("modelstack", stack, model_key, max_len=APP_NAME_MAX)


def options(args: GpuEndpointArgs) -> ModalOptions:
    opts = args.get("modal")  # type: ignore[misc]
    return opts if isinstance(opts, ModalOptions) else ModalOptions()


def gpu_names(ids: Sequence[str], count: int) -> list[str]:
    """Modal GPU arguments in priority order; `T4:2` for two GPUs per container."""
    return [f"{gpu}:{count}" if count > 1 else gpu for gpu in ids]


def _slug(path: str) -> str:
    return physical_name(path.strip("/") or "root", max_len=20)


def worker_environment(args: GpuEndpointArgs, name: str, opts: ModalOptions) -> dict[str, pulumi.Input[str]]:
    model = args["model"]
    env: dict[str, pulumi.Input[str]] = {
        ENDPOINT_ID: name,
        contract.MODEL_KEY: args["model_key"],
        contract.MODEL_ID: model.repo_id,
        contract.MODEL_REVISION: args["revision"],
        contract.MODEL_TASK: model.task or "",
        contract.STACK: args["stack"],
        contract.ENVIRONMENT: args["environment"],
    }
    if CACHE_MOUNT in opts.volumes:
        env[contract.HF_HOME] = HF_HOME
    env.update(args["env"])
    if env[contract.MODEL_REVISION] == "":
        # A bucket checkpoint has no Hub revision; its content is pinned where it is copied.
        del env[contract.MODEL_REVISION]
    return env


def deploy(parent: pulumi.Resource, name: str, args: GpuEndpointArgs) -> EndpointOutputs:
    endpoint = args["endpoint"]
    opts = options(args)
    environment = opts.environment
    base = opts.app_name or app_name(args["stack"], args["model_key"])
    child = pulumi.ResourceOptions(parent=parent, protect=args["protect"])

    volumes: dict[str, pulumi.Input[str]] = {}
    for path, spec in sorted(opts.volumes.items()):
        slug = _slug(path)
        volume = ModalVolume(
            f"{name}-volume-{slug}",
            {
                "name": spec.name or f"{base}-{slug}",
                "environment": environment,
                "version": spec.version,
                "seed_dir": spec.seed_dir,
                "seed_path": spec.seed_path,
                "seed_bucket": spec.seed_bucket,
                "seed_endpoint": spec.seed_endpoint,
                "seed_region": spec.seed_region,
                "seed_credential": spec.seed_credential,
                "seed_prefix": spec.seed_prefix,
            },
            opts=child,
        )
        volumes[path] = volume.name

    secret_names: list[pulumi.Input[str]] = list(opts.secrets)
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
            "source_file": opts.app_file,
            "include": list(opts.include),
            "gpu": gpu,
            "min_containers": endpoint.workers.min,
            "max_containers": endpoint.workers.max,
            "buffer_containers": endpoint.workers.buffer,
            "scaledown_window": endpoint.idle_timeout_seconds,
            "timeout": endpoint.execution_timeout_seconds,
            "secrets": secret_names,
            "volumes": volumes,
            "env": worker_environment(args, base, opts),
            "warm_schedule": opts.warm_schedule,
            "web_endpoints": list(opts.web_endpoints),
            "proxy_auth": opts.proxy_auth,
            "triggers": triggers,
        },
        opts=child,
    )
    return EndpointOutputs(
        endpoint_id=app.app_id,
        url=app.web_url,
        version=app.version.apply(lambda v: str(int(v)) if v is not None else ""),
    )
