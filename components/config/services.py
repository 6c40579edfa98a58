"""Cloud Run services and what they attach: probes, FUSE volumes, Redis, Firestore."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.config.base import (
    FIRESTORE_MULTI_REGIONS,
    GCP_REGIONS,
    MEMORY,
    RESERVED_ENV,
    StrictModel,
    check_env_names,
    check_mount_paths,
)
from components.config.monitoring import Monitor
from components.limits import cloudrun


class Probe(StrictModel):
    path: str = "/healthz"
    initial_delay_seconds: int = Field(default=0, **cloudrun.PROBE_INITIAL_DELAY.field_args())
    period_seconds: int = Field(default=10, **cloudrun.PROBE_SECONDS.field_args())
    timeout_seconds: int = Field(default=3, **cloudrun.PROBE_SECONDS.field_args())
    failure_threshold: int = Field(default=3, **cloudrun.PROBE_FAILURE_THRESHOLD.field_args())

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
    port: int = Field(default=8080, **cloudrun.PORT.field_args())
    cpu: Literal["1", "2", "4", "8"] = "1"
    memory: str = "512Mi"
    min_instances: int = Field(default=0, **cloudrun.MIN_INSTANCES.field_args())
    max_instances: int = Field(default=10, **cloudrun.MAX_INSTANCES.field_args())
    concurrency: int = Field(default=80, **cloudrun.CONCURRENCY.field_args())
    timeout_seconds: int = Field(default=300, **cloudrun.REQUEST_TIMEOUT.field_args())
    """How long one request (a WebSocket connection too) may run: 1 to 3600 s, Cloud Run's maximum."""
    session_affinity: bool = False
    """Send a client's requests to the same instance while it lives (Cloud Run's cookie-based session
    affinity): what in-memory WebSocket state and progress fan-out need across reconnects."""
    public: bool = False
    """Let anyone invoke the service (allUsers run.invoker). Otherwise IAM-authenticated only."""
    ingress: Literal["all", "internal", "internalAndCloudLoadBalancing"] = "all"
    env: dict[str, str] = Field(default_factory=dict)
    secret_env: dict[str, str] = Field(default_factory=dict)
    """Environment variable -> name of a `modelstack:secrets` entry (mounted at a pinned version)."""
    probes: Probes = Field(default_factory=Probes)
    """Cloud Run's startup and liveness probes: they check the status code only."""
    monitor: Monitor | None = None
    """Uptime checks against the deployed URL that can match JSON fields, with an alert policy
    (see components/config/monitoring.py); public services only."""
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
        return check_mount_paths(value, "/cache")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not MEMORY.match(value):
            raise ValueError(f"memory {value!r} must be like 512Mi or 2Gi")
        mib = int(value[:-2]) * (1024 if value.endswith("Gi") else 1)
        if cloudrun.MEMORY_MIB.problem(mib):
            raise ValueError(f"memory {value!r} must be between 128Mi and 32Gi")
        return value

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        check_env_names(value)
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
    database: str | None = None
    """The database id; defaults to modelstack-<stack>. `(default)` for code that opens the project's
    default database (`firestore.Client(project=...)` with no database argument)."""

    @field_validator("database")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        import re

        if value is None or value == "(default)" or re.fullmatch(r"[a-z][a-z0-9-]{2,61}[a-z0-9]", value):
            return value
        raise ValueError(
            f"database {value!r} must be (default) or 4-63 lowercase letters, digits and hyphens, "
            "starting with a letter"
        )

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is None or value in FIRESTORE_MULTI_REGIONS or value in GCP_REGIONS:
            return value
        raise ValueError(
            f"unknown Firestore location {value!r}; use nam5, eur3 or a region such as us-central1"
        )
