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
endpoints require Modal proxy auth unless `proxy_auth` is false. Every child names its Modal
environment explicitly. The app's id, deployed version and first web URL are the endpoint's outputs.

`deploy_app` is the part shared with `components/gpu/app.py` (an app serving several models): the
same children, with the environment the caller builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi

from components.naming import physical_name
from components.providers.modal import ModalApp, ModalSecret, ModalVolume
from components.providers.modal.app import DEFAULT_SOURCE
from inference import env as worker_env

if TYPE_CHECKING:
    from components.config import Endpoint
    from components.gpu.endpoint import EndpointOutputs, GpuEndpoint, GpuEndpointArgs

DEFAULT_MODAL_ENVIRONMENT = "main"
"""Modal's default environment; explicit on every resource, never left to MODAL_ENVIRONMENT."""
# Where the worker image (images/worker) expects its model volume and HF cache.
CACHE_MOUNT = "/cache"
HF_HOME = f"{CACHE_MOUNT}/huggingface"
# Names the endpoint in the worker's readiness callback where the platform does not (Modal).
ENDPOINT_ID = getattr(worker_env, "ENDPOINT_ID", "MODELSTACK_ENDPOINT_ID")
# Room for "-cache" and for Modal's web label `<app>-model-web` within 63 characters.
APP_NAME_MAX = 48


@dataclass(frozen=True)
class ModalVolumeSpec:
    """A volume the app mounts. The stack creates it (and deletes it with the stack)."""

    name: str = ""
    """Modal volume name; default `<app name>-<mount path slug>`."""
    seed_dir: str = ""
    """Local directory uploaded into it (checkpoints, a model snapshot); empty for none."""
    seed_path: str = "/"
    version: int = 0
    """VolumeFS version, 1 or 2; 0 lets Modal choose."""
    seed_bucket: str = ""
    """Physical name of an S3-compatible bucket whose objects seed the volume (not with seed_dir)."""
    seed_endpoint: str = ""
    seed_region: str = ""
    seed_credential: str = ""
    """Name of the `credentials.s3.<name>` pair that reads the bucket; the keys stay in config."""
    seed_prefix: str = ""
    """Objects under this prefix land under seed_path, relative names kept."""
    model_cache: bool | None = None
    """Holds the Hugging Face cache (HF_HOME=<mount>/huggingface); None: only when mounted at /cache."""


def _default_volumes() -> dict[str, ModalVolumeSpec]:
    return {CACHE_MOUNT: ModalVolumeSpec()}


def hf_home(volumes: Mapping[str, ModalVolumeSpec]) -> str | None:
    """HF_HOME for the containers: inside the volume marked as the model cache, wherever it is mounted."""
    for path, spec in sorted(volumes.items()):
        if spec.model_cache if spec.model_cache is not None else path == CACHE_MOUNT:
            return f"{path.rstrip('/')}/huggingface"
    return None


@dataclass(frozen=True)
class ModalOptions:
    """How an endpoint is deployed on Modal. The platform builds it from the endpoint's config."""

    environment: str = DEFAULT_MODAL_ENVIRONMENT
    app_name: str = ""
    """Overrides the default app name (modelstack-<stack>-<model>) when code looks the app up by name."""
    app_file: str = DEFAULT_SOURCE
    include: Sequence[str] = ()
    """More paths a deploy depends on (requirements, files the image copies): part of the source hash."""
    web_endpoints: Sequence[str] = ("Model.web",)
    volumes: Mapping[str, ModalVolumeSpec] = field(default_factory=_default_volumes)
    """Mount path -> volume."""
    secrets: Sequence[str] = ()
    """Existing Modal secrets attached by name (not managed by the stack)."""
    warm_schedule: str = ""
    """Cron (UTC) for a function that keeps a container warm; empty for none."""
    proxy_auth: bool = True
    """The web endpoints require Modal proxy auth (Modal-Key/Modal-Secret headers); false makes them public."""
    named_secrets: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Modal secrets created under exactly these names (code looks them up by name): name -> values."""


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
        worker_env.MODEL_KEY: args["model_key"],
        worker_env.MODEL_ID: model.repo_id,
        worker_env.MODEL_REVISION: args["revision"],
        worker_env.MODEL_TASK: model.task or "",
        worker_env.STACK: args["stack"],
        worker_env.ENVIRONMENT: args["environment"],
    }
    home = hf_home(opts.volumes)
    if home is not None:
        env[worker_env.HF_HOME] = home
    env.update(args["env"])
    if env[worker_env.MODEL_REVISION] == "":
        # A bucket checkpoint has no Hub revision; its content is pinned where it is copied.
        del env[worker_env.MODEL_REVISION]
    return env


def deploy(parent: GpuEndpoint, name: str, args: GpuEndpointArgs) -> EndpointOutputs:
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
    from components.gpu.endpoint import EndpointOutputs

    environment = opts.environment
    child = pulumi.ResourceOptions(parent=parent, protect=protect)

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
    if secret_env:
        secret = ModalSecret(
            f"{name}-secret",
            {"name": f"{base}-env", "environment": environment, "values": dict(secret_env)},
            opts=child,
        )
        secret_names.append(secret.name)
        # Deployed functions hold the secret by id; a re-created secret must redeploy the app.
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
