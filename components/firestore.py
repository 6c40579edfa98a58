"""The stack's Firestore database (native mode), for services that keep state such as async jobs."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_gcp as gcp


class FirestoreDatabaseArgs(TypedDict):
    project: str
    database_name: str
    """A named database per stack, so dev, prod and review stacks can share a project."""
    location: str
    protect: bool
    """Production: delete protection on, and `pulumi destroy` abandons rather than deletes it."""
    depends_on: list[pulumi.Resource]


class FirestoreDatabase(pulumi.ComponentResource):
    name: pulumi.Output[str]

    def __init__(self, name: str, args: FirestoreDatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:Firestore", name, None, opts)
        protect = args["protect"]
        database = gcp.firestore.Database(
            f"{name}-db",
            project=args["project"],
            name=args["database_name"],
            location_id=args["location"],
            type="FIRESTORE_NATIVE",
            concurrency_mode="OPTIMISTIC",
            point_in_time_recovery_enablement=(
                "POINT_IN_TIME_RECOVERY_ENABLED" if protect else "POINT_IN_TIME_RECOVERY_DISABLED"
            ),
            delete_protection_state="DELETE_PROTECTION_ENABLED" if protect else "DELETE_PROTECTION_DISABLED",
            deletion_policy="ABANDON" if protect else "DELETE",
            opts=pulumi.ResourceOptions(parent=self, protect=protect, depends_on=args["depends_on"]),
        )
        self.database = database
        self.name = database.name
        self.register_outputs({"name": self.name})
