"""The HTTP surface against the real Firestore emulator and fake backends: auth, limits, bodies,
the synchronous predict path and its failure modes, health and readiness."""

from __future__ import annotations

import logging
import os
import socket

import pytest
from google.cloud import firestore

from inference.gateway.app import Overrides
from inference.gateway.settings import ModelRoute, Secret
from tests.gateway.fakes import MODAL_TOKEN, RUNPOD_KEY
from tests.gateway.harness import ALICE_KEY, BOB_KEY, CALLBACK_SECRET, WEBHOOK_SECRET, routes

pytestmark = [pytest.mark.emulator]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- authentication and rate limits ----------------------------------------------------------


def test_requests_without_a_valid_key_are_401(gateway):
    anonymous = gateway.client(key=None)
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789abcdef"},
                    {"Authorization": f"Basic {ALICE_KEY}"}, {"X-API-Key": "nope"}, {"Authorization": "Bearer"}):
        for method, path in (("POST", "/v1/models/flux:predict"), ("POST", "/v1/jobs"),
                             ("GET", "/v1/jobs/abc"), ("DELETE", "/v1/jobs/abc"), ("GET", "/v1/models")):
            r = anonymous.request(method, path, headers=headers, json={"input": {}})
            assert r.status_code == 401, (headers, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
            assert r.json()["error"]["code"] == "unauthenticated"


def test_bearer_and_x_api_key_both_authenticate(gateway):
    assert gateway.client(BOB_KEY).get("/v1/models").status_code == 200
    r = gateway.client(key=None).get("/v1/models", headers={"X-API-Key": ALICE_KEY})
    assert r.status_code == 200
    assert [m["name"] for m in r.json()["models"]] == ["embedder", "flux"]


def test_rate_limit_is_per_key_with_retry_after(gateways):
    gateway = gateways(rate_limit_rps=0.1, rate_limit_burst=2)
    alice = gateway.client()

    def predict():
        return alice.post("/v1/models/flux:predict", json={"input": {}})

    assert [predict().status_code for _ in range(2)] == [200, 200]
    limited = predict()
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    # One token per 10 s: the wait is whole seconds, at most 10 (exact rounding: test_units).
    assert 1 <= int(limited.headers["retry-after"]) <= 10
    assert predict().status_code == 429
    # Bob has his own bucket.
    assert gateway.client(BOB_KEY).get("/v1/models").status_code == 200


# --- request bodies ----------------------------------------------------------------------------


def test_oversized_bodies_are_413_declared_or_streamed(gateways, fake):
    gateway = gateways(max_body_bytes=4096, max_job_input_bytes=1024)
    alice = gateway.client()
    big = b'{"input": {"p": "' + b"x" * 8000 + b'"}}'
    r = alice.post("/v1/models/flux:predict", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunks():
        yield b'{"input": {"p": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}}'

    r = alice.post("/v1/models/flux:predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413  # no Content-Length: counted while streaming

    r = alice.post("/v1/jobs", json={"model": "flux", "input": {"p": "z" * 2000}})
    assert r.status_code == 413 and "1024" in r.json()["error"]["message"]
    assert fake.state.runs == []  # nothing oversized reached a backend


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"{}", 422, "invalid_request"),
        (b'{"input": [1]}', 422, "invalid_request"),
        (b'{"input": {}, "extra": 1}', 422, "invalid_request"),
    ],
)
def test_malformed_predict_bodies(gateway, fake, body, status, code):
    r = gateway.client().post("/v1/models/flux:predict", content=body, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert fake.state.runs == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"input": {}}, 422, "invalid_request"),
        ({"model": "flux"}, 422, "invalid_request"),
        ({"model": "flux", "input": {}, "priority": 1}, 422, "invalid_request"),
        ({"model": "nope", "input": {}}, 404, "model_not_found"),
        ({"model": "flux", "input": {}, "webhook": 5}, 422, "invalid_request"),
    ],
)
def test_malformed_job_bodies(gateway, fake, db, body, status, code):
    r = gateway.client().post("/v1/jobs", json=body)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code)
    assert list(db.collection("jobs").stream()) == []


