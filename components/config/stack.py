"""The whole `modelstack:` namespace and the validated stack it describes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from components.config.apps import App
from components.config.base import StrictModel, check_logical_name
from components.config.buckets import Bucket
from components.config.models import Model
from components.config.monitoring import Alerts
from components.config.secrets import Credentials, SecretSpec
from components.config.services import Firestore, Redis, Service
from components.config.templates import Template

BILLING_ACCOUNT = r"[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}"


class Budget(StrictModel):
    monthly_usd: float = Field(gt=0)
    """Expected monthly spend the stack must stay under."""
    enforce: bool = True
    """When true, a plan or preview whose expected cost exceeds the budget fails."""
    gcp_billing_account: str | None = None
    """A Cloud Billing account id (XXXXXX-XXXXXX-XXXXXX): the stack creates a billing budget of
    monthlyUsd for its project that emails at each of alertThresholds (GCP stacks only). Creating it
    needs billing-account rights (Billing Account Costs Manager) for whoever runs `pulumi up`."""
    alert_thresholds: list[float] = Field(default_factory=lambda: [0.5, 0.9, 1.0])
    """Fractions of monthlyUsd at which the billing budget alerts (actual spend)."""

    @field_validator("gcp_billing_account")
    @classmethod
    def _billing_account(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(BILLING_ACCOUNT, value):
            raise ValueError(
                f"{value!r} is not a Cloud Billing account id (XXXXXX-XXXXXX-XXXXXX, uppercase hex); "
                "see gcloud billing accounts list"
            )
        return value

    @model_validator(mode="after")
    def _thresholds(self) -> Budget:
        bad = [t for t in self.alert_thresholds if not 0 < t <= 10]
        if bad or not self.alert_thresholds:
            raise ValueError("alertThresholds: list fractions of monthlyUsd between 0 and 10, e.g. [0.5, 0.9, 1.0]")
        if len(set(self.alert_thresholds)) != len(self.alert_thresholds):
            raise ValueError("alertThresholds: a threshold is listed twice")
        return self


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
    apps: dict[str, App] = Field(default_factory=dict)
    templates: dict[str, Template] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)
    alerts: Alerts = Field(default_factory=Alerts)

    @field_validator("buckets", "secrets", "models", "apps", "templates", "services")
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
    ) or any("@sha256:" not in t.image for t in cfg.templates.values())
    return bool(
        cfg.services
        or cfg.redis is not None
        or any(b.kind == "gcs" for b in cfg.buckets.values())
        or builds_worker
    )
