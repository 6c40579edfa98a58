"""The typed stack config: everything a user writes in `Pulumi.<stack>.yaml`, validated up front.

`load_stack_config()` reads the Pulumi config of the running program, validates all of it before a
single resource is registered, and either returns a frozen `StackConfig` or raises `ConfigError`
holding one message per problem, each naming the key path and the fix:

    modelstack:models.flux.endpoint.workers.max: must be >= min (2); raise max or lower min

Rules the models enforce beyond types:
- unknown keys are errors (a typo must never silently fall back to a default);
- credentials and secret values must be Pulumi secrets (`pulumi config set --secret --path ...`)
  and are held as `SecretStr`, so no repr, log or error message can print them;
- cross references (a service's `secretEnv` naming a secret, a bucket naming an S3 credential, an
  endpoint provider whose credentials are missing) are checked once the whole config parsed.
"""

from __future__ import annotations

import json
import os
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components import references
from components.gpu.catalog import GpuChoiceError, gpus_named
from components.providers import credentials as creds
from inference.gateway import settings as gateway_settings

PROJECT = "modelstack"
NAMESPACE = f"{PROJECT}:"

# Top-level keys under the project namespace, in the order the README documents them.
TOP_LEVEL_KEYS = (
    "environment",
    "budget",
    "credentials",
    "buckets",
    "secrets",
    "firestore",
    "redis",
    "models",
    "services",
)
# Keys whose values carry secrets: they must arrive as Pulumi secrets.
SECRET_TOP_LEVEL_KEYS = ("credentials", "secrets")

# Cloud Run regions (https://cloud.google.com/run/docs/locations), which bound where a stack lives.
GCP_REGIONS = frozenset(
    ["africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2", "australia-southeast1", "australia-southeast2", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10", "europe-west12", "me-central1", "me-central2", "me-west1", "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1", "southamerica-east1", "southamerica-west1", "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4"]
)
GCS_MULTI_REGIONS = frozenset({"US", "EU", "ASIA"})
FIRESTORE_MULTI_REGIONS = frozenset({"nam5", "eur3"})

# Keys of buckets feed bucket names, so they are lowercase; other keys may be camelCase.
_BUCKET_KEY = re.compile(r"^[a-z](?:[a-z0-9-]{0,29}[a-z0-9])?$")
_LOGICAL_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9-]{0,29}[A-Za-z0-9])?$")
_GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MEMORY = re.compile(r"^[1-9][0-9]*(Mi|Gi)$")
_HF_SOURCE = re.compile(
    r"^(?:hf://)?(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9._/-]*))?$"
)
_BUCKET_SOURCE = re.compile(r"^s3://(?P<bucket>[a-z](?:[a-z0-9-]{0,29}[a-z0-9])?)/(?P<path>\S*)$")
_DIGEST_REF = re.compile(r"^[a-z0-9.-]+(?::[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")

# Reserved by Cloud Run; setting them is rejected by the API at deploy time, so catch it here.
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"})


