"""`GpuTemplate`: a Runpod serverless template with no endpoint of its own (`modelstack:templates`).

Other code starts endpoints from it at run time (Visgate's deploy API creates one endpoint per
request and passes `templateId`), so the stack owns the image and the template, and exports the
template's id for that code's environment (`${templates.<key>.id}`). Children:

- `<name>-id`: a `random.RandomId` suffixing the default name (as `runpod_backend` does), saved in
  state before any Runpod call so an interrupted create is adopted, not duplicated;
- `<name>-registry`: a `RunpodRegistryAuth` when the image sits in the stack's private registry;
- `<name>-template`: the `RunpodTemplate` with the image pinned by digest and the plain `env`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi
import pulumi_random as random

from components.config import Template
from components.gpu.endpoint import RegistryCredential
from components.gpu.runpod_backend import PREFIX_MAX, _registry_auth
from components.naming import physical_name
from components.providers.runpod import RunpodTemplate


class GpuTemplateArgs(TypedDict):
    stack: str
    template_key: str
    spec: Template
    image: pulumi.Input[str]
    """The image pinned by digest (built from `spec.image` by the platform, or given)."""
    env: Mapping[str, pulumi.Input[str]]
    registry: RegistryCredential | None
    protect: bool


class GpuTemplate(pulumi.ComponentResource):
    template_id: pulumi.Output[str]
    template_name: pulumi.Output[str]
    image: pulumi.Output[str]

    def __init__(self, name: str, args: GpuTemplateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gpu:Template", name, None, opts)
        spec = args["spec"]

        def child() -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, protect=args["protect"])

        prefix = physical_name("modelstack", args["stack"], args["template_key"], max_len=PREFIX_MAX)
        ident = random.RandomId(f"{name}-id", byte_length=8, opts=child())
        template_name: pulumi.Input[str] = (
            spec.name if spec.name else pulumi.Output.concat(prefix, "-", ident.hex.apply(lambda h: h[:6]))
        )
        registry_auth_id = None
        if args["registry"] is not None:
            registry_auth_id = _registry_auth(name, prefix, args["registry"], ident, child).registry_auth_id
        template = RunpodTemplate(
            f"{name}-template",
            {
                "name": template_name,
                "image": args["image"],
                "container_disk_gb": spec.container_disk_gb,
                "env": dict(args["env"]),
                "registry_auth_id": registry_auth_id,
            },
            opts=child(),
        )
        self.template_id = template.template_id  # type: ignore[attr-defined]
        self.template_name = pulumi.Output.from_input(template_name)
        self.image = pulumi.Output.from_input(args["image"])
        self.register_outputs({"templateId": self.template_id, "name": self.template_name, "image": self.image})
