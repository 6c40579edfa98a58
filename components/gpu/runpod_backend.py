"""The Runpod backend of `GpuEndpoint`: one model's secrets, template and serverless endpoint.

For a model it creates, all children of the `GpuEndpoint`:

- `<name>-id`: a `random.RandomId` whose first six hex digits suffix every Runpod name, so names are
  unique per stack and account yet stable across runs. It is saved in state before any Runpod call,
  so a create that fails half-way is retried under the same name and adopted, not duplicated;
- `<name>-secret-<var>`: a `RunpodSecret` per `secret_env` entry, named
  `<prefix>-<var>-<rotation>`. `<rotation>` comes from a `RandomId` keyed on a salted hash of the
  value, so a new value gets a new secret name: the template is updated to the new name, the
  endpoint re-applies it (workers roll), and only then is the old secret deleted;
- `<name>-registry`: a `RunpodRegistryAuth`, only when `args["registry"]` names a private-registry
  login for the image, named `<prefix>-registry-<rotation>` like the secrets: `<rotation>` is keyed
  on a salted hash of username and password, so a rotated password gets a new credential that the
  template switches to before the old one is deleted (Runpod would otherwise silently clear the
  template's reference when the old one goes, leaving workers unable to pull);
- `<name>-volume`: a `RunpodNetworkVolume`, only with `runpod.networkVolume`: the endpoint mounts it
  (so it runs in the volume's data center only) and the template points HF_HOME at it, so a model
  downloaded by one worker is there for every later cold start;
- `<name>-template`: a `RunpodTemplate` with the worker image (pinned by digest) and its environment:
  the model settings named in `inference/contract.py`, `args["env"]`, and `{{ RUNPOD_SECRET_<name> }}`
  references for the secrets, so no secret value ever sits in Runpod env; and the registry
  credential's id as `registryAuthId` when there is one;
- `<name>-endpoint`: a `RunpodEndpoint` from that template, with GPU pools in priority order,
  excluded GPU types (when the config names single cards rather than whole pools), workers,
  idle timeout, scaler, execution timeout, FlashBoot (always explicit) and data centers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import pulumi
import pulumi_random as random

from components.config import Endpoint
from components.config.endpoints import RUNPOD_VOLUME_MOUNT
from components.gpu.args import EndpointOutputs, GpuEndpointArgs, RegistryCredential
from components.gpu.catalog import GpuChoiceError, catalog_for
from components.limits import runpod as runpod_limits
from components.naming import physical_name
from components.providers.runpod import (
    RunpodEndpoint,
    RunpodNetworkVolume,
    RunpodRegistryAuth,
    RunpodSecret,
    RunpodTemplate,
)
from inference import contract

CONTAINER_DISK_GB = runpod_limits.CONTAINER_DISK_DEFAULT_GB
"""For a model without Hub file sizes (a bucket checkpoint) and no `runpod.containerDiskGb`; Hub
models get `args["container_disk_gb"]`, sized from the pinned snapshot (components/gpu/disk.py)."""
PREFIX_MAX = 40
SCALERS = {"queueDelay": "QUEUE_DELAY", "requestCount": "REQUEST_COUNT"}


def deploy(parent: pulumi.Resource, name: str, args: GpuEndpointArgs) -> EndpointOutputs:
    endpoint: Endpoint = args["endpoint"]
    if args["image"] is None:
        raise ValueError(
            f"models.{args['model_key']}.endpoint: Runpod runs a container image; the platform must pass "
            "the worker image (pinned by digest) for provider runpod"
        )
    protect = args["protect"]

    def child(of: pulumi.Resource = parent, **extra: object) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=of, protect=protect, **extra)  # type: ignore[arg-type]

    prefix = physical_name("modelstack", args["stack"], args["model_key"], max_len=PREFIX_MAX)
    ident = random.RandomId(f"{name}-id", byte_length=8, opts=child())
    suffix = ident.hex.apply(lambda h: h[:6])

    secret_refs: dict[str, pulumi.Output[str]] = {}
    for var, value in sorted(args["secret_env"].items()):
        description = f"modelstack {args['stack']}: {var} of model {args['model_key']}"
        secret_refs[var] = _secret(name, prefix, var, value, description, ident, child).reference

    registry = args.get("registry")
    registry_auth_id = None
    if registry is not None:
        registry_auth_id = _registry_auth(name, prefix, registry, ident, child).registry_auth_id

    volume_settings = endpoint.runpod.network_volume if endpoint.runpod is not None else None
    volume_ids: list[pulumi.Input[str]] = []
    data_centers: list[str] = list(endpoint.data_centers)
    cache_env: dict[str, str] = {}
    if volume_settings is not None:
        volume = RunpodNetworkVolume(
            f"{name}-volume",
            {
                "name": pulumi.Output.concat(prefix, "-cache-", suffix),
                "size_gb": volume_settings.size_gb,
                "data_center_id": volume_settings.data_center,
                "storage_type": volume_settings.storage_type,
            },
            opts=child(),
        )
        volume_ids = [volume.volume_id]
        # Workers can only mount a network volume in its own data center.
        data_centers = [volume_settings.data_center]
        cache_env = {contract.HF_HOME: f"{RUNPOD_VOLUME_MOUNT}/huggingface"}

    template = RunpodTemplate(
        f"{name}-template",
        {
            "name": pulumi.Output.concat(prefix, "-", suffix),
            "image": args["image"],
            "container_disk_gb": _container_disk(args),
            "env": {**worker_settings(args), **cache_env, **args["env"], **secret_refs},
            "registry_auth_id": registry_auth_id,
        },
        opts=child(),
    )
    excluded = excluded_gpu_types(endpoint.gpu.names())
    runpod_endpoint = RunpodEndpoint(
        f"{name}-endpoint",
        {
            "name": pulumi.Output.concat(prefix, "-", suffix),
            "template_id": template.template_id,
            "template_revision": template.revision,
            "gpu_pools": args["gpu_ids"],
            "gpu_count": endpoint.gpu.count,
            "excluded_gpu_types": excluded,
            "workers_min": endpoint.workers.min,
            "workers_max": endpoint.workers.max,
            "idle_timeout_seconds": endpoint.idle_timeout_seconds,
            "scaler_type": SCALERS[endpoint.scaling.type],
            "scaler_value": (
                int(endpoint.scaling.value) if endpoint.scaling.type == "requestCount" else endpoint.scaling.value
            ),
            "execution_timeout_seconds": endpoint.execution_timeout_seconds,
            "flashboot": "FLASHBOOT" if endpoint.flashboot else "OFF",
            "data_center_ids": data_centers,
            "network_volume_ids": volume_ids,
        },
        opts=child(),
    )
    return EndpointOutputs(
        endpoint_id=runpod_endpoint.endpoint_id,
        url=runpod_endpoint.url,  # type: ignore[attr-defined]
        version=runpod_endpoint.version,  # type: ignore[attr-defined]
    )


def _container_disk(args: GpuEndpointArgs) -> pulumi.Input[int]:
    sized = args.get("container_disk_gb")
    if sized is not None:
        return sized
    runpod = args["endpoint"].runpod
    configured = runpod.container_disk_gb if runpod is not None else None
    return configured if configured is not None else CONTAINER_DISK_GB


def worker_settings(args: GpuEndpointArgs) -> dict[str, pulumi.Input[str]]:
    """What the worker reads to know which model to load (names from inference/contract.py)."""
    settings: dict[str, pulumi.Input[str]] = {
        contract.MODEL_KEY: args["model_key"],
        contract.MODEL_ID: args["model"].repo_id,
        contract.MODEL_REVISION: args["revision"],
        contract.STACK: args["stack"],
        contract.ENVIRONMENT: args["environment"],
    }
    if args["model"].task is not None:
        settings[contract.MODEL_TASK] = args["model"].task
    if settings[contract.MODEL_REVISION] == "":
        # A bucket checkpoint has no Hub revision; its content is pinned where it is copied.
        del settings[contract.MODEL_REVISION]
    return settings


def excluded_gpu_types(names: Sequence[str]) -> list[str]:
    """GPU types to subtract from the pools, when the config names single cards rather than pools.

    Runpod selects whole pools; naming `NVIDIA L4` means pool AMPERE_24 minus its other cards. A pool
    named by its id (`ADA_24`) keeps all its cards. Only cards the catalog lists can be excluded.
    """
    catalog = catalog_for("runpod")
    whole_pools: set[str] = set()
    wanted: dict[str, set[str]] = {}
    for name in names:
        gpu = catalog.find(name)
        if gpu is None:
            raise GpuChoiceError(f"unknown runpod GPU {name!r}; choose from {', '.join(catalog.names())}")
        if gpu.id.lower() == name.strip().lower():
            whole_pools.add(gpu.id)
        else:
            wanted.setdefault(gpu.id, set()).update(t for t in gpu.types if t.lower() == name.strip().lower())
    excluded: list[str] = []
    for gpu in catalog.gpus:
        if gpu.id in wanted and gpu.id not in whole_pools:
            excluded.extend(t for t in gpu.types if t not in wanted[gpu.id])
    return excluded


def _secret(
    name: str,
    prefix: str,
    var: str,
    value: pulumi.Input[str],
    description: str,
    ident: random.RandomId,
    child: object,
) -> RunpodSecret:
    secret_value = pulumi.Output.secret(value)
    # A salted hash, never the value, decides when the secret is rotated; it stays a secret too.
    value_hash = pulumi.Output.secret(
        pulumi.Output.all(ident.hex, secret_value).apply(
            lambda pair: hmac.new(pair[0].encode(), pair[1].encode(), hashlib.sha256).hexdigest()
        )
    )
    key = physical_name(var, max_len=40)
    rotation = random.RandomId(
        f"{name}-secret-{key}-rotation",
        byte_length=3,
        keepers={"valueHash": value_hash},
        opts=child(),  # type: ignore[operator]
    )
    return RunpodSecret(
        f"{name}-secret-{key}",
        {
            "name": pulumi.Output.concat(prefix, "-", key, "-", rotation.hex),
            "value": secret_value,
            "description": description,
        },
        opts=child(),  # type: ignore[operator]
    )


def _registry_auth(
    name: str,
    prefix: str,
    credential: RegistryCredential,
    ident: random.RandomId,
    child: object,
) -> RunpodRegistryAuth:
    password = pulumi.Output.secret(credential.password)
    # Username and password together decide the rotation, so changing either gives the credential a
    # new name: Runpod creates the new one beside the old, and the old goes only after the switch.
    credential_hash = pulumi.Output.secret(
        pulumi.Output.all(ident.hex, password).apply(
            lambda pair: hmac.new(pair[0].encode(), f"{credential.username}\0{pair[1]}".encode(), hashlib.sha256)
            .hexdigest()
        )
    )
    rotation = random.RandomId(
        f"{name}-registry-rotation",
        byte_length=3,
        keepers={"credentialHash": credential_hash},
        opts=child(),  # type: ignore[operator]
    )
    return RunpodRegistryAuth(
        f"{name}-registry",
        {
            "name": pulumi.Output.concat(prefix, "-registry-", rotation.hex),
            "username": credential.username,
            "password": password,
        },
        opts=child(),  # type: ignore[operator]
    )