def _check_logical_name(name: str, what: str) -> str:
    if what == "bucket":
        if not _BUCKET_KEY.match(name):
            raise ValueError(
                f"bucket key {name!r} must be 1-31 characters of lowercase letters, digits and "
                "hyphens, starting with a letter and not ending with a hyphen"
            )
    elif not _LOGICAL_NAME.match(name):
        raise ValueError(
            f"{what} name {name!r} must be 1-31 characters of letters, digits and hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    return name


class StrictModel(BaseModel):
    """Base for every config section: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        frozen=True,
        hide_input_in_errors=True,
    )


# --------------------------------------------------------------------------------------------
# budget, credentials, secrets
# --------------------------------------------------------------------------------------------


class Budget(StrictModel):
    monthly_usd: float = Field(gt=0)
    """Expected monthly spend the stack must stay under."""
    enforce: bool = True
    """When true, a plan or preview whose expected cost exceeds the budget fails."""


class S3Credential(StrictModel):
    access_key_id: SecretStr
    secret_access_key: SecretStr


class Credentials(StrictModel):
    """Vendor credentials. Only their presence is checked here; providers read them in configure()."""

    runpod_api_key: SecretStr | None = None
    modal_token_id: SecretStr | None = None
    modal_token_secret: SecretStr | None = None
    hf_token: SecretStr | None = None
    s3: dict[str, S3Credential] = Field(default_factory=dict)

    @field_validator("s3")
    @classmethod
    def _s3_names(cls, value: dict[str, S3Credential]) -> dict[str, S3Credential]:
        for name in value:
            if not creds.is_valid_s3_credential_name(name):
                raise ValueError(
                    f"S3 credential name {name!r} must be lowercase letters and digits, "
                    "starting with a letter"
                )
        return value


class SecretSpec(StrictModel):
    """A Secret Manager secret. The value is write-only: it never enters Pulumi state."""

    value: SecretStr
    """Set with: pulumi config set --secret --path secrets.<name>.value <value>"""
    version: int = Field(default=1, ge=1)
    """Bump when you rotate the value; a new Secret Manager version is written."""


# --------------------------------------------------------------------------------------------
# buckets
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# models and GPU endpoints
# --------------------------------------------------------------------------------------------

Task = Literal[
    "text-generation",
    "feature-extraction",
    "text-classification",
    "image-classification",
    "text-to-image",
    "custom",
]


class GpuSpec(StrictModel):
    """Which GPU a worker gets: exactly one of minVramGb, types or type."""

    min_vram_gb: float | Literal["auto"] | None = None
    """Cheapest GPUs with at least this much memory; `auto` sizes from the pinned model."""
    types: list[str] | None = None
    """Provider GPU ids or Runpod GPU type names, in priority order."""
    type: str | None = None
    count: int = Field(default=1, ge=1, le=8)

    @model_validator(mode="after")
    def _exactly_one(self) -> GpuSpec:
        given = [k for k in ("min_vram_gb", "types", "type") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "set exactly one of minVramGb (a number or 'auto'), types (a list) or type "
                f"(one GPU); got {', '.join(to_camel(k) for k in given) or 'none'}"
            )
        if isinstance(self.min_vram_gb, float) and self.min_vram_gb <= 0:
            raise ValueError("minVramGb must be a positive number of GB or 'auto'")
        if self.types is not None and not self.types:
            raise ValueError("types must list at least one GPU")
        return self

    def names(self) -> list[str]:
        if self.types is not None:
            return list(self.types)
        return [self.type] if self.type is not None else []


class Workers(StrictModel):
    min: int = Field(default=0, ge=0)
    """Always-on workers (billed 24/7)."""
    max: int = Field(default=1, ge=1, le=100)
    buffer: int = Field(default=0, ge=0)
    """Extra idle workers kept warm beyond current load (Modal buffer_containers)."""

    @model_validator(mode="after")
    def _max_at_least_min(self) -> Workers:
        if self.max < self.min:
            raise ValueError(f"max: must be >= min ({self.min}); raise max or lower min")
        return self


class Scaling(StrictModel):
    type: Literal["queueDelay", "requestCount"] = "queueDelay"
    value: float = Field(default=4, gt=0)
    """Seconds of queue delay, or in-flight requests per worker, before another worker starts."""


class ModalVolumeSettings(StrictModel):
    """A Modal volume an app mounts; the stack creates it and deletes it with the stack."""

    name: str | None = None
    """Modal volume name; defaults to <app name>-<mount path>."""
    seed_dir: str | None = None
    """A directory of this repository uploaded into the volume (only changed files are re-sent)."""
    seed_bucket: str | None = None
    """Key of a `kind: s3` bucket in modelstack:buckets whose objects seed the volume instead of
    seedDir (read with that bucket's credential). Objects changed in the bucket reach the volume on
    `pulumi up --refresh`: the refresh lists the bucket, the up copies only what changed."""
    seed_prefix: str | None = None
    """With seedBucket: the objects under this prefix (a folder) are seeded, relative names kept.
    Default: the whole bucket."""
    seed_path: str = "/"
    """Where in the volume the seed lands."""

    @field_validator("seed_prefix")
    @classmethod
    def _seed_prefix(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("/"):
            raise ValueError(f"object keys do not start with '/'; write {value.lstrip('/')!r}")
        return value

    @model_validator(mode="after")
    def _one_seed_source(self) -> ModalVolumeSettings:
        if self.seed_bucket is not None and self.seed_dir is not None:
            raise ValueError(
                "seedBucket: cannot be combined with seedDir; seed the volume from a bucket or from a "
                "directory of this repository, not both"
            )
        if self.seed_prefix is not None and self.seed_bucket is None:
            raise ValueError("seedPrefix: only applies with seedBucket; add seedBucket or remove seedPrefix")
        return self


class ModalSettings(StrictModel):
    """How a `provider: modal` endpoint is deployed. Every field has a safe default."""

    environment: str = "main"
    """The Modal environment, always explicit: deploying to the wrong one is the classic mistake."""
    app_name: str | None = None
    """The Modal app name; defaults to modelstack-<stack>-<model>. Set it when other code looks the
    app up by name (`modal.Function.from_name`)."""
    app_file: str = "inference/modal_app.py"
    """The Modal app to deploy: ours, or your own file in this repository."""
    include: list[str] = Field(default_factory=list)
    """More paths the deploy depends on (they join the source hash, so editing them redeploys)."""
    web_endpoints: list[str] = Field(default_factory=lambda: ["Model.web"])
    """`Class.method` or function names whose web URLs the endpoint exports; the first is its url."""
    volumes: dict[str, ModalVolumeSettings] = Field(
        default_factory=lambda: {"/cache": ModalVolumeSettings()}
    )
    """Mount path -> volume. The default caches Hugging Face downloads across containers."""
    secrets: list[str] = Field(default_factory=list)
    """Modal secrets that already exist in the workspace, attached by name (not managed here)."""
    warm_schedule: str | None = None
    """Cron (UTC) on which a container is kept warm, e.g. '*/15 8-18 * * 1-5'."""
    proxy_auth: bool = True
    """The web endpoints require Modal proxy auth: callers send a workspace proxy auth token (Modal
    dashboard, or `modal workspace proxy-tokens create`) as Modal-Key/Modal-Secret headers; a service
    that routes to the model must map it (MODAL_PROXY_TOKEN_ID/_SECRET in secretEnv). false makes
    them public: anyone who learns the URL can start GPU containers."""

    @field_validator("app_name")
    @classmethod
    def _app_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,47}", value):
            raise ValueError(
                f"appName {value!r} must be up to 48 lowercase letters, digits and hyphens (it is part of web URLs)"
            )
        return value

    @field_validator("volumes")
    @classmethod
    def _mount_paths(cls, value: dict[str, ModalVolumeSettings]) -> dict[str, ModalVolumeSettings]:
        for path in value:
            if not path.startswith("/") or path == "/":
                raise ValueError(f"volume mount path {path!r} must be an absolute path such as /data")
        return value

    @field_validator("warm_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) != 5:
            raise ValueError(f"warmSchedule {value!r} must be a 5-field cron expression, e.g. '*/15 8-18 * * 1-5'")
        return value


class RunpodSettings(StrictModel):
    """Runpod-only settings of a `provider: runpod` endpoint."""

    container_disk_gb: int = Field(default=50, ge=5, le=2000)
    """Scratch disk per worker: room for the model snapshot the worker downloads on a cold start."""


class Endpoint(StrictModel):
    provider: Literal["runpod", "modal"]
    gpu: GpuSpec
    workers: Workers = Field(default_factory=Workers)
    idle_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    """How long an idle worker stays up before scaling down (Modal scaledown_window)."""
    execution_timeout_seconds: int = Field(default=600, ge=1, le=86400)
    scaling: Scaling = Field(default_factory=Scaling)
    flashboot: bool = True
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)
    """Environment variable -> name of a `modelstack:secrets` entry, or a credential the worker needs
    at run time: `credentials.hfToken` (gated models) or `credentials.s3.<name>.accessKeyId` /
    `.secretAccessKey`. Values reach the worker only as provider secrets."""
    image: str = "images/worker"
    """Image build directory, or an image reference pinned by digest."""
    data_centers: list[str] = Field(default_factory=list)
    modal: ModalSettings | None = None
    """Modal deploy settings (provider modal only)."""
    runpod: RunpodSettings | None = None
    """Runpod settings (provider runpod only)."""

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_env_names(value)

    @model_validator(mode="after")
    def _provider_settings(self) -> Endpoint:
        for other in ("modal", "runpod"):
            if other != self.provider and getattr(self, other) is not None:
                raise ValueError(f"{other}: only applies to provider {other}; remove it or change provider")
        return self

    @model_validator(mode="after")
    def _gpu_names_known(self) -> Endpoint:
        names = self.gpu.names()
        if names:
            try:
                gpus_named(self.provider, names)
            except GpuChoiceError as exc:
                raise ValueError(f"gpu: {exc}") from None
        return self


class Usage(StrictModel):
    """Expected traffic of one model's endpoint. Only the cost estimate reads it, never scaling.

    Say it one of three ways (exactly one):
    - `requestsPerDay` with `secondsPerRequest`: GPU-seconds of work per request (an API);
    - `activeHoursPerDay`: hours a day someone keeps the endpoint busy (an interactive app);
    - `unitsPerMonth` with `secondsPerUnit`: batch work counted in units, e.g. videos.
    `burstsPerDay` says how many separate bursts of work a day brings; each one ends with an idle
    tail of `idleTimeoutSeconds` that is billed too. See components/cost/model.py for the defaults.
    """

    requests_per_day: float | None = Field(default=None, ge=0)
    seconds_per_request: float | None = Field(default=None, gt=0)
    active_hours_per_day: float | None = Field(default=None, ge=0, le=24)
    units_per_month: float | None = Field(default=None, ge=0)
    seconds_per_unit: float | None = Field(default=None, gt=0)
    bursts_per_day: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_way(self) -> Usage:
        pairs = (
            ("requests_per_day", "seconds_per_request"),
            ("units_per_month", "seconds_per_unit"),
        )
        for first, second in pairs:
            if (getattr(self, first) is None) != (getattr(self, second) is None):
                given, missing = (first, second) if getattr(self, first) is not None else (second, first)
                raise ValueError(f"{to_camel(missing)}: is required with {to_camel(given)}; add it")
        ways = [
            name
            for name, present in (
                ("requestsPerDay", self.requests_per_day is not None),
                ("activeHoursPerDay", self.active_hours_per_day is not None),
                ("unitsPerMonth", self.units_per_month is not None),
            )
            if present
        ]
        if len(ways) != 1:
            raise ValueError(
                "set exactly one of requestsPerDay (with secondsPerRequest), activeHoursPerDay, "
                f"or unitsPerMonth (with secondsPerUnit); got {', '.join(ways) or 'none'}"
            )
        return self


class Mirror(StrictModel):
    """Copy the pinned snapshot into an S3-compatible bucket; workers then load from there."""

    bucket: str
    """Key of a `kind: s3` bucket in modelstack:buckets."""
    include: list[str] = Field(default_factory=list)
    """Glob patterns of files to copy (all files when empty)."""


class Model(StrictModel):
    source: str
    """hf://org/name[@revision] (or org/name); the revision is pinned to a commit sha at deploy."""
    task: Task | None = None
    """What the worker does with it; defaults to the model's pipeline tag on the Hub."""
    endpoint: Endpoint | None = None
    usage: Usage | None = None
    """Expected traffic, for the cost estimate and the budget gate (see `Usage`)."""
    mirror: Mirror | None = None
    """Mirror the pinned weights into one of the stack's S3-compatible buckets."""

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        if not (_HF_SOURCE.match(value) or _BUCKET_SOURCE.match(value)):
            raise ValueError(
                f"source {value!r} must look like hf://org/name or hf://org/name@revision "
                "(or s3://<bucket key>/<path> for a private checkpoint in one of the stack's buckets)"
            )
        return value

    @model_validator(mode="after")
    def _bucket_source_limits(self) -> Model:
        if self.on_hub:
            return self
        if self.mirror is not None:
            raise ValueError("mirror: copies Hub snapshots; a checkpoint already in a bucket needs none")
        if self.endpoint is not None and self.endpoint.gpu.min_vram_gb == "auto":
            raise ValueError(
                "endpoint.gpu.minVramGb: auto sizes from the Hub's metadata; give a number for a bucket checkpoint"
            )
        return self

    @property
    def on_hub(self) -> bool:
        return _HF_SOURCE.match(self.source) is not None

    @property
    def bucket_source(self) -> tuple[str, str] | None:
        """(bucket key, path) of an s3://<bucket key>/<path> source, else None."""
        match = _BUCKET_SOURCE.match(self.source)
        return (match["bucket"], match["path"]) if match else None

    @model_validator(mode="after")
    def _usage_needs_endpoint(self) -> Model:
        if self.usage is not None and self.endpoint is None:
            raise ValueError("usage: prices an endpoint, and this model has none; add endpoint: or remove usage:")
        return self

    @property
    def repo_id(self) -> str:
        """The Hub repo id, or the s3:// source itself for a bucket checkpoint."""
        match = _HF_SOURCE.match(self.source)
        return match["repo"] if match else self.source

    @property
    def revision(self) -> str:
        """The revision asked for on the Hub (default main); empty for a bucket checkpoint, whose
        content is identified by the objects' ETags where it is copied (a volume seed)."""
        match = _HF_SOURCE.match(self.source)
        return (match["revision"] or "main") if match else ""


# --------------------------------------------------------------------------------------------
# Cloud Run services, Firestore
# --------------------------------------------------------------------------------------------


class Probe(StrictModel):
    path: str = "/healthz"
    initial_delay_seconds: int = Field(default=0, ge=0, le=240)
    period_seconds: int = Field(default=10, ge=1, le=240)
    timeout_seconds: int = Field(default=3, ge=1, le=240)
    failure_threshold: int = Field(default=3, ge=1, le=100)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"probe path {value!r} must start with '/'")
        return value


class Probes(StrictModel):
    startup: Probe = Field(default_factory=lambda: Probe(periodSeconds=5, failureThreshold=24))
    liveness: Probe = Field(default_factory=Probe)


class ServiceVolume(StrictModel):
    bucket: str
    """Key of a kind: gcs bucket of this stack."""
    read_only: bool = False


class Redis(StrictModel):
    """A Memorystore for Redis instance on a private network that services with `redis: true` reach."""

    memory_size_gb: int = Field(default=1, ge=1, le=300)
    tier: Literal["basic", "standard"] = "basic"
    """standard adds a replica and failover (about twice the price)."""
    version: str = "REDIS_7_2"
    subnet_cidr: str = "10.8.0.0/26"
    """The stack's subnet for Cloud Run's direct VPC egress; change it if it overlaps your VPC."""

    @field_validator("subnet_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        import ipaddress

        try:
            network = ipaddress.ip_network(value)
        except ValueError:
            raise ValueError(f"subnetCidr {value!r} is not a CIDR range such as 10.8.0.0/26") from None
        if not network.is_private or network.prefixlen > 26:
            raise ValueError(f"subnetCidr {value!r} must be a private range of at least /26 (Cloud Run needs the room)")
        return value


class Service(StrictModel):
    image: str
    """Build directory with a Dockerfile (images/gateway), or an image reference pinned by digest."""
    port: int = Field(default=8080, ge=1, le=65535)
    cpu: Literal["1", "2", "4", "8"] = "1"
    memory: str = "512Mi"
    min_instances: int = Field(default=0, ge=0, le=1000)
    max_instances: int = Field(default=10, ge=1, le=1000)
    concurrency: int = Field(default=80, ge=1, le=1000)
    timeout_seconds: int = Field(default=300, ge=1, le=3600)
    public: bool = False
    """Let anyone invoke the service (allUsers run.invoker). Otherwise IAM-authenticated only."""
    ingress: Literal["all", "internal", "internalAndCloudLoadBalancing"] = "all"
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)
    """Environment variable -> name of a `modelstack:secrets` entry (mounted at a pinned version)."""
    probes: Probes = Field(default_factory=Probes)
    firestore: bool = False
    """Grant the service read/write access to the stack's Firestore database."""
    buckets: dict[str, Literal["read", "readwrite"]] = Field(default_factory=dict)
    """GCS buckets (by key) this service may use, and how."""
    models: list[str] | Literal["all"] = Field(default_factory=list)
    """Models whose GPU endpoints this service routes to (env MODELSTACK_MODELS); `all` for every one."""
    callback_secret: str | None = None
    """A `modelstack:secrets` entry shared with the workers of `models`: they POST a signed readiness
    callback to this service (env WORKER_CALLBACK_KEY here, MODELSTACK_CALLBACK_SECRET there)."""
    always_on_cpu: bool = False
    """Keep CPU allocated between requests (background work such as polling async jobs)."""
    volumes: dict[str, ServiceVolume] = Field(default_factory=dict)
    """Mount path -> GCS bucket mounted with Cloud Storage FUSE (e.g. a model cache that outlives instances)."""
    redis: bool = False
    """Reach the stack's Memorystore Redis (modelstack:redis) over the VPC: env REDIS_HOST, REDIS_PORT,
    and REDIS_URL (with the AUTH string) from Secret Manager."""

    @field_validator("volumes")
    @classmethod
    def _volume_paths(cls, value: dict[str, ServiceVolume]) -> dict[str, ServiceVolume]:
        for path in value:
            if not path.startswith("/") or path == "/":
                raise ValueError(f"volume mount path {path!r} must be an absolute path such as /cache")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError(f"memory {value!r} must be like 512Mi or 2Gi")
        mib = int(value[:-2]) * (1024 if value.endswith("Gi") else 1)
        if not 128 <= mib <= 32 * 1024:
            raise ValueError(f"memory {value!r} must be between 128Mi and 32Gi")
        return value

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        _check_env_names(value)
        reserved = sorted(RESERVED_ENV & set(value))
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)} is set by Cloud Run itself; remove it (use `port:` for PORT)"
            )
        return value

    @model_validator(mode="after")
    def _instances(self) -> Service:
        if self.max_instances < self.min_instances:
            raise ValueError(
                f"maxInstances: must be >= minInstances ({self.min_instances}); "
                "raise maxInstances or lower minInstances"
            )
        return self


