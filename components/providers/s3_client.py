"""boto3 clients for S3-compatible stores (R2, Wasabi, MinIO, AWS), built per call.

Providers call `client(endpoint, region, credential_name, credentials)` inside each method: the
key pair is looked up by name in what `configure()` read (`modelstack:credentials.s3.<name>`, or
the environment fallbacks in credentials.py), so keys never become resource inputs.

Settings chosen for third-party stores:
- path-style addressing except on AWS itself: R2, Wasabi and MinIO accept it, and it works with a
  bare host:port endpoint (virtual hosting would need DNS for `<bucket>.127.0.0.1`);
- checksums only when an operation requires them: botocore's default CRC trailers since 1.36 are
  rejected by several S3-compatible stores;
- bounded retries ("standard" mode: backoff with jitter, throttling and 5xx) and timeouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.providers import credentials as creds

CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 120
MAX_ATTEMPTS = 5
# Codes meaning "not there", across AWS and the S3-compatible stores.
NOT_FOUND = {"404", "NoSuchBucket", "NoSuchKey", "NotFound", "NoSuchUpload"}


class S3Error(Exception):
    """An S3 call failed; the message names the resource and operation and carries no secret."""


def key_pair(name: str, credentials: Mapping[str, Any]) -> dict[str, str]:
    pair = creds.resolve_s3(name, credentials)
    if pair is None:
        env = creds.s3_env_vars(name)
        raise S3Error(
            f"S3 credential {name!r} is not set: set credentials.s3.{name}.accessKeyId and "
            f".secretAccessKey with pulumi config set --secret --path (or export {env['accessKeyId']} "
            f"and {env['secretAccessKey']})"
        )
    return pair


def client(endpoint: str, region: str, credential: str, credentials: Mapping[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    pair = key_pair(credential, credentials)
    on_aws = endpoint.rstrip("/").endswith(".amazonaws.com")
    config = Config(
        region_name=None if region == "auto" and on_aws else region,
        signature_version="s3v4",
        s3={"addressing_style": "virtual" if on_aws else "path"},
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=32,
    )
    # A fresh session per client: boto3's default session is module-level state shared by threads.
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=pair["accessKeyId"],
        aws_secret_access_key=pair["secretAccessKey"],
        config=config,
    )


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status) if status else None
    return None


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND


def describe(exc: BaseException, what: str, secrets: list[str] | None = None) -> S3Error:
    """`s3:Bucket my-bucket: create: AccessDenied: Access Denied (HTTP 403)`."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping) and "Error" in response:
        err = response["Error"]
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{err.get('Code', 'Error')}: {err.get('Message') or 'no message'}" + (f" (HTTP {status})" if status else "")
    else:
        text = f"{type(exc).__name__}: {exc}"
    message = f"{what}: {text}"
    for secret in secrets or []:
        if secret:
            message = message.replace(secret, "[secret]")
    return S3Error(message)
