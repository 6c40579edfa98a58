"""What every config section shares: the namespace, the base model, naming rules and regions."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

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
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"})


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


def check_env_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not ENV_NAME.match(name):
            raise ValueError(
                f"environment variable name {name!r} must be letters, digits and '_', "
                "not starting with a digit"
            )
    return value