class Firestore(StrictModel):
    location: str | None = None
    """nam5, eur3 or a region; defaults to the stack's gcp:region."""

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is None or value in FIRESTORE_MULTI_REGIONS or value in GCP_REGIONS:
            return value
        raise ValueError(
            f"unknown Firestore location {value!r}; use nam5, eur3 or a region such as us-central1"
        )


def _check_env_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _ENV_NAME.match(name):
            raise ValueError(
                f"environment variable name {name!r} must be letters, digits and '_', "
                "not starting with a digit"
            )
    return value


# --------------------------------------------------------------------------------------------
# the whole stack
# --------------------------------------------------------------------------------------------

Environment = Literal["dev", "staging", "prod"]


class ModelstackConfig(StrictModel):
    """Everything under the `modelstack:` namespace."""

    environment: Environment = "dev"
    budget: Budget | None = None
    credentials: Credentials = Field(default_factory=Credentials)
    buckets: dict[str, Bucket] = Field(default_factory=dict)
    secrets: dict[str, SecretSpec] = Field(default_factory=dict)
    firestore: Firestore | None = None
    redis: Redis | None = None
    models: dict[str, Model] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)

    @field_validator("buckets", "secrets", "models", "services")
    @classmethod
    def _keys(cls, value: dict[str, Any], info: Any) -> dict[str, Any]:
        what = info.field_name.rstrip("s")
        seen: dict[str, str] = {}
        for key in value:
            _check_logical_name(key, what)
            if key.lower() in seen:
                raise ValueError(
                    f"{what} names {seen[key.lower()]!r} and {key!r} differ only in case and would "
                    "get the same cloud resource names; rename one"
                )
            seen[key.lower()] = key
        return value


