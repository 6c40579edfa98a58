"""The worker image under Visgate's container contract (HF_MODEL_ID, VISGATE_WEBHOOK, optional HF_TOKEN):
the real `runpod.serverless.start` in a subprocess, the model from the fake Hub through the real
`huggingface_hub` client, and the lifecycle POSTs received by a fake of Visgate's internal webhook."""

# No `from __future__ import annotations`: FastAPI reads the fake API's annotations at runtime.
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from inference import env
from inference.worker import visgate
from tests.fakes.hub_server import FakeHub

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_visgate-user-token-0001"
INTERNAL = "internal-webhook-secret-42"


class FakeVisgate:
    """Visgate's `POST /internal/deployment-ready/{deployment_id}`: records headers and bodies."""

    def __init__(self):
        from fastapi import FastAPI, Request

        self.received: list[tuple[str, dict, dict]] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/internal/deployment-ready/{deployment_id}")
        async def ready(deployment_id: str, request: Request) -> dict:
            body = await request.json()
            with self.lock:
                self.received.append((deployment_id, dict(request.headers), body))
            return {"ok": True}


@pytest.fixture
def hub():
    fake = FakeHub({TOKEN: "visgate-user"}).start()
    yield fake
    fake.stop()


@pytest.fixture
def visgate_api(serve):
    fake = FakeVisgate()
    fake.url = serve(fake.app).url
    return fake


def _run(hub: FakeHub, tmp_path: Path, environ: dict, job: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "MODELSTACK_", "VISGATE_"))}
    return subprocess.run(
        [sys.executable, "-m", "inference.worker", "runpod", "--test_input", json.dumps(job)],
        cwd=ROOT,
        env={
            **base,
            "PYTHONPATH": str(ROOT),
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            env.DEVICE: "cpu",
            **environ,
        },
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_gated_model_loads_at_the_commit_main_had_and_visgate_hears_loading_then_ready(
    hub, visgate_api, bert_classifier_dir, tmp_path
):
    hub.add_repo("acme/tiny-classifier", gated="manual", access=[TOKEN], pipeline_tag="text-classification")
    sha = hub.commit("acme/tiny-classifier", {p.name: p for p in bert_classifier_dir.iterdir() if p.is_file()})
    result = _run(
        hub,
        tmp_path,
        {
            visgate.HF_MODEL_ID: "acme/tiny-classifier",
            env.HF_TOKEN: TOKEN,
            visgate.WEBHOOK: f"{visgate_api.url}/internal/deployment-ready/dep_2024_abc123",
            visgate.INTERNAL_SECRET: INTERNAL,
            env.MODEL_TASK: "text-classification",  # the template's env; Visgate's default is text-to-image
        },
        {"input": {"inputs": "the cat sat"}},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Job local_test completed successfully" in output and "'label'" in output, output[-3000:]
    statuses = [(dep, body["status"]) for dep, _, body in visgate_api.received]
    assert statuses == [("dep_2024_abc123", "loading_model"), ("dep_2024_abc123", "ready")]
    assert all(headers["x-visgate-internal-secret"] == INTERNAL for _, headers, _ in visgate_api.received)
    assert sha in visgate_api.received[-1][2]["message"]  # the commit main pointed at, pinned for the load
    downloads = [r for r in hub.requests if "/resolve/" in r.path]
    assert downloads and all(f"/resolve/{sha}/" in r.path for r in downloads)
    assert TOKEN not in output and INTERNAL not in output


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_gated_model_without_access_is_reported_failed_and_every_job_gets_the_error(
    hub, visgate_api, bert_classifier_dir, tmp_path
):
    hub.add_repo("acme/tiny-classifier", gated="manual", access=[], pipeline_tag="text-classification")
    hub.commit("acme/tiny-classifier", {p.name: p for p in bert_classifier_dir.iterdir() if p.is_file()})
    result = _run(
        hub,
        tmp_path,
        {
            visgate.HF_MODEL_ID: "acme/tiny-classifier",
            env.HF_TOKEN: TOKEN,
            visgate.WEBHOOK: f"{visgate_api.url}/internal/deployment-ready/dep_9",
            env.MODEL_TASK: "text-classification",
        },
        {"input": {"inputs": "the cat sat"}},
    )
    output = result.stdout + result.stderr
    assert "model failed to load" in output and "GatedRepoError" in output
    assert [(dep, body["status"]) for dep, _, body in visgate_api.received] == [("dep_9", "loading_model"), ("dep_9", "failed")]
    _, headers, body = visgate_api.received[-1]
    assert "acme/tiny-classifier" in body["message"] and TOKEN not in body["message"]
    assert "x-visgate-internal-secret" not in headers  # optional: not configured, not sent
    assert TOKEN not in output


def test_a_repo_that_does_not_resolve_is_reported_failed_before_any_load(hub, visgate_api, monkeypatch):
    from huggingface_hub import constants

    from inference.worker.runpod_handler import start

    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    handler = start(
        {
            visgate.HF_MODEL_ID: "acme/no-such-model",
            env.HF_TOKEN: TOKEN,
            visgate.WEBHOOK: f"{visgate_api.url}/internal/deployment-ready/dep_7?secret={INTERNAL}",
        }
    )
    [(dep, _, body)] = visgate_api.received  # delivered before start() returned: nothing else will follow
    assert (dep, body["status"]) == ("dep_7", "failed")
    assert "cannot resolve acme/no-such-model to a commit" in body["message"] and TOKEN not in body["message"]
    error = handler({"id": "j1", "input": {"prompt": "a fox"}})["error"]
    assert error.startswith("model failed to load: cannot resolve acme/no-such-model") and TOKEN not in error


def test_modelstack_settings_win_over_the_visgate_contract():
    assert visgate.applies({visgate.HF_MODEL_ID: "a/b"})
    assert not visgate.applies({visgate.HF_MODEL_ID: "a/b", env.MODEL_ID: "c/d"})
    assert not visgate.applies({visgate.WEBHOOK: "https://x"})


def test_visgate_jobs_become_text_to_image_requests():
    request = visgate.job_input({"prompt": "a red fox", "num_inference_steps": 4, "seed": 7, "height": None})
    assert request == {"inputs": "a red fox", "parameters": {"num_inference_steps": 4, "seed": 7}}
    assert visgate.job_input({"inputs": "x"}) == {"inputs": "x"}  # already in the task's shape
    with pytest.raises(ValueError, match="unknown input field"):
        visgate.job_input({"prompt": "x", "stepz": 3})


def test_the_webhook_must_be_http():
    with pytest.raises(visgate.StartError, match="VISGATE_WEBHOOK must be an http"):
        visgate.Notifier.from_env({visgate.WEBHOOK: "file:///etc/passwd"})
