"""The whole `modelstack:` namespace and the validated stack it describes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from components.config.base import StrictModel, check_logical_name
from components.config.buckets import Bucket
from components.config.models import Model
from components.config.secrets import Credentials, SecretSpec
from components.config.services import Firestore, Redis, Service


class Budget(StrictModel):
    monthly_usd: float = Field(gt=0)
    """Expected monthly spend the stack must stay under."""
    enforce: bool = True
    """When true, a plan or preview whose expected cost exceeds the budget fails."""


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
            check_logical_name(key, what)
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