def test_unknown_routes_use_the_error_shape(gateway):
    r = gateway.client().get("/v2/whatever")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_paths_next_to_the_fast_path_answer_as_the_routes_did(gateway, fake):
    # hotpath.GatewayApp answers predict and /healthz ahead of FastAPI: its edges must match the router's.
    alice = gateway.client()
    for method in ("GET", "PUT", "DELETE"):
        r = alice.request(method, "/v1/models/flux:predict")
        assert r.status_code == 405 and r.headers["allow"] == "POST", method
        assert r.json()["error"]["code"] == "method_not_allowed"
    for path in ("/v1/models/flux:predictx", "/v1/models/a/b:predict", "/v1/models/:predict", "/healthz/x"):
        r = alice.post(path, json={"input": {}})
        assert r.status_code in (404, 405) and r.json()["error"]["code"] in ("not_found", "method_not_allowed"), path
    assert fake.state.runs == []  # nothing reached the backend
    r = gateway.client(key=None).head("/healthz")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "15"
    assert gateway.client(key=None).post("/healthz").status_code == 404  # as before: only GET and HEAD exist


def test_predict_checks_the_key_before_the_model_and_the_body(gateway, fake):
    anonymous = gateway.client(key=None)
    # An unknown model or a broken body is not revealed to a caller without a key.
    for path, content in (("/v1/models/nope:predict", b'{"input": {}}'), ("/v1/models/flux:predict", b"{not json")):
        r = anonymous.post(path, content=content, headers={"Content-Type": "application/json"})
        assert r.status_code == 401, path
    r = gateway.client().post("/v1/models/nope:predict", content=b"{not json")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert fake.state.runs == []


def test_predict_forwards_the_input_exactly_with_either_key_header(gateway, fake):
    job_input = {"text": "caf\u00e9 \U0001f600", "n": 1.5, "nested": {"list": [None, True, "x" * 1000]}}
    r = gateway.client(key=None).post("/v1/models/flux:predict", json={"input": job_input},
                                      headers={"X-API-Key": BOB_KEY})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert fake.state.runs[-1]["input"] == job_input
    assert r.json()["output"] == {"echo": job_input}


# --- synchronous predictions -------------------------------------------------------------------


def test_predict_runpod_and_modal(gateway, fake):
    alice = gateway.client()
    r = alice.post("/v1/models/flux:predict", json={"input": {"prompt": "a cat", "n": [[1, 2]]}})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "COMPLETED" and body["model"] == "flux"
    assert body["output"] == {"echo": {"prompt": "a cat", "n": [[1, 2]]}}
    sent = fake.state.runs[-1]
    assert sent["input"] == {"prompt": "a cat", "n": [[1, 2]]}
    assert sent["policy"]["executionTimeout"] == 10_000

    r = alice.post("/v1/models/embedder:predict", json={"input": {"text": "hi"}})
    assert r.status_code == 200 and r.json()["output"] == {"echo": {"text": "hi"}}
    assert fake.state.modal_calls == [{"text": "hi"}]

    r = alice.post("/v1/models/nope:predict", json={"input": {}})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_predict_polls_status_when_runsync_returns_unfinished(gateway, fake):
    # /runsync answers IN_QUEUE when its wait runs out; the gateway follows the job on /status.
    r = gateway.client().post("/v1/models/flux:predict", json={"input": {"early": True, "steps": 3}})
    assert r.status_code == 200, r.text
    assert r.json()["output"] == {"echo": {"early": True, "steps": 3}}
    assert fake.state.status_calls == 3
    assert fake.state.cancels == []


def test_predict_failures_map_to_gateway_errors(gateways, fake):
    gateway = gateways(models=routes(fake.url, flux_timeout=1.0, embedder_timeout=1.0))
    alice = gateway.client()

    r = alice.post("/v1/models/flux:predict", json={"input": {"fail": "CUDA out of memory"}})
    assert r.status_code == 502
    assert r.json()["error"] == {"code": "model_failed", "message": "CUDA out of memory"}

    r = alice.post("/v1/models/flux:predict", json={"input": {"timedOut": True}})
    assert r.status_code == 504

    r = alice.post("/v1/models/flux:predict", json={"input": {"statusCode": 500}})
    assert r.status_code == 502 and r.json()["error"]["code"] == "backend_unavailable"

    r = alice.post("/v1/models/flux:predict", json={"input": {"hang": True}})
    assert r.status_code == 504 and r.json()["error"]["code"] == "backend_timeout"
    hung = [j.id for j in fake.state.jobs.values() if j.input.get("hang")]
    assert fake.state.cancels == hung  # the gateway cancels what it stopped waiting for

    r = alice.post("/v1/models/embedder:predict", json={"input": {"sleep": 3}})
    assert r.status_code == 504

    r = alice.post("/v1/models/embedder:predict", json={"input": {"fail": "bad input"}})
    assert r.status_code == 502 and r.json()["error"]["message"] == "bad input"

    r = alice.post("/v1/models/embedder:predict", json={"input": {"status": 503}})
    assert r.status_code == 502 and r.json()["error"]["code"] == "backend_unavailable"


