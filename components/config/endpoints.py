"""GPU endpoints: which GPU, how many workers, and the Modal- or Runpod-specific deploy settings."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.config.base import StrictModel, check_env_names, check_mount_paths
from components.config.cron import problem as cron_problem
from components.gpu.catalog import GpuChoiceError, gpus_named
from components.limits import Bound, max_gpu_count
from components.limits import modal as modal_limits
from components.limits import runpod as runpod_limits
from components.providers.modal.inputs import OBJECT_NAME as MODAL_OBJECT_NAME

DEFAULT_CACHE_MOUNT = "/cache"
"""Where our worker image (images/worker, inference/modal_app.py) expects its model volume."""


class GpuSpec(StrictModel):
    """Which GPU a worker gets: exactly one of minVramGb, types or type."""

    min_vram_gb: float | Literal["auto"] | None = None
    """Cheapest GPUs with at least this much memory; `auto` sizes from the pinned model."""
    types: list[str] | None = None
    """Provider GPU ids or Runpod GPU type names, in priority order."""
    type: str | None = None
    count: int = Field(default=1, ge=1, le=max(modal_limits.GPU_COUNT.maximum, runpod_limits.GPU_COUNT.maximum))

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
    max: int = Field(default=1, ge=1, le=runpod_limits.WORKERS.maximum)
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
    model_cache: bool | None = None
    """This volume holds the Hugging Face cache: the containers get HF_HOME=<mount path>/huggingface,
    so a cold start loads pinned snapshots from the volume instead of the Hub. Default: true for a
    volume mounted at /cache (where our worker image expects it), false elsewhere."""

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


class NamedModalSecret(StrictModel):
    """A Modal secret the stack writes under a name your code looks up (`modal.Secret.from_name`)."""

    env: dict[str, str] = Field(default_factory=dict)
    """Plain values kept in the secret (they may use ${...} references, e.g. ${buckets.x.name})."""
    secret_env: dict[str, str] = Field(default_factory=dict)
    """Key -> a `modelstack:secrets` entry or `credentials.*` path, as in an endpoint's secretEnv."""

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return check_env_names(value)

    @model_validator(mode="after")
    def _disjoint(self) -> NamedModalSecret:
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ValueError(f"{', '.join(both)} is in both env and secretEnv; keep it in one")
        if not self.env and not self.secret_env:
            raise ValueError("a named secret needs at least one key in env or secretEnv")
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
    named_secrets: dict[str, NamedModalSecret] = Field(default_factory=dict)
    """Modal secrets the stack creates under exactly these names and attaches to the app, for code
    that reads them by name (`wasabi-credentials`, `supabase-credentials`)."""
    warm_schedule: str | None = None
    """Cron (UTC) on which a container is kept warm, e.g. '*/15 8-18 * * 1-5'."""
    startup_timeout_seconds: int = Field(
        default=modal_limits.DEFAULT_STARTUP_TIMEOUT, **modal_limits.STARTUP_TIMEOUT.field_args()
    )
    """How long a container may take to start (Modal `startup_timeout`): `@modal.enter` downloads the
    pinned snapshot on a cold start and loads it, apart from executionTimeoutSeconds, which bounds one
    call. Default 20 minutes; at most 24 hours."""
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
        return check_mount_paths(value, "/data")

    @field_validator("volumes")
    @classmethod
    def _one_model_cache(cls, value: dict[str, ModalVolumeSettings]) -> dict[str, ModalVolumeSettings]:
        caches = sorted(path for path, volume in value.items() if is_model_cache(path, volume))
        if len(caches) > 1:
            raise ValueError(
                f"volumes {', '.join(caches)} are all marked modelCache; HF_HOME can point at one of them, "
                "so set modelCache: false on the others"
            )
        return value

    @field_validator("named_secrets")
    @classmethod
    def _secret_names(cls, value: dict[str, NamedModalSecret]) -> dict[str, NamedModalSecret]:
        for name in value:
            if not MODAL_OBJECT_NAME.match(name):
                raise ValueError(f"{name!r} must be 1-64 letters, digits, '-', '_' or '.' (Modal's rule)")
        return value

    @model_validator(mode="after")
    def _secrets_once(self) -> ModalSettings:
        twice = sorted(set(self.secrets) & set(self.named_secrets))
        if twice:
            raise ValueError(
                f"secrets: {', '.join(twice)} is also in namedSecrets, which creates it; list it in one place"
            )
        return self

    @field_validator("warm_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        problem = cron_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value


def is_model_cache(path: str, volume: ModalVolumeSettings) -> bool:
    """Whether the volume mounted at `path` holds the Hugging Face cache (see `modelCache`)."""
    return volume.model_cache if volume.model_cache is not None else path == DEFAULT_CACHE_MOUNT


RUNPOD_VOLUME_MOUNT = "/runpod-volume"
"""Where Runpod mounts an endpoint's network volume in every serverless worker."""


class RunpodNetworkVolumeSettings(StrictModel):
    """A Runpod network volume the endpoint's workers share as their Hugging Face cache."""

    size_gb: int = Field(**runpod_limits.NETWORK_VOLUME_SIZE.field_args())
    """Size in GB; it can only grow (Runpod cannot shrink a network volume)."""
    data_center: str = Field(min_length=1)
    """The volume's data center, such as EU-RO-1. The endpoint's workers can only mount it there,
    so the endpoint runs in this data center only; changing it re-creates the volume (empty)."""
    storage_type: Literal["STANDARD", "HIGH_PERFORMANCE"] | None = None


class RunpodSettings(StrictModel):
    """Runpod-only settings of a `provider: runpod` endpoint."""

    network_volume: RunpodNetworkVolumeSettings | None = None
    """Without it every cold worker downloads the model again; with it the first download is kept
    on the volume (HF_HOME under /runpod-volume) for every later worker of the endpoint."""

    container_disk_gb: int | None = Field(default=None, **runpod_limits.CONTAINER_DISK.field_args())
    """Scratch disk per worker, in GB. Unset: enough for the pinned snapshot the worker downloads plus
    headroom (components/gpu/disk.py); set too small for it, `pulumi up` stops before the template."""


# Per provider: (config key, the vendor's bound) for settings both providers have under one name.
_TIMEOUT_LIMITS: dict[str, tuple[tuple[str, str, Bound], ...]] = {
    "modal": (
        ("idle_timeout_seconds", "Modal's scaledown window", modal_limits.SCALEDOWN_WINDOW),
        ("execution_timeout_seconds", "Modal's function timeout", modal_limits.TIMEOUT),
    ),
    "runpod": (
        ("idle_timeout_seconds", "Runpod's idle timeout", runpod_limits.IDLE_TIMEOUT),
        ("execution_timeout_seconds", "Runpod's execution timeout", runpod_limits.EXECUTION_TIMEOUT),
    ),
}


class Endpoint(StrictModel):
    provider: Literal["runpod", "modal"]
    gpu: GpuSpec
    workers: Workers = Field(default_factory=Workers)
    idle_timeout_seconds: int = Field(default=60, ge=1)
    """How long an idle worker stays up before scaling down (Modal scaledown_window). Its bounds are
    the provider's (`components/limits`), checked in `_vendor_limits`."""
    execution_timeout_seconds: int = Field(default=600, ge=1)
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
        return check_env_names(value)

    @model_validator(mode="after")
    def _provider_settings(self) -> Endpoint:
        for other in ("modal", "runpod"):
            if other != self.provider and getattr(self, other) is not None:
                raise ValueError(f"{other}: only applies to provider {other}; remove it or change provider")
        return self

    @model_validator(mode="after")
    def _volume_data_center(self) -> Endpoint:
        volume = self.runpod.network_volume if self.runpod is not None else None
        if volume is not None and self.data_centers and volume.data_center not in self.data_centers:
            raise ValueError(
                f"runpod.networkVolume.dataCenter: {volume.data_center} is not in dataCenters "
                f"({', '.join(self.data_centers)}); workers can only mount the volume in its own data center, "
                "so add it to dataCenters or remove dataCenters"
            )
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


    @model_validator(mode="after")
    def _vendor_limits(self) -> Endpoint:
        """Bounds that differ by provider: what passes here, the vendor's API accepts."""
        for field, what, bound in _TIMEOUT_LIMITS[self.provider]:
            problem = bound.problem(getattr(self, field))
            if problem:
                raise ValueError(f"{to_camel(field)}: {problem} ({what})")
        names = self.gpu.names()
        if names and self.gpu.count > 1:
            try:
                gpus = gpus_named(self.provider, names)
            except GpuChoiceError:
                return self  # reported by _gpu_names_known
            too_few = [g.id for g in gpus if self.gpu.count > max_gpu_count(self.provider, g.id)]
            if too_few:
                cap = min(max_gpu_count(self.provider, g) for g in too_few)
                raise ValueError(
                    f"gpu.count: {', '.join(too_few)} take at most {cap} GPUs per worker on {self.provider}, "
                    f"not {self.gpu.count}; lower count or choose a larger GPU"
                )
        return self
