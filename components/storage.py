"""GCS buckets: uniform access, public access prevention, versioning, lifecycle expiry and CORS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import pulumi
import pulumi_gcp as gcp

from components.config import CorsRule
from components.config import S3Bucket as S3BucketConfig
from components.providers.s3 import S3Bucket


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


class S3CompatibleBucketArgs(TypedDict):
    bucket_name: str
    spec: S3BucketConfig
    force_destroy: bool
    protect: bool


class S3CompatibleBucket(pulumi.ComponentResource):
    """A bucket on R2, Wasabi, MinIO or AWS S3, through the `S3Bucket` dynamic provider.

    The credential is named in the config and read by the provider at deploy time; the component
    only carries its name.
    """

    name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: S3CompatibleBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:s3:Bucket", name, None, opts)
        spec = args["spec"]
        self.spec = spec
        self.bucket = S3Bucket(
            f"{name}-bucket",
            {
                "bucket_name": args["bucket_name"],
                "endpoint": spec.endpoint,
                "region": spec.region,
                "credential": spec.credential,
                "versioning": spec.versioning,
                "expire_days": spec.expire_days,
                "cors": list(spec.cors),
                "force_destroy": args["force_destroy"],
            },
            opts=pulumi.ResourceOptions(parent=self, protect=args["protect"]),
        )
        self.name = self.bucket.bucket_name
        self.url = self.bucket.uri
        self.register_outputs({"name": self.name, "url": self.url})