def test_unreachable_backend_is_502(gateways):
    dead = f"http://127.0.0.1:{_closed_port()}"
    gateway = gateways(models={"flux": ModelRoute("flux", "runpod", f"{dead}/v2/x", 5.0)})
    r = gateway.client().post("/v1/models/flux:predict", json={"input": {}})
    assert r.status_code == 502 and r.json()["error"]["code"] == "backend_unavailable"


# --- health and readiness ----------------------------------------------------------------------


def test_healthz_and_readyz(gateway):
    anonymous = gateway.client(key=None)
    r = anonymous.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = anonymous.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"firestore": "ok", "model:flux": "ok", "model:embedder": "ok"}}


def test_readyz_reports_each_unreachable_dependency_while_healthz_stays_up(gateways, fake, project, monkeypatch):
    # A Firestore client aimed at a closed port: the channel is built lazily, inside the gateway's loop.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{_closed_port()}")
    dead_store = firestore.AsyncClient(project=project)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", os.environ["FIRESTORE_EMULATOR_HOST"])
    dead = f"http://127.0.0.1:{_closed_port()}"
    models = {**routes(fake.url), "sdxl": ModelRoute("sdxl", "modal", f"{dead}/", 5.0)}
    gateway = gateways(Overrides(firestore_client=dead_store), models=models)
    anonymous = gateway.client(key=None)
    assert anonymous.get("/healthz").status_code == 200
    r = anonymous.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["model:flux"] == "ok" and checks["model:embedder"] == "ok"
    assert checks["firestore"] != "ok" and checks["model:sdxl"] != "ok"


# --- secrets -----------------------------------------------------------------------------------


def test_no_secret_in_responses_or_logs(gateways, fake, caplog):
    caplog.set_level(logging.DEBUG)
    wrong_runpod = "rp-wrong-key-abcdefabcdef0123"
    gateway = gateways(runpod_api_key=Secret(wrong_runpod),
                       modal_proxy_token=(Secret("wk-wrong"), Secret("ws-wrong-secret-0123456789")))
    alice = gateway.client()
    bodies = [
        alice.post("/v1/models/flux:predict", json={"input": {}}),   # Runpod says 401
        alice.post("/v1/models/embedder:predict", json={"input": {}}),  # Modal says 401
        gateway.client("x" * 30).get("/v1/models"),
        gateway.client(key=None).post("/internal/ready", json={"model": "flux"}),
        alice.post("/v1/jobs", json={"model": "flux", "input": {}}),
    ]
    assert bodies[0].status_code == 502 and bodies[0].json()["error"]["code"] == "backend_rejected"
    assert bodies[1].status_code == 502
    job = gateway.wait_for_job(bodies[-1].json()["id"])
    assert job["status"] == "FAILED" and "401" in job["error"]
    text = "\n".join(r.text + str(r.headers) for r in bodies) + repr(job) + caplog.text
    text += repr(gateway.settings)
    for secret in (wrong_runpod, "ws-wrong-secret-0123456789", ALICE_KEY, BOB_KEY, CALLBACK_SECRET,
                   WEBHOOK_SECRET, RUNPOD_KEY, MODAL_TOKEN[1]):
        assert secret not in text



def test_a_crash_on_the_predict_path_is_a_500_in_the_error_shape(gateway, monkeypatch, caplog):
    from inference.gateway import api

    async def crash(*_: object) -> None:
        raise RuntimeError("boom in the handler")

    monkeypatch.setattr(api, "predict_answer", crash)
    with caplog.at_level(logging.ERROR, logger="modelstack.gateway"):
        r = gateway.client().post("/v1/models/flux:predict", json={"input": {}})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal"
    assert "boom" not in r.text  # the cause is logged, not shown to the caller
    assert any("boom in the handler" in str(getattr(rec, "fields", {})) for rec in caplog.records)
