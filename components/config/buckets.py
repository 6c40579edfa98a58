"""Buckets: GCS and S3-compatible (R2, Wasabi, MinIO, AWS), and the vendors' bucket naming rules."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.config.base import GCP_REGIONS, GCS_MULTI_REGIONS, StrictModel


class CorsRule(StrictModel):
    origins: list[str] = Field(min_length=1)
    methods: list[Literal["GET", "HEAD", "PUT", "POST", "DELETE"]] = Field(
        default_factory=lambda: ["GET", "HEAD"]
    )
    response_headers: list[str] = Field(default_factory=lambda: ["Content-Type"])
    max_age_seconds: int = Field(default=3600, ge=0, le=86400)

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(
                    f"origin {origin!r} must be '*' or a scheme and host such as "
                    "https://app.example.com (no path)"
                )
        return value


class _BucketBase(StrictModel):
    name: str | None = None
    """Physical bucket name; defaults to <gcp project>-<stack>-<key>."""
    versioning: bool = False
    expire_days: int | None = Field(default=None, ge=1, le=36500)
    """Delete objects this many days after creation."""
    cors: list[CorsRule] = Field(default_factory=list)
    force_destroy: bool | None = None
    """Allow `pulumi destroy` to delete a non-empty bucket. Defaults to true outside prod."""
    stored_gb: float | None = Field(default=None, ge=0)
    """Expected GB stored, averaged over a month. Only the cost estimate reads it."""


class GcsBucket(_BucketBase):
    kind: Literal["gcs"]
    location: str = "US"
    storage_class: Literal["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"] = "STANDARD"
    public: bool = False
    """Grant allUsers read access and drop public access prevention. Only for public assets."""

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if value.upper() in GCS_MULTI_REGIONS:
            return value.upper()
        if value.lower() in GCP_REGIONS:
            return value.lower()
        raise ValueError(
            f"unknown bucket location {value!r}; use a multi-region (US, EU, ASIA) "
            "or a region such as us-central1"
        )


class S3Bucket(_BucketBase):
    """A bucket on any S3-compatible store: Cloudflare R2, Wasabi, MinIO or AWS."""

    kind: Literal["s3"]
    endpoint: str
    """The store's S3 endpoint, e.g. https://<account>.r2.cloudflarestorage.com."""
    region: str = "auto"
    credential: str = "default"
    """Which `credentials.s3.<name>` pair (or its environment fallback) to use."""
    public_url: str | None = None
    """Public or CDN base URL serving this bucket (R2 custom domain), passed to services."""
    external: bool = False
    """The bucket exists already and belongs to someone else (e.g. another system's production
    data): the stack reads it (references, volume seeds, mirrors' sources) but never creates,
    changes or deletes it. Requires `name:`."""

    @model_validator(mode="after")
    def _external(self) -> S3Bucket:
        if self.external:
            if self.name is None:
                raise ValueError("name: is required for an external bucket (the stack cannot derive it)")
            managed = [f for f in ("versioning", "expire_days", "cors", "force_destroy") if f in self.model_fields_set]
            if managed:
                raise ValueError(
                    f"external: the stack does not manage an external bucket; remove {', '.join(to_camel(f) for f in managed)}"
                )
        return self

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+/?$", value):
            raise ValueError(
                f"endpoint {value!r} must be a URL with a scheme and host, such as "
                "https://<account>.r2.cloudflarestorage.com"
            )
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[^\s]+$", value):
            raise ValueError(f"publicUrl {value!r} must be an https:// URL")
        return value


Bucket = Annotated[GcsBucket | S3Bucket, Field(discriminator="kind")]


def physical_bucket_name(project: str, stack: str, key: str, bucket: _BucketBase) -> str:
    return bucket.name or f"{project}-{stack}-{key}"


def bucket_name_problem(name: str, kind: str) -> str | None:
    """Why `name` is not a valid bucket name for this kind of store, or None if it is."""
    if not 3 <= len(name) <= 63:
        return f"bucket name {name!r} must be 3-63 characters long"
    allowed = r"[a-z0-9._-]" if kind == "gcs" else r"[a-z0-9.-]"
    if not re.fullmatch(f"{allowed}+", name):
        chars = "lowercase letters, digits, '-', '_' and '.'" if kind == "gcs" else (
            "lowercase letters, digits, '-' and '.'"
        )
        return f"bucket name {name!r} may only contain {chars}"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return f"bucket name {name!r} must start and end with a letter or digit"
    if ".." in name or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return f"bucket name {name!r} must not contain '..' or look like an IP address"
    if kind == "gcs" and (name.startswith("goog") or "google" in name):
        return f"bucket name {name!r} must not start with 'goog' or contain 'google'"
    return None
