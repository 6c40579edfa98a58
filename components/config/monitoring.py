"""Run-time checks and who hears about them: uptime checks that match JSON fields, alert emails.

A Cloud Run probe can only look at the status code (its API has no body matcher), so a health
endpoint that answers 200 with `{"network_loaded": false}` passes it. `monitor.expect` adds what the
probe cannot: a Cloud Monitoring uptime check per field, run from outside against the deployed URL,
whose alert policy emails `modelstack:alerts.emails` when the field is not the expected value.

    modelstack:alerts: {emails: [ops@example.com]}
    modelstack:services:
      api:
        public: true
        monitor: {path: /healthz, expect: {network_loaded: true}}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from components.config.base import StrictModel

# Dotted object keys (`services.redis`); they become the JSONPath `$.services.redis`.
JSON_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Monitor(StrictModel):
    path: str = "/healthz"
    expect: dict[str, bool | int | float | str] = Field(default_factory=dict)
    """Field (dotted for nested objects) -> the JSON value it must hold, e.g. {network_loaded: true}.
    Each field is its own uptime check (Cloud Monitoring evaluates one content matcher per check).
    Empty: the check only requires a 2xx answer."""
    period_seconds: Literal[60, 300, 600, 900] = 60
    """How often the check runs (the only periods Cloud Monitoring offers)."""
    timeout_seconds: int = Field(default=10, ge=1, le=60)
    """How long one check waits for the answer (Cloud Monitoring allows 1-60 s)."""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"monitor path {value!r} must start with '/'")
        return value

    @field_validator("expect")
    @classmethod
    def _fields(cls, value: dict[str, bool | int | float | str]) -> dict[str, bool | int | float | str]:
        for key, expected in value.items():
            if not JSON_KEY.match(key):
                raise ValueError(
                    f"{key!r} must be a field name, dotted for nested objects (e.g. services.redis)"
                )
            if isinstance(expected, str) and len(expected) > 512:
                raise ValueError(f"the expected value of {key} must be at most 512 characters")
        return value


class Alerts(StrictModel):
    """Who is told when a run-time guard fires: uptime checks, and the GCP billing budget."""

    emails: list[str] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if not EMAIL.match(email):
                raise ValueError(f"{email!r} is not an email address")
        if len(set(value)) != len(value):
            raise ValueError("an address is listed twice")
        return value
