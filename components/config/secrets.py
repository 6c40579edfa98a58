"""Vendor credentials and Secret Manager secrets: held as SecretStr, resolved with their environment fallbacks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import Field, SecretStr, field_validator

from components.config.base import StrictModel
from components.providers import credentials as creds


class S3Credential(StrictModel):
    access_key_id: SecretStr
    secret_access_key: SecretStr


class Credentials(StrictModel):
    """Vendor credentials. Only their presence is checked here; providers read them in configure()."""

    runpod_api_key: SecretStr | None = None
    modal_token_id: SecretStr | None = None
    modal_token_secret: SecretStr | None = None
    hf_token: SecretStr | None = None
    s3: dict[str, S3Credential] = Field(default_factory=dict)

    @field_validator("s3")
    @classmethod
    def _s3_names(cls, value: dict[str, S3Credential]) -> dict[str, S3Credential]:
        for name in value:
            if not creds.is_valid_s3_credential_name(name):
                raise ValueError(
                    f"S3 credential name {name!r} must be lowercase letters and digits, "
                    "starting with a letter"
                )
        return value


class SecretSpec(StrictModel):
    """A Secret Manager secret. The value is write-only: it never enters Pulumi state."""

    value: SecretStr
    """Set with: pulumi config set --secret --path secrets.<name>.value <value>"""
    version: int = Field(default=1, ge=1)
    """Bump when you rotate the value; a new Secret Manager version is written."""


def credential_value(credentials: Mapping[str, Any], path: str, environ: Mapping[str, str]) -> str | None:
    """A `credentials.<field>` or `credentials.s3.<name>.<field>` value, from config or environment."""
    parts = path.split(".")
    if len(parts) == 2:
        spec = next((c for c in creds.SIMPLE_CREDENTIALS if c.config_field == parts[1]), None)
        return creds.resolve(spec, credentials, environ) if spec else None
    if len(parts) == 4 and parts[1] == "s3" and parts[3] in creds.S3_FIELDS:
        pair = creds.resolve_s3(parts[2], credentials, environ)
        return pair[parts[3]] if pair else None
    return None


class HasCredentials(Protocol):
    credentials: Credentials


def plain_credentials(cfg: HasCredentials) -> dict[str, Any]:
    """The credentials section as plain values, for validation and the few runtime needs of workers."""
    section = cfg.credentials
    plain: dict[str, Any] = {
        field: value.get_secret_value()
        for field, value in (
            ("runpodApiKey", section.runpod_api_key),
            ("modalTokenId", section.modal_token_id),
            ("modalTokenSecret", section.modal_token_secret),
            ("hfToken", section.hf_token),
        )
        if value is not None
    }
    plain["s3"] = {
        name: {"accessKeyId": pair.access_key_id.get_secret_value(), "secretAccessKey": pair.secret_access_key.get_secret_value()}
        for name, pair in section.s3.items()
    }
    return plain
