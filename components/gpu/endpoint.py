"""`GpuEndpoint`: one model's serverless GPU endpoint, on whichever provider its config names.

The component is provider-neutral: it validates nothing (the config did), resolves nothing (the
platform passes GPU ids already chosen from the catalog) and delegates the resources to a backend
module per provider (`runpod_backend`, `modal_backend`), each exposing
`deploy(parent, name, args) -> EndpointOutputs`. Both providers therefore share one config shape,
one GPU catalog and one set of outputs.
"""

from __future__ import annotations

import importlib

import pulumi

from components.gpu.args import EndpointOutputs, GpuEndpointArgs, RegistryCredential

__all__ = ["BACKENDS", "EndpointOutputs", "GpuEndpoint", "GpuEndpointArgs", "RegistryCredential"]


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
