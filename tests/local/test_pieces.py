"""The local run's own pieces, fast: URL rewriting and the Runpod queue stand-in's protocol."""

from __future__ import annotations

import json

from starlette.testclient import TestClient

from components.local.rewrite import remap_mounts, rewrite_urls
from components.local.runpod_queue import RunpodQueue

CALLER_KEY = "caller-key-0123456789abcdef"


def test_rewrite_replaces_whole_base_urls_only_and_keeps_paths():
    bases = {"https://gw-1.us-central1.run.app": "http://127.0.0.1:8080", "https://api.runpod.ai/v2/ep1": "http://127.0.0.1:9/v2/ep1"}
    env = {
        "CALLBACK": "https://gw-1.us-central1.run.app/internal/ready",
        "ROUTES": json.dumps({"m": {"url": "https://api.runpod.ai/v2/ep1"}}),
        "OTHER": "https://gw-1.us-central1.run.app.example/x",
        "PLAIN": "dev",
    }
    out = rewrite_urls(env, bases)
    assert out["CALLBACK"] == "http://127.0.0.1:8080/internal/ready"
    assert json.loads(out["ROUTES"]) == {"m": {"url": "http://127.0.0.1:9/v2/ep1"}}
    assert out["OTHER"] == env["OTHER"] and out["PLAIN"] == "dev"


def test_remap_mounts_moves_values_under_a_mount_including_inside_json():
    env = {"HF_HOME": "/cache/huggingface", "APP": json.dumps({"HF_HOME": "/cache/huggingface", "X": "/cachet"}), "Y": "/cache"}
    out = remap_mounts(env, {"/cache": "/tmp/run/cache"}, json_vars=("APP",))
    assert out["HF_HOME"] == "/tmp/run/cache/huggingface" and out["Y"] == "/tmp/run/cache"
    assert json.loads(out["APP"]) == {"HF_HOME": "/tmp/run/cache/huggingface", "X": "/cachet"}


def test_queue_routes_run_and_runsync_through_a_worker_taking_jobs():
    queue = RunpodQueue(["ep1"], [CALLER_KEY])
    env = queue.worker_env("http://testserver", "ep1", "ep1-w1")
    take = env["RUNPOD_WEBHOOK_GET_JOB"].replace("$ID", "ep1-w1").replace("http://testserver", "")
    done = env["RUNPOD_WEBHOOK_POST_OUTPUT"].replace("http://testserver", "").replace("$RUNPOD_POD_ID", "ep1-w1")
    caller = {"Authorization": f"Bearer {CALLER_KEY}"}
    worker = {"Authorization": env["RUNPOD_AI_API_KEY"]}
    with TestClient(queue.app()) as client:
        assert client.post("/v2/ep1/run", json={"input": {}}).status_code == 401
        assert client.post("/v2/ep2/run", json={"input": {}}, headers=caller).status_code == 404
        assert client.post("/v2/ep1/run", json={"input": 1}, headers=caller).status_code == 400
        job = client.post("/v2/ep1/run", json={"input": {"inputs": "hi"}}, headers=caller).json()
        assert job["status"] == "IN_QUEUE"
        assert client.get(take, headers=caller).status_code == 401  # workers hold their own key
        taken = client.get(take + "&job_in_progress=0", headers=worker).json()
        assert taken == {"id": job["id"], "input": {"inputs": "hi"}}
        assert client.get(f"/v2/ep1/status/{job['id']}", headers=caller).json()["status"] == "IN_PROGRESS"
        # The SDK posts the JSON result with a form content type.
        answer = client.post(done.replace("$ID", job["id"]) + "&isStream=false", content=json.dumps({"output": {"x": 1}}),
                             headers={**worker, "Content-Type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200
        status = client.get(f"/v2/ep1/status/{job['id']}", headers=caller).json()
        assert status["status"] == "COMPLETED" and status["output"] == {"x": 1}
        # Nothing queued: the long poll ends with 204; runsync waits out its `wait` with the job queued.
        assert client.get(take + "&job_in_progress=0", headers=worker).status_code == 204
        early = client.post("/v2/ep1/runsync?wait=1000", json={"input": {}}, headers=caller).json()
        assert early["status"] == "IN_QUEUE"
        cancelled = client.post(f"/v2/ep1/cancel/{early['id']}", headers=caller).json()
        assert cancelled == {"id": early["id"], "status": "CANCELLED"}
        health = client.get("/v2/ep1/health", headers=caller).json()
        assert health["jobs"]["completed"] == 1
