"""Container images: one Artifact Registry repository per stack, images built and pushed by digest.

Downstream resources take `ImageBuild.ref`, the pushed `repo_digest` (`...@sha256:...`): a Cloud
Run revision then names exactly the bytes that were built, and re-applying an old commit's config
rolls back to that commit's image rather than to whatever a mutable tag points at today.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pulumi
import pulumi_docker as docker
import pulumi_gcp as gcp


class RegistryArgs(TypedDict):
    project: str
    region: str
    repository_id: str
    labels: dict[str, str]
    depends_on: list[pulumi.Resource]


class Registry(pulumi.ComponentResource):
    """An Artifact Registry Docker repository, and the credentials to push to it."""

    url: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:Registry", name, None, opts)
        self.repository = gcp.artifactregistry.Repository(
            f"{name}-repo",
            project=args["project"],
            location=args["region"],
            repository_id=args["repository_id"],
            format="DOCKER",
            description="Images built by modelstack, referenced by digest.",
            labels=args["labels"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=args["depends_on"]),
        )
        self.server = f"{args['region']}-docker.pkg.dev"
        self.url = pulumi.Output.concat(
            self.server, "/", self.repository.project, "/", self.repository.repository_id
        )
        # A short-lived OAuth token of whoever runs `pulumi up`; secret so it never lands in state.
        client = gcp.organizations.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.password = pulumi.Output.secret(client.access_token)
        self.register_outputs({"url": self.url})


class ImageBuildArgs(TypedDict):
    registry: Registry
    image: str
    """Image name in the repository, e.g. gateway."""
    context: Path
    """Build context: the directory holding the Dockerfile (images/<name>/) or the repo root."""
    dockerfile: Path
    tag: str
    """Tag pushed alongside the digest, for humans browsing the registry (never deployed by tag)."""


class ImageBuild(pulumi.ComponentResource):
    ref: pulumi.Output[str]
    """registry/repo/name@sha256:..., the only form downstream resources use."""

    def __init__(self, name: str, args: ImageBuildArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:Image", name, None, opts)
        registry = args["registry"]
        image = docker.Image(
            f"{name}-image",
            image_name=pulumi.Output.concat(registry.url, "/", args["image"], ":", args["tag"]),
            build=docker.DockerBuildArgs(
                context=str(args["context"]),
                dockerfile=str(args["dockerfile"]),
                # Cloud Run and the GPU clouds run x86-64, whatever machine builds the image.
                platform="linux/amd64",
            ),
            registry=docker.RegistryArgs(
                server=registry.server,
                username="oauth2accesstoken",
                password=registry.password,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[registry.repository]),
        )
        self.ref = image.repo_digest
        self.register_outputs({"ref": self.ref})


class RegistryPullAccessArgs(TypedDict):
    registry: Registry
    account_id: str
    """Service account id (6-30 characters) that may only read this repository."""
    rotation: str
    """Change it to rotate the key (a new key is created before the old one is deleted)."""


class RegistryPullAccess(pulumi.ComponentResource):
    """A read-only login to the stack's Artifact Registry repository for clouds outside GCP.

    Runpod pulls the worker image with it: a service account that can read this one repository
    and nothing else, and a key for it. The key is a long-lived credential, so it is a Pulumi secret
    (encrypted in state) and only ever handed to Runpod as a secret; rotate it by changing
    `rotation`.
    """

    username: str
    password: pulumi.Output[str]

    def __init__(self, name: str, args: RegistryPullAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:RegistryPullAccess", name, None, opts)
        registry = args["registry"]
        account = gcp.serviceaccount.Account(
            f"{name}-sa",
            project=registry.repository.project,
            account_id=args["account_id"],
            display_name="modelstack image pulls from outside GCP (read-only)",
            opts=pulumi.ResourceOptions(parent=self),
        )
        gcp.artifactregistry.RepositoryIamMember(
            f"{name}-reader",
            project=registry.repository.project,
            location=registry.repository.location,
            repository=registry.repository.name,
            role="roles/artifactregistry.reader",
            member=account.email.apply(lambda email: f"serviceAccount:{email}"),
            opts=pulumi.ResourceOptions(parent=account),
        )
        key = gcp.serviceaccount.Key(
            f"{name}-key",
            service_account_id=account.name,
            keepers={"rotation": args["rotation"]},
            opts=pulumi.ResourceOptions(parent=account, additional_secret_outputs=["privateKey"]),
        )
        # Docker's convention for a base64-encoded service-account key as the password.
        self.username = "_json_key_base64"
        self.password = pulumi.Output.secret(key.private_key)
        self.register_outputs({"username": self.username})