@dataclass(frozen=True)
class StackConfig:
    """The validated config plus the facts about where it runs."""

    project: str
    region: str
    stack: str
    modelstack: ModelstackConfig
    root: Path

    @property
    def environment(self) -> Environment:
        return self.modelstack.environment

    @property
    def protected(self) -> bool:
        """Production resources are protected and never force-destroyed."""
        return self.environment == "prod"


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


class ConfigError(Exception):
    """The stack config is invalid. `problems` holds one 'key.path: message' line each."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"invalid stack config ({len(self.problems)} problem"
            f"{'s' if len(self.problems) != 1 else ''}):\n{lines}"
        )


def _format_loc(top_key: str, loc: tuple[Any, ...]) -> str:
    """`loc` is pydantic's full location, starting with the top-level key."""
    path = top_key
    for index, part in enumerate(loc[1:], start=1):
        if index == 2 and loc[0] == "buckets" and part in ("gcs", "s3"):
            continue  # the discriminated-union tag pydantic inserts; not a user key
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config model class that owns the last key of `loc`, for 'allowed keys' hints."""
    current: Any = ModelstackConfig
    for part in loc[:-1]:
        current = _unwrap(current, part)
        if current is None:
            return None
    current = _unwrap_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap_optional(tp: Any) -> Any:
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _unwrap_optional(args[0])
    return tp


def _unwrap(tp: Any, part: Any) -> Any:
    tp = _unwrap_optional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if part in (name, field.alias):
                return field.annotation
        return None
    origin = get_origin(tp)
    if origin in (dict, Mapping):
        return get_args(tp)[1]
    if origin is list:
        return get_args(tp)[0]
    if origin in (Union, types.UnionType):  # a discriminated union: pick the member by its tag
        for member in get_args(tp):
            kind = getattr(member, "model_fields", {}).get("kind")
            if kind is not None and part in get_args(kind.annotation):
                return member
    return None


def _message(error: Mapping[str, Any], loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        owner = _model_at(loc)
        allowed = ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else ""
        return "unknown key; remove it or fix its spelling" + (
            f" (allowed: {allowed})" if allowed else ""
        )
    if kind == "missing":
        if len(loc) == 3 and loc[0] == "secrets" and loc[2] == "value":
            return (
                "is required; set it with: pulumi config set --secret --path "
                f"secrets.{loc[1]}.value <value>"
            )
        return "is required; add it"
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return "kind: must be 'gcs' or 's3'"
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}"
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    # pydantic's own sentences start with a capital ("Input should be..."); ours continue a path.
    return msg[0].lower() + msg[1:] if msg[:2].istitle() else msg


def _problems_from(exc: ValidationError, namespace_key: str) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        top = f"{namespace_key}{loc[0]}" if loc else namespace_key.rstrip(":")
        message = _message(error, loc)
        # Validators that report on a sub-key ("max: must be ...") name it themselves.
        path = _format_loc(top, loc)
        if ": " in message and message.split(": ", 1)[0].replace(".", "").isalnum():
            sub, message = message.split(": ", 1)
            path = f"{path}.{sub}"
        problems.append(f"{path}: {message}")
    return problems


# --------------------------------------------------------------------------------------------
# reading and validating
# --------------------------------------------------------------------------------------------


def _decode(value: Any) -> Any:
    """Config values reach programs as strings; structured ones are JSON."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _collect_secret_leaks(
    raw: Mapping[str, Any], secret_keys: set[str]
) -> list[str]:
    """Secret-bearing keys that hold values but were not set with --secret."""
    problems = []
    for key in SECRET_TOP_LEVEL_KEYS:
        full = f"{NAMESPACE}{key}"
        value = raw.get(key)
        if value and full not in secret_keys:
            for leaf in _leaf_paths(value, key, secrets_only=True):
                problems.append(
                    f"{NAMESPACE}{leaf}: is stored in plaintext; "
                    f"set it with: pulumi config set --secret --path {leaf} <value>"
                )
    return problems


