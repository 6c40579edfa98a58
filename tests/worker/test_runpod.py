"""The Runpod serverless entry point: the handler through the SDK's own job runner, and the real
`runpod.serverless.start` in a subprocess (its local test mode)."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runpod.serverless.modules.rp_job import run_job

from inference import env
from inference.worker.core import Worker
from inference.worker.runpod_handler import make_handler

ROOT = Path(__file__).resolve().parents[2]


def run(handler, job):
    return asyncio.run(run_job(handler, {"id": "job-1", **job}))


def test_handler_results_as_the_sdk_reports_them():
    worker = Worker.from_env({env.CUSTOM_CLASS: "tests.worker.custom_models:Echo"})
    handler = make_handler(worker)  # loads lazily on the first job
    assert run(handler, {"input": {"text": "hi"}}) == {"output": {"echo": "hi", "loaded": True}}
    invalid = run(handler, {"input": {}})
    assert invalid["error"] == "invalid input: text is required"
    assert run(handler, {"input": "text"})["error"].startswith("invalid input: the job's input must be a JSON object")
    crash = run(handler, {"input": {"text": "boom"}})
    assert crash["error"] == "prediction failed: RuntimeError" and "internal detail" not in json.dumps(crash)


def test_handler_reports_a_failed_load():
    worker = Worker.from_env({env.CUSTOM_CLASS: "tests.worker.custom_models:Broken"})
    handler = make_handler(worker)
    result = run(handler, {"input": {"x": 1}})
    assert result["error"].startswith("model failed to load: RuntimeError: weights are corrupt")


def _start(llama_dir: Path, job: dict) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        env.MODEL_TASK: "text-generation",
        env.MODEL_PATH: str(llama_dir),
        env.DEVICE: "cpu",
        env.MODEL_KEY: "tiny",
    }
    return subprocess.run(
        [sys.executable, "-m", "inference.worker", "runpod", "--test_input", json.dumps(job)],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
@pytest.mark.subprocess
def test_serverless_start_runs_a_job_end_to_end(llama_dir):
    ok = _start(llama_dir, {"input": {"inputs": "the cat", "parameters": {"max_new_tokens": 3}}})
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert "generated_text" in ok.stdout + ok.stderr
    assert "Job local_test completed successfully" in ok.stdout + ok.stderr
