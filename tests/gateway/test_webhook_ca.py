"""GATEWAY_WEBHOOK_CA_FILE: webhook receivers with a private CA are trusted only when the operator says so."""

from __future__ import annotations

import httpx
import pytest

from inference.gateway.app import _webhook_tls
from inference.gateway.settings import WEBHOOK_CA_FILE, ConfigError, Settings
from tests.gateway.fakes import Receiver
from tests.gateway.harness import ServerThread
from tests.gateway.tls import self_signed

KEYS = {"GATEWAY_API_KEYS": "alice:alice-key-0123456789abcdef"}


def test_an_unreadable_ca_file_is_named(tmp_path):
    (tmp_path / "bad.pem").write_text("not a certificate")
    for path in (tmp_path / "missing.pem", tmp_path / "bad.pem"):
        with pytest.raises(ConfigError, match=f"{WEBHOOK_CA_FILE}: not a readable PEM file"):
            Settings.from_env({**KEYS, WEBHOOK_CA_FILE: str(path)})


def test_the_ca_is_trusted_on_top_of_the_public_roots(tmp_path):
    cert, key = self_signed(tmp_path, "localhost")
    receiver = ServerThread(Receiver().app(), ssl_certfile=str(cert), ssl_keyfile=str(key)).start()
    url = f"https://localhost:{receiver.port}/hooks/x"
    try:
        default = Settings.from_env(KEYS)
        assert _webhook_tls(default) is True  # httpx's own default: the public roots only
        with httpx.Client(verify=True, trust_env=False) as client, pytest.raises(httpx.ConnectError):
            client.post(url, content=b"{}")
        trusting = Settings.from_env({**KEYS, WEBHOOK_CA_FILE: str(cert)})
        with httpx.Client(verify=_webhook_tls(trusting), trust_env=False) as client:
            assert client.post(url, content=b"{}").status_code == 200
    finally:
        receiver.stop()
