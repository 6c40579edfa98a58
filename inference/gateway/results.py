"""Where outputs too large for a job document go: an object in the results bucket plus a signed URL.

`ResultStore` is the seam; `GcsResultStore` is the production implementation. On Cloud Run the
service account has no private key, so V4 URLs are signed through the IAM Credentials `signBlob`
API (the library does this when given the account's e-mail and an access token); the account needs
`roles/iam.serviceAccountTokenCreator` on itself for that.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Protocol


class ResultStore(Protocol):
    async def put(self, path: str, data: bytes, content_type: str) -> None: ...

    async def signed_url(self, path: str, ttl_seconds: int) -> str: ...


class GcsResultStore:
    def __init__(self, bucket: str, client: Any | None = None, credentials: Any | None = None):
        # The google-cloud-storage client is synchronous; every call goes through a thread.
        from google.cloud import storage

        self._credentials = credentials
        self._client = client or storage.Client(credentials=credentials)
        self._bucket = self._client.bucket(bucket)

    async def put(self, path: str, data: bytes, content_type: str) -> None:
        blob = self._bucket.blob(path)
        await asyncio.to_thread(blob.upload_from_string, data, content_type=content_type)

    async def signed_url(self, path: str, ttl_seconds: int) -> str:
        return await asyncio.to_thread(self._sign, path, ttl_seconds)

    def _sign(self, path: str, ttl_seconds: int) -> str:
        blob = self._bucket.blob(path)
        expiration = dt.timedelta(seconds=ttl_seconds)
        credentials = self._credentials or self._client._credentials
        if hasattr(credentials, "sign_bytes") and getattr(credentials, "signer_email", None):
            # A key file (local runs): the library signs locally.
            return blob.generate_signed_url(version="v4", expiration=expiration, method="GET", credentials=credentials)
        # Metadata-server credentials (Cloud Run): sign with IAM signBlob using a fresh token.
        import google.auth.transport.requests

        if not credentials.valid:
            credentials.refresh(google.auth.transport.requests.Request())
        return blob.generate_signed_url(
            version="v4",
            expiration=expiration,
            method="GET",
            service_account_email=credentials.service_account_email,
            access_token=credentials.token,
        )
