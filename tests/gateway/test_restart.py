"""A job survives its gateway being killed: the real entry point (`python -m inference.gateway.serve`)
configured only through the environment, SIGKILLed mid-job, then started again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway.fakes import RUNPOD_KEY
from tests.gateway.harness import ALICE_KEY, CALLBACK_SECRET

pytestmark = [pytest.mark.emulator, pytest.mark.slow, pytest.mark.subprocess]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GatewayProcess:
    def __init__(self, env: dict[str, str], log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "inference.gateway.serve"], cwd=ROOT,
                env={**env, "PORT": str(self.port)}, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited {self.process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)  # waiting for a process to listen, not for a test condition

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path, fake, project, firestore_emulator) -> Iterator:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "WEB_CONCURRENCY": "1",
        "FIRESTORE_EMULATOR_HOST": firestore_emulator.host,
        "HOST": "127.0.0.1",  # loopback only, never every interface
        "GCP_PROJECT": project,
        "MODELSTACK_STACK": "test",
        "MODELSTACK_ENVIRONMENT": "dev",
        "GATEWAY_API_KEYS": f"alice:{ALICE_KEY}",
        "WORKER_CALLBACK_KEY": CALLBACK_SECRET,
        "RUNPOD_API_KEY": RUNPOD_KEY,
        "MODELSTACK_MODELS": json.dumps({"flux": {"provider": "runpod", "url": f"{fake.url}/v2/ep-flux",
                                                  "timeoutSeconds": 60}}),
        "GATEWAY_POLL_INTERVAL_SECONDS": "0.05",
        "GATEWAY_LEASE_SECONDS": "1",
    }
    started: list[GatewayProcess] = []

    def start() -> GatewayProcess:
        started.append(GatewayProcess(env, tmp_path / "gateway.log"))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def test_a_job_survives_a_killed_gateway(processes, fake, tmp_path):
    first = processes()
    headers = {"Authorization": f"Bearer {ALICE_KEY}"}
    r = httpx.post(f"{first.url}/v1/jobs", json={"model": "flux", "input": {"steps": 40}}, headers=headers,
                   trust_env=False)
    assert r.status_code == 202
    job_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while "backendJobId" not in httpx.get(f"{first.url}/v1/jobs/{job_id}", headers=headers, trust_env=False).json():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.kill()  # no shutdown hook runs: the lease is simply left to expire

    second = processes()
    deadline = time.monotonic() + 30
    while (job := httpx.get(f"{second.url}/v1/jobs/{job_id}", headers=headers, trust_env=False).json())["status"] \
            not in ("COMPLETED", "FAILED", "CANCELLED"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["status"] == "COMPLETED" and job["output"] == {"echo": {"steps": 40}}
    assert job["attempts"] == 1 and len(fake.state.runs) == 1  # resumed, not re-run

    logs = (tmp_path / "gateway.log").read_text()
    assert '"message": "job adopted"' in logs
    for secret in (ALICE_KEY, CALLBACK_SECRET, RUNPOD_KEY):
        assert secret not in logs
