"""Secret Manager secrets whose values never enter Pulumi state.

Each secret gets one `SecretVersion` written through the write-only `secret_data_wo` field, with
`secret_data_wo_version` as its trigger: the provider sends the value to Google and keeps neither
the value nor a hash of it in state. Bumping `version` in the stack config writes a new version
(rotation); consumers pin the version number the API assigned, so a rotation rolls out as a new
Cloud Run revision rather than silently under a running one.

Access is granted per consumer (see `grant_access`), never project-wide.
"""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_gcp as gcp


class ManagedSecretArgs(TypedDict):
    project: str
    secret_id: str
    """Physical secret id, unique in the project."""
    value: pulumi.Input[str]
    """The plaintext, as a Pulumi secret Output."""
    version: int
    """Trigger for a new version; bump to rotate."""
    protect: bool
    labels: dict[str, str]
    depends_on: list[pulumi.Resource]


class ManagedSecret(pulumi.ComponentResource):
    secret_id: pulumi.Output[str]
    version: pulumi.Output[str]
    """The Secret Manager version number assigned to the current value."""

    def __init__(self, name: str, args: ManagedSecretArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:Secret", name, None, opts)
        self.secret = gcp.secretmanager.Secret(
            f"{name}-secret",
            project=args["project"],
            secret_id=args["secret_id"],
            replication=gcp.secretmanager.SecretReplicationArgs(
                auto=gcp.secretmanager.SecretReplicationAutoArgs()
            ),
            labels=args["labels"],
            opts=pulumi.ResourceOptions(
                parent=self, protect=args["protect"], depends_on=args["depends_on"]
            ),
        )
        self.secret_version = gcp.secretmanager.SecretVersion(
            f"{name}-version",
            secret=self.secret.id,
            secret_data_wo=pulumi.Output.secret(args["value"]),
            secret_data_wo_version=args["version"],
            # Keep the old version enabled until Cloud Run has moved off it; Secret Manager
            # versions are cheap and destroying one that a live revision pins breaks that revision.
            deletion_policy="DISABLE",
            opts=pulumi.ResourceOptions(parent=self.secret),
        )
        self.secret_id = self.secret.secret_id
        self.version = self.secret_version.version
        self.register_outputs({"secretId": self.secret_id, "version": self.version})

    def grant_access(self, name: str, member: pulumi.Input[str], parent: pulumi.Resource) -> gcp.secretmanager.SecretIamMember:
        """Let one principal read this secret's versions. Parented to the consumer."""
        return gcp.secretmanager.SecretIamMember(
            name,
            project=self.secret.project,
            secret_id=self.secret.secret_id,
            role="roles/secretmanager.secretAccessor",
            member=member,
            opts=pulumi.ResourceOptions(parent=parent),
        )
