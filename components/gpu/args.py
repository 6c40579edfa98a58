"""The interface between `GpuEndpoint` and its provider backends: what a backend is given and what
it returns, and the Modal deploy options the platform builds from the config.

Kept apart from `endpoint.py` and the backends so that both import it and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

import pulumi

from components.config import Endpoint, Model
from components.limits.modal import DEFAULT_STARTUP_TIMEOUT
from components.providers.modal.app import DEFAULT_SOURCE

DEFAULT_MODAL_ENVIRONMENT = "main"
"""Modal's default environment; explicit on every resource, never left to MODAL_ENVIRONMENT."""
# Where the worker image (images/worker) expects its model volume and HF cache.
CACHE_MOUNT = "/cache"


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
    startup_timeout: int = DEFAULT_STARTUP_TIMEOUT
    """Seconds a container may take to start (`@modal.enter`: download and load the model)."""


@dataclass(frozen=True)
class RegistryCredential:
    """A login for the private registry that holds the worker image (e.g. Google Artifact Registry)."""

    username: str
    """`_json_key` (or `_json_key_base64`) for Artifact Registry with a service-account key."""
    password: pulumi.Input[str]
    """The key or password; pass a Pulumi secret. Only its salted hash is ever stored."""


class GpuEndpointArgs(TypedDict):
    stack: str
    environment: str
    model_key: str
    """The model's key in `modelstack:models`."""
    model: Model
    endpoint: Endpoint
    revision: pulumi.Input[str]
    """Commit sha the worker loads (pinned by the HuggingFaceModel resource when present)."""
    gpu_ids: pulumi.Input[Sequence[str]]
    """Provider GPU ids in priority order (Runpod pool ids, Modal GPU names)."""
    image: pulumi.Input[str] | None
    """Worker image pinned by digest, for providers that run a container image (Runpod)."""
    env: Mapping[str, pulumi.Input[str]]
    """Plain environment for the worker, on top of the model settings the backend sets."""
    secret_env: Mapping[str, pulumi.Input[str]]
    """Environment variable -> secret value (a secret Output); never stored in plaintext."""
    protect: bool
    registry: NotRequired[RegistryCredential]
    """Credential to pull `image` with, when it sits in a private registry (Runpod only; Modal builds
    its image itself and ignores it)."""
    modal: NotRequired[ModalOptions]
    """How a Modal endpoint is deployed (environment, app file, volumes...); Modal only."""
    container_disk_gb: NotRequired[pulumi.Input[int] | None]
    """Runpod container disk sized from the pinned snapshot (ModelSupply.disk_gb); Runpod only."""


@dataclass
class EndpointOutputs:
    endpoint_id: pulumi.Output[str]
    url: pulumi.Output[str]
    """Where requests go: Runpod's job API base URL, or the Modal web endpoint URL."""
    version: pulumi.Output[str]
    """The provider's release / deployed version, so a rollout is visible in `pulumi up`."""
