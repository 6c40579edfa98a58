"""Where each vendor credential comes from, shared by config validation and the dynamic providers.

Credentials are never resource inputs: a key in state would leak on export and a rotated key would
break `pulumi destroy` of resources created with the old one. Instead each dynamic provider reads
them in `configure()` from the stack config (`modelstack:credentials.*`, set with
`pulumi config set --secret --path ...`), falling back to the vendor's usual environment variable.

This module only knows names and lookup order; it performs no I/O beyond reading the environment.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CREDENTIALS_KEY = "modelstack:credentials"


@dataclass(frozen=True)
class CredentialSpec:
    """One credential: its key under `modelstack:credentials` and its environment fallback."""

    config_field: str
    env_var: str
    purpose: str

    @property
    def set_command(self) -> str:
        return f"pulumi config set --secret --path credentials.{self.config_field} <value>"


RUNPOD_API_KEY = CredentialSpec("runpodApiKey", "RUNPOD_API_KEY", "Runpod API key")
MODAL_TOKEN_ID = CredentialSpec("modalTokenId", "MODAL_TOKEN_ID", "Modal token id")
MODAL_TOKEN_SECRET = CredentialSpec("modalTokenSecret", "MODAL_TOKEN_SECRET", "Modal token secret")
HF_TOKEN = CredentialSpec("hfToken", "HF_TOKEN", "Hugging Face token")

SIMPLE_CREDENTIALS: tuple[CredentialSpec, ...] = (
    RUNPOD_API_KEY,
    MODAL_TOKEN_ID,
    MODAL_TOKEN_SECRET,
    HF_TOKEN,
)

S3_FIELDS = ("accessKeyId", "secretAccessKey")
_S3_NAME = re.compile(r"^[a-z][a-z0-9]*$")


def s3_env_vars(name: str) -> dict[str, str]:
    """Environment fallbacks for a named S3 credential (`credentials.s3.<name>`).

    The credential named `default` also honours the AWS SDK's own variables, so a user who already
    exports AWS_ACCESS_KEY_ID for MinIO or AWS needs nothing else.
    """
    upper = name.upper()
    env = {
        "accessKeyId": f"MODELSTACK_S3_{upper}_ACCESS_KEY_ID",
        "secretAccessKey": f"MODELSTACK_S3_{upper}_SECRET_ACCESS_KEY",
    }
    return env


def _aws_default_env(field: str) -> str:
    return {"accessKeyId": "AWS_ACCESS_KEY_ID", "secretAccessKey": "AWS_SECRET_ACCESS_KEY"}[field]


def is_valid_s3_credential_name(name: str) -> bool:
    return bool(_S3_NAME.match(name))


def parse_credentials_value(raw: Any) -> dict[str, Any]:
    """Turn the raw `modelstack:credentials` value into a dict.

    The engine hands structured config to programs and providers as a JSON string; tests and
    `pulumi.dynamic` configure requests may already hold a dict. Anything else counts as empty, so
    a malformed value falls through to the environment instead of crashing a provider.
    """
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return dict(value) if isinstance(value, Mapping) else {}
    return {}


def _nonempty(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    return None


def resolve(
    spec: CredentialSpec,
    credentials: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The credential's value from config, else from the environment, else None."""
    environ = os.environ if environ is None else environ
    return _nonempty(credentials.get(spec.config_field)) or _nonempty(environ.get(spec.env_var))


def resolve_s3(
    name: str,
    credentials: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str] | None:
    """Access key pair for the named S3 credential, or None when either half is missing."""
    environ = os.environ if environ is None else environ
    section = credentials.get("s3") or {}
    entry = section.get(name) if isinstance(section, Mapping) else None
    entry = entry if isinstance(entry, Mapping) else {}
    env_names = s3_env_vars(name)
    pair: dict[str, str] = {}
    for field in S3_FIELDS:
        value = _nonempty(entry.get(field)) or _nonempty(environ.get(env_names[field]))
        if value is None and name == "default":
            value = _nonempty(environ.get(_aws_default_env(field)))
        if value is None:
            return None
        pair[field] = value
    return pair


def from_provider_config(config: Any) -> dict[str, Any]:
    """Credentials from a dynamic provider's `ConfigureRequest.config` (a `pulumi.dynamic.Config`)."""
    getter = getattr(config, "get", None)
    raw = getter(CREDENTIALS_KEY) if callable(getter) else None
    return parse_credentials_value(raw)
