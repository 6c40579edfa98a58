"""GcsResultStore's signing with the real google-cloud-storage library, offline.

With a key-holding service account (local runs) the library signs V4 URLs itself, which is what
this checks. Two paths are not exercised here because they need Google's servers: the upload, and
signing through IAM signBlob with metadata-server credentials on Cloud Run.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from inference.gateway.results import GcsResultStore

EMAIL = "svc-gateway-dev@acme-ml-dev.iam.gserviceaccount.com"


def _key_credentials() -> service_account.Credentials:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return service_account.Credentials.from_service_account_info({
        "type": "service_account", "client_email": EMAIL, "private_key": pem, "private_key_id": "k1",
        "token_uri": "https://oauth2.googleapis.com/token", "project_id": "acme-ml-dev",
    })


def test_signed_url_is_a_v4_get_url_for_the_object():
    client = storage.Client(project="acme-ml-dev", credentials=AnonymousCredentials())
    store = GcsResultStore("acme-results", client=client, credentials=_key_credentials())
    url = asyncio.run(store.signed_url("results/job-1.json", 600))
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "storage.googleapis.com", "/acme-results/results/job-1.json")
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Expires"] == "600"
    assert query["X-Goog-Credential"].startswith(f"{EMAIL}/")
    assert query["X-Goog-SignedHeaders"] == "host"
    assert len(query["X-Goog-Signature"]) == 512  # hex of a 2048-bit RSA signature
