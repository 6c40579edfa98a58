"""The worker's readiness callback, POST /internal/ready, verified with inference.signing."""

from __future__ import annotations

import json
import time

import pytest

from inference import signing
from tests.gateway.harness import CALLBACK_SECRET

pytestmark = [pytest.mark.emulator]

REPORT = {"model": "flux", "revision": "741f7c3ce8b383c54771c7003378a50191e9efe9", "endpointId": "ep-flux",
          "loadSeconds": 42.5, "status": "ready", "workerVersion": "1.2.3"}


def _post(gateway, body: dict, secret: str = CALLBACK_SECRET, now: float | None = None, headers: dict | None = None):
    raw = json.dumps(body).encode()
    signed = signing.sign_headers(secret, raw, now=now) if headers is None else headers
    return gateway.client(key=None).post("/internal/ready", content=raw,
                                         headers={"Content-Type": "application/json", **signed})


def test_signed_report_is_recorded_and_listed(gateway, db):
    assert _post(gateway, REPORT).status_code == 204
    stored = db.collection("models").document("flux").get().to_dict()
    assert {k: stored[k] for k in ("model", "revision", "endpointId", "loadSeconds", "status")} == {
        k: REPORT[k] for k in ("model", "revision", "endpointId", "loadSeconds", "status")}
    assert "workerVersion" not in stored  # unknown fields are ignored, not stored
    assert abs(stored["reportedAt"] - time.time()) < 30
    failed = {**REPORT, "model": "embedder", "status": "failed", "error": "CUDA error: no kernel image"}
    assert _post(gateway, failed).status_code == 204
    models = {m["name"]: m for m in gateway.client().get("/v1/models").json()["models"]}
    assert models["flux"]["readiness"]["status"] == "ready"
    assert models["embedder"]["readiness"]["error"] == "CUDA error: no kernel image"


def test_unsigned_forged_stale_or_replayed_elsewhere_reports_are_401(gateway, db):
    raw = json.dumps(REPORT).encode()
    good = signing.sign_headers(CALLBACK_SECRET, raw)
    cases = {
        "unsigned": {},
        "wrong secret": signing.sign_headers("not-the-callback-secret", raw),
        "stale": signing.sign_headers(CALLBACK_SECRET, raw, now=time.time() - 3600),
        "future": signing.sign_headers(CALLBACK_SECRET, raw, now=time.time() + 3600),
        "bad timestamp": {**good, signing.TIMESTAMP_HEADER: "yesterday"},
        "tampered signature": {**good, signing.SIGNATURE_HEADER: good[signing.SIGNATURE_HEADER][:-2] + "00"},
    }
    for name, headers in cases.items():
        r = _post(gateway, REPORT, headers=headers)
        assert r.status_code == 401, name
        assert r.json()["error"]["code"] == "invalid_signature"
    # A valid signature over a different body does not cover this one.
    r = _post(gateway, {**REPORT, "status": "failed"}, headers=good)
    assert r.status_code == 401
    assert db.collection("models").document("flux").get().exists is False


def test_signed_but_malformed_reports_are_rejected(gateway):
    assert _post(gateway, {**REPORT, "status": "booting"}).status_code == 422
    assert _post(gateway, {**REPORT, "model": "../etc"}).status_code == 422
    assert _post(gateway, {k: v for k, v in REPORT.items() if k != "revision"}).status_code == 422
    raw = b"not json"
    r = gateway.client(key=None).post("/internal/ready", content=raw, headers=signing.sign_headers(CALLBACK_SECRET, raw))
    assert r.status_code == 400


def test_callbacks_are_refused_when_no_secret_is_configured(gateways):
    gateway = gateways(callback_secret=None)
    assert _post(gateway, REPORT).status_code == 401