def _leaf_paths(value: Any, prefix: str, secrets_only: bool) -> list[str]:
    if isinstance(value, Mapping):
        out: list[str] = []
        for k, v in value.items():
            if secrets_only and k == "version":
                continue  # a secret's version number is not itself secret
            out.extend(_leaf_paths(v, f"{prefix}.{k}", secrets_only))
        return out
    return [prefix]


PROXY_TOKEN_ENV = (gateway_settings.MODAL_PROXY_TOKEN_ID, gateway_settings.MODAL_PROXY_TOKEN_SECRET)
"""The variables the gateway reads the Modal proxy auth token from (inference/gateway/settings.py)."""


def requires_proxy_auth(model: Model) -> bool:
    """Whether the model's Modal web endpoint turns away requests without the workspace proxy token."""
    endpoint = model.endpoint
    if endpoint is None or endpoint.provider != "modal":
        return False
    modal = endpoint.modal or ModalSettings()
    return modal.proxy_auth and bool(modal.web_endpoints)


def _proxy_token_problems(cfg: ModelstackConfig, key: str, service: Service, routed: list[str]) -> list[str]:
    """A service routing to a proxy-authenticated Modal endpoint must hold the token, or every call is refused."""
    guarded = [m for m in routed if requires_proxy_auth(cfg.models[m])]
    missing = [var for var in PROXY_TOKEN_ENV if var not in service.secret_env]
    if not guarded or not missing:
        return []
    models = ", ".join(guarded)
    public = " and ".join(f"models.{m}.endpoint.modal.proxyAuth: false" for m in guarded)
    return [
        f"{NAMESPACE}services.{key}.secretEnv: routes to Modal model(s) {models}, whose web endpoint requires "
        f"Modal proxy auth, but does not map {' and '.join(missing)}; create a proxy auth token (Modal dashboard, "
        "or modal workspace proxy-tokens create), declare two modelstack:secrets (e.g. modalProxyTokenId: "
        "{version: 1} and modalProxyTokenSecret: {version: 1}), set them with pulumi config set --secret --path "
        "secrets.modalProxyTokenId.value <wk-...> and pulumi config set --secret --path "
        f"secrets.modalProxyTokenSecret.value <ws-...>, and map them here as {PROXY_TOKEN_ENV[0]} and "
        f"{PROXY_TOKEN_ENV[1]} (or, to make the endpoint public, set {public})"
    ]


