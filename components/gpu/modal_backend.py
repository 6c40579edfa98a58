"""The Modal backend of `GpuEndpoint`: volumes, a secret and a deployed app per endpoint.

With the default `ModalOptions` (our app file, inference/modal_app.py):

    <name>-volume-cache  ModalVolume  modelstack-<stack>-<model>-cache at /cache, where the worker keeps
                                      its HF cache (HF_HOME=/cache/huggingface): containers after the
                                      first load the pinned snapshot from it, not from the Hub
    <name>-secret        ModalSecret  modelstack-<stack>-<model>-env: the endpoint's secretEnv (if any)
    <name>-app           ModalApp     modelstack-<stack>-<model>: the app file with the endpoint's GPU(s),
                                      scaling, timeout, model and pinned revision

A user's own app file sets `args["modal"]` to ModalOptions with its file, the volumes it mounts
(managed here, optionally seeded from a directory of the repository or from objects in an
S3-compatible bucket; the one marked `model_cache`, by default the one at /cache, receives HF_HOME
wherever it is mounted), existing Modal secrets it attaches by name, `named_secrets` the stack writes
under exactly the names the code looks up, its web endpoints and an optional warm schedule. Web
endpoints require Modal proxy auth unless `proxy_auth` is false. The app's `triggers` hold the id of
every volume and secret it uses: deployed functions refer to them by id, so re-creating one (deleted
in the dashboard, put back by `up`) redeploys the app. Every child names its Modal environment
explicitly. The app's id, deployed version and first web URL are the endpoint's outputs.

`deploy_app` is the part shared with `components/gpu/app.py` (an app serving several models): the
same children, with the environment the caller builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pulumi

from components.gpu.args import (
    CACHE_MOUNT,
    DEFAULT_MODAL_ENVIRONMENT,
    EndpointOutputs,
    GpuEndpointArgs,
    ModalOptions,
    ModalVolumeSpec,
)
from components.naming import MODAL_APP_NAME_MAX, modal_app_name, physical_name
from components.providers.modal import ModalApp, ModalSecret, ModalVolume
from inference import contract

__all__ = ["CACHE_MOUNT", "DEFAULT_MODAL_ENVIRONMENT", "ModalOptions", "ModalVolumeSpec", "deploy", "deploy_app", "hf_home"]

if TYPE_CHECKING:
    from components.config import Endpoint

# Names the endpoint in the worker's readiness callback where the platform does not (Modal).
ENDPOINT_ID = contract.ENDPOINT_ID
APP_NAME_MAX = MODAL_APP_NAME_MAX


def hf_home(volumes: Mapping[str, ModalVolumeSpec]) -> str | None:
    """HF_HOME for the containers: inside the volume marked as the model cache, wherever it is mounted."""
    for path, spec in sorted(volumes.items()):
        if spec.model_cache if spec.model_cache is not None else path == CACHE_MOUNT:
            return f"{path.rstrip('/')}/huggingface"
    return None


app_name = modal_app_name


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
    home = hf_home(opts.volumes)
    if home is not None:
        env[contract.HF_HOME] = home
    env.update(args["env"])
    if env[contract.MODEL_REVISION] == "":
        # A bucket checkpoint has no Hub revision; its content is pinned where it is copied.
        del env[contract.MODEL_REVISION]
    return env


def deploy(parent: pulumi.Resource, name: str, args: GpuEndpointArgs) -> EndpointOutputs:
    opts = options(args)
    base = opts.app_name or app_name(args["stack"], args["model_key"])
    return deploy_app(
        parent,
        name,
        base=base,
        endpoint=args["endpoint"],
        gpu_ids=args["gpu_ids"],
        env=worker_environment(args, base, opts),
        secret_env=args["secret_env"],
        opts=opts,
        protect=args["protect"],
    )


def deploy_app(
    parent: pulumi.Resource,
    name: str,
    *,
    base: str,
    endpoint: Endpoint,
    gpu_ids: pulumi.Input[Sequence[str]],
    env: Mapping[str, pulumi.Input[str]],
    secret_env: Mapping[str, pulumi.Input[str]],
    opts: ModalOptions,
    protect: bool,
) -> EndpointOutputs:
    """Volumes, secrets and the deployed app of one Modal app named `base` (an endpoint's or an app's)."""
    environment = opts.environment
    child = pulumi.ResourceOptions(parent=parent, protect=protect)

    volumes: dict[str, pulumi.Input[str]] = {}
    # Deployed functions hold volumes (and secrets) by id: a re-created one must redeploy the app.
    triggers: dict[str, pulumi.Input[str]] = {}
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
        triggers[f"volume:{path}"] = volume.volume_id

    secret_names: list[pulumi.Input[str]] = list(opts.secrets)
    if secret_env:
        secret = ModalSecret(
            f"{name}-secret",
            {"name": f"{base}-env", "environment": environment, "values": dict(secret_env)},
            opts=child,
        )
        secret_names.append(secret.name)
        triggers["secret"] = secret.secret_id
    for secret_name, values in sorted(opts.named_secrets.items()):
        named = ModalSecret(
            f"{name}-secret-{physical_name(secret_name, max_len=40)}",
            # The whole secret is secret, its plain keys too: Modal keeps them together.
            {"name": secret_name, "environment": environment, "values": {k: pulumi.Output.secret(v) for k, v in values.items()}},
            opts=child,
        )
        secret_names.append(named.name)
        triggers[f"secret:{secret_name}"] = named.secret_id

    count = endpoint.gpu.count
    gpu: Any = pulumi.Output.from_input(gpu_ids).apply(lambda ids: gpu_names(list(ids), count))
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
            "startup_timeout": opts.startup_timeout,
            "secrets": secret_names,
            "volumes": volumes,
            "env": dict(env),
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
