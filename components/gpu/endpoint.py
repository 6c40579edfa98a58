"""`GpuEndpoint`: one model's serverless GPU endpoint, on whichever provider its config names.

The component is provider-neutral: it validates nothing (the config did), resolves nothing (the
platform passes GPU ids already chosen from the catalog) and delegates the resources to a backend
module per provider (`runpod_backend`, `modal_backend`), each exposing
`deploy(parent, name, args) -> EndpointOutputs`. Both providers therefore share one config shape,
one GPU catalog and one set of outputs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NotRequired, TypedDict

import pulumi

from components.config import Endpoint, Model

if TYPE_CHECKING:
    from components.gpu.modal_backend import ModalOptions


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


BACKENDS = {
    "runpod": "components.gpu.runpod_backend",
    "modal": "components.gpu.modal_backend",
}


class GpuEndpoint(pulumi.ComponentResource):
    endpoint_id: pulumi.Output[str]
    url: pulumi.Output[str]
    version: pulumi.Output[str]

    def __init__(self, name: str, args: GpuEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gpu:Endpoint", name, None, opts)
        backend = importlib.import_module(BACKENDS[args["endpoint"].provider])
        outputs: EndpointOutputs = backend.deploy(self, name, args)
        self.provider = args["endpoint"].provider
        self.endpoint_id = outputs.endpoint_id
        self.url = outputs.url
        self.version = outputs.version
        self.register_outputs(
            {"provider": self.provider, "endpointId": self.endpoint_id, "url": self.url, "version": self.version}
        )