def _cross_reference_problems(
    cfg: ModelstackConfig, project: str, stack: str, environ: Mapping[str, str], root: Path
) -> list[str]:
    problems: list[str] = []
    ns = NAMESPACE
    plain_creds = plain_credentials(cfg)

    def need(spec: creds.CredentialSpec, used_by: str) -> None:
        if creds.resolve(spec, plain_creds, environ) is None:
            problems.append(
                f"{ns}credentials.{spec.config_field}: is required because {used_by}; "
                f"set it with: {spec.set_command} (or export {spec.env_var})"
            )

    providers = {m.endpoint.provider for m in cfg.models.values() if m.endpoint}
    if "runpod" in providers:
        users = [k for k, m in cfg.models.items() if m.endpoint and m.endpoint.provider == "runpod"]
        need(creds.RUNPOD_API_KEY, f"models {', '.join(users)} deploy to Runpod")
    if "modal" in providers:
        users = [k for k, m in cfg.models.items() if m.endpoint and m.endpoint.provider == "modal"]
        need(creds.MODAL_TOKEN_ID, f"models {', '.join(users)} deploy to Modal")
        need(creds.MODAL_TOKEN_SECRET, f"models {', '.join(users)} deploy to Modal")

    for key, bucket in cfg.buckets.items():
        name = physical_bucket_name(project, stack, key, bucket)
        # A derived name is only meaningful once the project id is valid (reported above).
        problem = bucket_name_problem(name, bucket.kind) if (project or bucket.name) else None
        if problem:
            hint = "" if bucket.name else " (derived from <project>-<stack>-<key>; set name: to override)"
            problems.append(f"{ns}buckets.{key}.name: {problem}{hint}")
        if isinstance(bucket, S3Bucket) and creds.resolve_s3(bucket.credential, plain_creds, environ) is None:
            env = creds.s3_env_vars(bucket.credential)
            problems.append(
                f"{ns}buckets.{key}.credential: S3 credential {bucket.credential!r} is not set; "
                f"set credentials.s3.{bucket.credential}.accessKeyId and .secretAccessKey with "
                f"pulumi config set --secret --path (or export {env['accessKeyId']} and "
                f"{env['secretAccessKey']})"
            )
        if isinstance(bucket, S3Bucket) and bucket.external:
            continue  # not managed by the stack: no name rules of ours, no force-destroy question
        if bucket.force_destroy and cfg.environment == "prod":
            problems.append(
                f"{ns}buckets.{key}.forceDestroy: is not allowed in prod, where data buckets "
                "are protected; remove it"
            )

    def check_secret_refs(owner: str, secret_env: Mapping[str, str], credentials_ok: bool = False) -> None:
        for var, secret in secret_env.items():
            if credentials_ok and secret.startswith("credentials."):
                if credential_value(plain_creds, secret, environ) is None:
                    problems.append(
                        f"{ns}{owner}.secretEnv.{var}: {secret} is not set; set it with pulumi config set "
                        f"--secret --path {secret} <value> (or its environment fallback)"
                    )
                continue
            if secret not in cfg.secrets:
                known = ", ".join(sorted(cfg.secrets)) or "none are defined"
                problems.append(
                    f"{ns}{owner}.secretEnv.{var}: names secret {secret!r}, which is not in "
                    f"modelstack:secrets ({known}); add it or fix the name"
                )

    endpoint_models = {k for k, m in cfg.models.items() if m.endpoint is not None}
    routed_by: dict[str, str] = {}
    for key, service in cfg.services.items():
        check_secret_refs(f"services.{key}", service.secret_env)
        problems.extend(references.problems_in(service.env, cfg, "service", f"{ns}services.{key}.env"))
        for mount, volume in service.volumes.items():
            if not isinstance(cfg.buckets.get(volume.bucket), GcsBucket):
                problems.append(
                    f"{ns}services.{key}.volumes.{mount}.bucket: {volume.bucket!r} is not a kind: gcs bucket "
                    "of this stack; Cloud Run mounts GCS buckets only"
                )
        if service.redis and cfg.redis is None:
            problems.append(f"{ns}services.{key}.redis: the stack has no modelstack:redis; add it (e.g. {{memorySizeGb: 1}})")
        if service.callback_secret is not None:
            check_secret_refs(f"services.{key}", {"callbackSecret": service.callback_secret})
            if not service.models:
                problems.append(
                    f"{ns}services.{key}.callbackSecret: only applies with models: (the workers that call back)"
                )
        routed = sorted(endpoint_models) if service.models == "all" else list(service.models)
        problems.extend(_proxy_token_problems(cfg, key, service, [k for k in routed if k in endpoint_models]))
        for model_key in routed:
            if model_key not in endpoint_models:
                problems.append(
                    f"{ns}services.{key}.models: {model_key!r} is not a model with an endpoint "
                    f"(models with endpoints: {', '.join(sorted(endpoint_models)) or 'none'})"
                )
            elif service.callback_secret is not None:
                if model_key in routed_by:
                    problems.append(
                        f"{ns}services.{key}.models: workers of {model_key!r} already call back to "
                        f"service {routed_by[model_key]!r}; only one service may set callbackSecret for a model"
                    )
                routed_by[model_key] = key
        for bucket_key in service.buckets:
            bucket = cfg.buckets.get(bucket_key)
            if bucket is None:
                problems.append(
                    f"{ns}services.{key}.buckets.{bucket_key}: no such bucket in modelstack:buckets"
                )
            elif not isinstance(bucket, GcsBucket):
                problems.append(
                    f"{ns}services.{key}.buckets.{bucket_key}: only GCS buckets can be granted by "
                    "IAM; pass an S3 bucket's credentials through secretEnv instead"
                )
        problems.extend(_image_problems(f"{ns}services.{key}.image", service.image, root))
    for key, model in cfg.models.items():
        if model.endpoint:
            check_secret_refs(f"models.{key}.endpoint", model.endpoint.secret_env, credentials_ok=True)
            problems.extend(
                references.problems_in(model.endpoint.env, cfg, "endpoint", f"{ns}models.{key}.endpoint.env")
            )
            if model.endpoint.provider == "runpod":
                problems.extend(_image_problems(f"{ns}models.{key}.endpoint.image", model.endpoint.image, root))
            modal = model.endpoint.modal
            if modal is not None:
                for path in (modal.app_file, *modal.include):
                    if not (root / path).exists():
                        problems.append(
                            f"{ns}models.{key}.endpoint.modal: {path} does not exist in this repository; "
                            "fix the path (relative to Pulumi.yaml)"
                        )
                for mount, volume in modal.volumes.items():
                    if volume.seed_dir is not None and not (root / volume.seed_dir).is_dir():
                        problems.append(
                            f"{ns}models.{key}.endpoint.modal.volumes.{mount}.seedDir: {volume.seed_dir} "
                            "is not a directory in this repository"
                        )
                    if volume.seed_bucket is not None and not isinstance(cfg.buckets.get(volume.seed_bucket), S3Bucket):
                        s3_keys = ", ".join(k for k, b in cfg.buckets.items() if isinstance(b, S3Bucket)) or "none"
                        problems.append(
                            f"{ns}models.{key}.endpoint.modal.volumes.{mount}.seedBucket: {volume.seed_bucket!r} "
                            f"is not a kind: s3 bucket of this stack (s3 buckets: {s3_keys}); declare it under "
                            "modelstack:buckets"
                        )
        if model.bucket_source is not None:
            source_key = model.bucket_source[0]
            if not isinstance(cfg.buckets.get(source_key), S3Bucket):
                problems.append(
                    f"{ns}models.{key}.source: s3://{source_key}/... names no kind: s3 bucket of this "
                    "stack; declare it under modelstack:buckets (external: true if another system owns it)"
                )
        if model.mirror is not None:
            target = cfg.buckets.get(model.mirror.bucket)
            if isinstance(target, S3Bucket) and target.external:
                problems.append(
                    f"{ns}models.{key}.mirror.bucket: {model.mirror.bucket!r} is external; mirrors write, "
                    "so they need a bucket this stack manages"
                )
            elif not isinstance(target, S3Bucket):
                s3_keys = ", ".join(k for k, b in cfg.buckets.items() if isinstance(b, S3Bucket)) or "none"
                problems.append(
                    f"{ns}models.{key}.mirror.bucket: {model.mirror.bucket!r} is not a kind: s3 bucket "
                    f"of this stack (s3 buckets: {s3_keys}); declare it under modelstack:buckets"
                )
    return problems


