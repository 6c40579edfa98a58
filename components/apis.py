"""Enablement of the Google APIs a stack uses, so a fresh project works on the first `pulumi up`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp


class ProjectApisArgs(TypedDict):
    project: str
    """GCP project id."""
    apis: Iterable[str]
    """Service names such as run.googleapis.com."""


class ProjectApis(pulumi.ComponentResource):
    """One `gcp.projects.Service` per API. Resources that need an API `depends_on` it.

    `disable_on_destroy=False`: destroying a stack must never switch an API off for other stacks
    (or hand-made resources) that share the project.
    """

    services: dict[str, gcp.projects.Service]

    def __init__(self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:ProjectApis", name, None, opts)
        self.services = {}
        for api in sorted(set(args["apis"])):
            short = api.split(".")[0]
            self.services[api] = gcp.projects.Service(
                f"{name}-{short}",
                project=args["project"],
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"enabled": sorted(self.services)})

    def depends(self, *apis: str) -> list[pulumi.Resource]:
        """The enablement resources for `apis`, for use in `depends_on`."""
        return [self.services[a] for a in apis if a in self.services]
