"""The plain HTTP entry point, served by uvicorn on 127.0.0.1 and called with httpx."""

import json

import httpx

from inference import env, signing
from inference.worker.core import Worker
from inference.worker.http_server import create_app
from tests.worker import custom_models
from tests.worker.test_worker import wait_until


def test_healthz_turns_ready_only_after_the_model_loaded(serve, gateway):
    fake = gateway()
    custom_models.GATE.clear()
    worker = Worker.from_env(
        {
            env.CUSTOM_CLASS: "tests.worker.custom_models:Gated",
            env.CALLBACK_URL: fake.url,
            env.CALLBACK_SECRET: "cb-secret",
        }
    )
    server = serve(create_app(worker))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        loading = client.get("/healthz")
        assert loading.status_code == 503 and loading.json()["status"] in ("idle", "loading")
        early = client.post("/predict", json={})
        assert early.status_code == 503 and early.headers["retry-after"] == "5"
        assert fake.received == []  # no callback before the model loaded

        custom_models.GATE.set()
        wait_until(lambda: client.get("/healthz").status_code == 200)
        assert client.get("/healthz").json()["status"] == "ready"
        assert client.post("/predict", json={"anything": 1}).json() == {"ok": True}
    headers, raw = fake.wait_for(1)[0]
    signing.verify("cb-secret", headers, raw)
    assert json.loads(raw)["status"] == "ready"


def test_predict_errors_map_to_status_codes(serve):
    worker = Worker.from_env({env.CUSTOM_CLASS: "tests.worker.custom_models:Echo"})
    worker.load()
    server = serve(create_app(worker, load_on_startup=False))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/predict", json={"text": "hi"}).json() == {"echo": "hi", "loaded": True}
        bad_json = client.post("/predict", content=b"{nope", headers={"content-type": "application/json"})
        assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]
        not_object = client.post("/predict", json=[1, 2])
        assert not_object.status_code == 400 and "JSON object" in not_object.json()["error"]
        invalid = client.post("/predict", json={})
        assert invalid.status_code == 400 and invalid.json() == {"error": "text is required"}
        crash = client.post("/predict", json={"text": "boom"})
        assert crash.status_code == 500 and "internal detail" not in crash.text


def test_failed_load_shows_in_healthz(serve):
    worker = Worker.from_env({env.CUSTOM_CLASS: "tests.worker.custom_models:Broken"})
    server = serve(create_app(worker))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        wait_until(lambda: client.get("/healthz").json()["status"] == "failed")
        health = client.get("/healthz")
        assert health.status_code == 503 and "weights are corrupt" in health.json()["error"]
        refused = client.post("/predict", json={})
        assert refused.status_code == 503 and "retry-after" not in refused.headers


def test_text_generation_over_http(serve, llama_dir):
    worker = Worker.from_env({env.MODEL_TASK: "text-generation", env.MODEL_PATH: str(llama_dir), env.DEVICE: "cpu"})
    server = serve(create_app(worker))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        wait_until(lambda: client.get("/healthz").status_code == 200)
        out = client.post("/predict", json={"inputs": "the cat", "parameters": {"max_new_tokens": 3}})
        assert out.status_code == 200 and isinstance(out.json()["generated_text"], str)
        assert client.get("/healthz").json()["loader"] == "fast"
        bad = client.post("/predict", json={"inputs": "x", "parameters": {"max_new_tokens": -1}})
        assert bad.status_code == 400 and "max_new_tokens" in bad.json()["error"]