def uses_gcp(cfg: ModelstackConfig) -> bool:
    """Whether the stack creates anything on Google Cloud (a Modal-only stack does not, and then
    needs no gcp:project or gcp:region)."""
    builds_worker = any(
        m.endpoint is not None and m.endpoint.provider == "runpod" and "@sha256:" not in m.endpoint.image
        for m in cfg.models.values()
    )
    return bool(
        cfg.services
        or cfg.redis is not None
        or any(b.kind == "gcs" for b in cfg.buckets.values())
        or builds_worker
    )


def credential_value(credentials: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> str | None:
    """A `credentials.<field>` or `credentials.s3.<name>.<field>` value, from config or environment."""
    parts = path.split(".")
    if len(parts) == 2:
        spec = next((c for c in creds.SIMPLE_CREDENTIALS if c.config_field == parts[1]), None)
        return creds.resolve(spec, credentials, environ) if spec else None
    if len(parts) == 4 and parts[1] == "s3" and parts[3] in creds.S3_FIELDS:
        pair = creds.resolve_s3(parts[2], credentials, environ)
        return pair[parts[3]] if pair else None
    return None


def plain_credentials(cfg: ModelstackConfig) -> dict[str, Any]:
    """The credentials section as plain values, for validation and the few runtime needs of workers."""
    section = cfg.credentials
    plain: dict[str, Any] = {
        field: value.get_secret_value()
        for field, value in (
            ("runpodApiKey", section.runpod_api_key),
            ("modalTokenId", section.modal_token_id),
            ("modalTokenSecret", section.modal_token_secret),
            ("hfToken", section.hf_token),
        )
        if value is not None
    }
    plain["s3"] = {
        name: {"accessKeyId": pair.access_key_id.get_secret_value(), "secretAccessKey": pair.secret_access_key.get_secret_value()}
        for name, pair in section.s3.items()
    }
    return plain


def _image_problems(path: str, image: str, root: Path) -> list[str]:
    if "@sha256:" in image:
        if not _DIGEST_REF.match(image):
            return [f"{path}: {image!r} is not a valid image reference pinned by digest"]
        return []
    if re.match(r"^[a-z0-9.-]+\.[a-z]+(:\d+)?/", image) or ":" in image:
        return [
            f"{path}: image {image!r} is referenced by a mutable tag; pin it by digest "
            "(registry/name@sha256:...) or give a build directory such as images/gateway"
        ]
    if not (root / image / "Dockerfile").is_file():
        return [
            f"{path}: no Dockerfile at {image}/Dockerfile; create it or reference an image "
            "pinned by digest (registry/name@sha256:...)"
        ]
    return []


def validate(
    raw: Mapping[str, Any],
    *,
    project: str | None,
    region: str | None,
    stack: str,
    secret_keys: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> StackConfig:
    """Validate a stack's config. `raw` maps keys under `modelstack:` (without the prefix) to values.

    Raises ConfigError listing every problem found, not just the first.
    """
    environ = os.environ if environ is None else environ
    root = root or Path.cwd()
    secret_keys = set(secret_keys)
    problems: list[str] = []

    known = {k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS}
    parsed: ModelstackConfig | None = None
    parse_problems: list[str] = []
    try:
        parsed = ModelstackConfig.model_validate(known)
    except ValidationError as exc:
        parse_problems = _problems_from(exc, NAMESPACE)
    # A stack with nothing on Google Cloud (Modal only) needs no project; when the config does not
    # parse, assume it does so the GCP settings are still checked.
    gcp_needed = parsed is None or uses_gcp(parsed)
    if not project:
        if gcp_needed:
            problems.append("gcp:project: is required; set it with: pulumi config set gcp:project <id>")
    elif not _GCP_PROJECT_ID.match(project):
        problems.append(
            f"gcp:project: {project!r} is not a GCP project id (6-30 lowercase letters, digits "
            "and hyphens, starting with a letter)"
        )
    if not region:
        if gcp_needed:
            problems.append("gcp:region: is required; set it with: pulumi config set gcp:region us-central1")
    elif region not in GCP_REGIONS:
        problems.append(
            f"gcp:region: unknown region {region!r}; use a Cloud Run region such as us-central1 "
            "or europe-west1"
        )

    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    for key in unknown:
        problems.append(
            f"{NAMESPACE}{key}: unknown key; remove it or fix its spelling "
            f"(allowed: {', '.join(TOP_LEVEL_KEYS)})"
        )
    problems.extend(_collect_secret_leaks(known, secret_keys))
    problems.extend(parse_problems)

    if parsed is not None:
        valid_project = project if project and _GCP_PROJECT_ID.match(project) else ""
        problems.extend(_cross_reference_problems(parsed, valid_project, stack, environ, root))

    if problems:
        raise ConfigError(problems)
    assert parsed is not None
    return StackConfig(project=project or "", region=region or "", stack=stack, modelstack=parsed, root=root)


def read_pulumi_config() -> tuple[dict[str, Any], str | None, str | None, set[str]]:
    """The running program's config: modelstack keys (decoded), gcp project and region, secret keys."""
    from pulumi.runtime import config as runtime_config

    values: dict[str, Any] = dict(runtime_config.CONFIG.get())
    raw = {
        key[len(NAMESPACE) :]: _decode(value)
        for key, value in values.items()
        if key.startswith(NAMESPACE)
    }
    secret_keys = {k for k in values if runtime_config.is_config_secret(k)}
    project = runtime_config.get_config("gcp:project")
    region = runtime_config.get_config("gcp:region")
    return raw, project, region, secret_keys


def load_stack_config(root: Path | None = None) -> StackConfig:
    """Read and validate the running stack's config; call before registering any resource."""
    import pulumi

    raw, project, region, secret_keys = read_pulumi_config()
    return validate(
        raw,
        project=project,
        region=region,
        stack=pulumi.get_stack(),
        secret_keys=secret_keys,
        root=root,
    )


def validate_flat(
    values: Mapping[str, Any],
    *,
    stack: str,
    secret_keys: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> StackConfig:
    """Validate config given as the CLI hands it to a program: full keys to (JSON) string values.

    The offline plan uses this to price a stack file without running the program, including a
    stack file exported from another commit.
    """
    raw = {key[len(NAMESPACE) :]: _decode(value) for key, value in values.items() if key.startswith(NAMESPACE)}
    project = values.get("gcp:project")
    region = values.get("gcp:region")
    return validate(
        raw,
        project=str(project) if project is not None else None,
        region=str(region) if region is not None else None,
        stack=stack,
        secret_keys=secret_keys,
        environ=environ,
        root=root,
    )
