"""Fixtures for the S3 providers: moto in server mode on 127.0.0.1, reached through real boto3."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from huggingface_hub import constants
from moto.server import ThreadedMotoServer

from tests.fakes.hub_server import FakeHub

ACCESS_KEY = "FAKEMODELSTACKKEY001"
SECRET_KEY = "modelstack-test-secret-key-do-not-print"
SOURCE_ACCESS_KEY = "FAKEWASABISOURCE0001"
SOURCE_SECRET_KEY = "wasabi-source-secret-key-do-not-print"
REGION = "us-east-1"
CREDENTIALS = {
    "s3": {
        "default": {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY},
        "wasabi": {"accessKeyId": SOURCE_ACCESS_KEY, "secretAccessKey": SOURCE_SECRET_KEY},
    }
}
HF_TOKEN = "hf_mirror-token-with-access"


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def endpoint(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty store for each test."""
    request = urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return moto_url


@pytest.fixture
def s3(endpoint: str) -> Any:
    """A plain boto3 client, for arranging and asserting the store's state."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    fake = FakeHub({HF_TOKEN: "mirror-bot"}).start()
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    # huggingface_hub fetches an "agent harness" registry from its import-time endpoint to build
    # its user agent (and caches it under HF_HOME); tests must not reach out or write there.
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    yield fake
    fake.stop()
