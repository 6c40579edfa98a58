"""Runpod as Pulumi resources: serverless templates, endpoints, network volumes, secrets and
container registry credentials.

Type tokens: `pulumi-python:dynamic/runpod:Template|Endpoint|NetworkVolume|Secret|RegistryAuth`.
Credentials and base URLs: see `settings` (stack config `modelstack:credentials.runpodApiKey` or
`RUNPOD_API_KEY`; `RUNPOD_API_BASE_URL`). Importing this package has no side effects.
"""

from components.providers.runpod.endpoint import EndpointProvider, RunpodEndpoint, RunpodEndpointArgs
from components.providers.runpod.registry import (
    RegistryAuthProvider,
    RunpodRegistryAuth,
    RunpodRegistryAuthArgs,
)
from components.providers.runpod.secret import RunpodSecret, RunpodSecretArgs, SecretProvider, reference
from components.providers.runpod.template import RunpodTemplate, RunpodTemplateArgs, TemplateProvider
from components.providers.runpod.volume import RunpodNetworkVolume, RunpodNetworkVolumeArgs, VolumeProvider

__all__ = [
    "EndpointProvider",
    "RegistryAuthProvider",
    "RunpodEndpoint",
    "RunpodEndpointArgs",
    "RunpodNetworkVolume",
    "RunpodNetworkVolumeArgs",
    "RunpodRegistryAuth",
    "RunpodRegistryAuthArgs",
    "RunpodSecret",
    "RunpodSecretArgs",
    "RunpodTemplate",
    "RunpodTemplateArgs",
    "SecretProvider",
    "TemplateProvider",
    "VolumeProvider",
    "reference",
]
