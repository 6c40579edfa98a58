"""GCS buckets: uniform access, public access prevention, versioning, lifecycle expiry and CORS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from components.config import CorsRule


class GcsBucketArgs(TypedDict):
    project: str
    bucket_name: str
    """Physical, globally unique name."""
    location: str
    storage_class: str
    versioning: bool
    expire_days: int | None
    """Delete objects this many days after creation; None keeps them."""
    cors: Sequence[CorsRule]
    public: bool
    """Readable by allUsers. Public access prevention is enforced unless this is true."""
    force_destroy: bool
    protect: bool
    """Protect the bucket from `pulumi destroy` (production data)."""
    labels: dict[str, str]
    depends_on: Sequence[pulumi.Resource]


class GcsBucket(pulumi.ComponentResource):
    name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: GcsBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gcp:Bucket", name, None, opts)
        lifecycle = []
        if args["expire_days"] is not None:
            lifecycle.append(
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(age=args["expire_days"]),
                )
            )
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=args["bucket_name"],
            project=args["project"],
            location=args["location"],
            storage_class=args["storage_class"],
            uniform_bucket_level_access=True,
            public_access_prevention="inherited" if args["public"] else "enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=args["versioning"]),
            lifecycle_rules=lifecycle,
            cors=[_cors(rule) for rule in args["cors"]],
            force_destroy=args["force_destroy"],
            labels=args["labels"],
            opts=pulumi.ResourceOptions(
                parent=self, protect=args["protect"], depends_on=list(args["depends_on"])
            ),
        )
        if args["public"]:
            gcp.storage.BucketIAMMember(
                f"{name}-public-read",
                bucket=bucket.name,
                role="roles/storage.objectViewer",
                member="allUsers",
                opts=pulumi.ResourceOptions(parent=bucket),
            )
        self.bucket = bucket
        self.name = bucket.name
        self.url = bucket.url
        self.register_outputs({"name": self.name, "url": self.url})


def _cors(rule: CorsRule) -> gcp.storage.BucketCorArgs:
    return gcp.storage.BucketCorArgs(
        origins=list(rule.origins),
        methods=list(rule.methods),
        response_headers=list(rule.response_headers),
        max_age_seconds=rule.max_age_seconds,
    )
