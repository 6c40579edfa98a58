"""What every config section shares: the namespace, the base model, naming rules and regions."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from components.limits import cloudrun

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
    "apps",
    "templates",
    "services",
    "alerts",
)
# Keys whose values carry secrets: they must arrive as Pulumi secrets.
SECRET_TOP_LEVEL_KEYS = ("credentials", "secrets")

# Cloud Run regions bound where a stack lives.
GCP_REGIONS = cloudrun.REGIONS
GCS_MULTI_REGIONS = frozenset({"US", "EU", "ASIA"})
FIRESTORE_MULTI_REGIONS = frozenset({"nam5", "eur3"})

# Keys of buckets feed bucket names, so they are lowercase; other keys may be camelCase.
BUCKET_KEY = re.compile(r"^[a-z](?:[a-z0-9-]{0,29}[a-z0-9])?$")
LOGICAL_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9-]{0,29}[A-Za-z0-9])?$")
GCP_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MEMORY = re.compile(r"^[1-9][0-9]*(Mi|Gi)$")
HF_SOURCE = re.compile(
    r"^(?:hf://)?(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)"
    r"(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9._/-]*))?$"
)
BUCKET_SOURCE = re.compile(r"^s3://(?P<bucket>[a-z](?:[a-z0-9-]{0,29}[a-z0-9])?)/(?P<path>\S*)$")
DIGEST_REF = re.compile(r"^[a-z0-9.-]+(?::[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$")

# Reserved by Cloud Run; setting them is rejected by the API at deploy time, so catch it here.
RESERVED_ENV = cloudrun.RESERVED_ENV


def check_logical_name(name: str, what: str) -> str:
    if what == "bucket":
        if not BUCKET_KEY.match(name):
            raise ValueError(
                f"bucket key {name!r} must be 1-31 characters of lowercase letters, digits and "
                "hyphens, starting with a letter and not ending with a hyphen"
            )
    elif not LOGICAL_NAME.match(name):
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


def check_mount_paths(value: dict[str, Any], example: str) -> dict[str, Any]:
    """Keys of a volumes mapping are where the volume is mounted: absolute, and not the root."""
    for path in value:
        if not path.startswith("/") or path == "/":
            raise ValueError(f"volume mount path {path!r} must be an absolute path such as {example}")
    return value


def check_env_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not ENV_NAME.match(name):
            raise ValueError(
                f"environment variable name {name!r} must be letters, digits and '_', "
                "not starting with a digit"
            )
    return value
