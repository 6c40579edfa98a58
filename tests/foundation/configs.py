"""A valid stack config to mutate in tests, and a helper to validate it."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from components.config import StackConfig, validate

REPO_ROOT = Path(__file__).resolve().parents[2]

VALID: dict[str, Any] = {
    "environment": "dev",
    "credentials": {
        "runpodApiKey": "rpa-test-key",
        "modalTokenId": "ak-test",
        "modalTokenSecret": "as-test",
        "hfToken": "hf-test",
    },
    "secrets": {"apiKeys": {"value": "key-one,key-two", "version": 1}},
    "buckets": {"artifacts": {"kind": "gcs", "versioning": True}},
    "models": {
        "flux": {
            "source": "hf://black-forest-labs/FLUX.1-schnell",
            "endpoint": {"provider": "runpod", "gpu": {"minVramGb": 24}, "workers": {"min": 0, "max": 2}},
        }
    },
    "services": {"gateway": {"image": "images/gateway", "secretEnv": {"GATEWAY_API_KEYS": "apiKeys"}}},
}
SECRET_KEYS = {"modelstack:credentials", "modelstack:secrets"}


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    raw = copy.deepcopy(VALID)
    change(raw)
    return raw


def check(
    raw: Mapping[str, Any],
    *,
    project: str | None = "acme-ml-dev",
    region: str | None = "us-central1",
    stack: str = "dev",
    secret_keys: set[str] = SECRET_KEYS,
    environ: Mapping[str, str] | None = None,
) -> StackConfig:
    return validate(
        raw,
        project=project,
        region=region,
        stack=stack,
        secret_keys=secret_keys,
        environ=environ or {},
        root=REPO_ROOT,
    )
