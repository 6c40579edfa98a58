"""Models: the Hub (or bucket) source a stack pins, its endpoint, expected usage and mirror."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.config.base import BUCKET_SOURCE, HF_SOURCE, StrictModel
from components.config.endpoints import Endpoint
from inference import contract

Task = Literal[contract.TASKS]  # type: ignore[valid-type]  # the values the worker takes


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
        if not (HF_SOURCE.match(value) or BUCKET_SOURCE.match(value)):
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
        return HF_SOURCE.match(self.source) is not None

    @property
    def bucket_source(self) -> tuple[str, str] | None:
        """(bucket key, path) of an s3://<bucket key>/<path> source, else None."""
        match = BUCKET_SOURCE.match(self.source)
        return (match["bucket"], match["path"]) if match else None

    @model_validator(mode="after")
    def _usage_needs_endpoint(self) -> Model:
        if self.usage is not None and self.endpoint is None:
            raise ValueError("usage: prices an endpoint, and this model has none; add endpoint: or remove usage:")
        return self

    @property
    def repo_id(self) -> str:
        """The Hub repo id, or the s3:// source itself for a bucket checkpoint."""
        match = HF_SOURCE.match(self.source)
        return match["repo"] if match else self.source

    @property
    def revision(self) -> str:
        """The revision asked for on the Hub (default main); empty for a bucket checkpoint, whose
        content is identified by the objects' ETags where it is copied (a volume seed)."""
        match = HF_SOURCE.match(self.source)
        return (match["revision"] or "main") if match else ""

