"""The dev stack end to end on 127.0.0.1, started with the user's command: `python -m components.local --stack dev`.

The command runs the real program under mocks, checks the contract, and starts the real gateway
(with the Firestore emulator), the real Runpod worker (the runpod SDK taking jobs from the queue
stand-in) and the real Modal app file's web endpoint behind proxy auth, each with the environment
the program registered for it. Through the gateway this sends, for the Runpod model (flux,
text-to-image) and the Modal model (embedder, feature-extraction), a synchronous prediction and an
asynchronous job whose webhook goes to an https receiver here; the answers must be the tiny
models' own, loaded in this process by the worker's code; readiness callbacks must have reached
the gateway; the webhooks must verify with the stack's signing key. Stopping the command must
leave no process behind.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components.offline import REPO_ROOT
from inference import signing
from tests.gateway.fakes import Receiver
from tests.gateway.harness import ServerThread

pytestmark = [pytest.mark.slow, pytest.mark.emulator, pytest.mark.subprocess]

START_TIMEOUT = 300
PAYLOADS: dict[str, dict[str, Any]] = {
    "flux": {"inputs": "a red cat", "parameters": {"num_inference_steps": 2, "width": 32, "height": 32, "seed": 7}},
    "embedder": {"inputs": ["hello world", "the cat sat on the mat"]},
}


@dataclass
class Local:
    info: dict[str, Any]
    secrets: dict[str, str]
    hooks: Receiver
    hook_port: int

    @property
    def gateway(self) -> str:
        return str(self.info["gateway"])

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.gateway, headers={"Authorization": f"Bearer {self.secrets['GATEWAY_API_KEY']}"},
                            timeout=60, trust_env=False)


def loopback_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for https://127.0.0.1 (an IP address SAN, as the webhook URL has)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    tmp = tmp_path_factory.mktemp("local")
    cert, key = loopback_certificate(tmp)
    hooks = Receiver()
    receiver = ServerThread(hooks.app(), ssl_certfile=str(cert), ssl_keyfile=str(key)).start()
    output = tmp / "cli.out"
    run_dir = tmp / "run"
    with open(output, "wb") as out:
        cli = subprocess.Popen(
            [sys.executable, "-m", "components.local", "--stack", "dev", "--run-dir", str(run_dir), "--webhook-ca", str(cert)],
            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    info: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while b"\nready;" not in output.read_bytes():
            if cli.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"python -m components.local did not get ready (exit {cli.poll()}):\n"
                            f"{output.read_text(errors='replace')[-4000:]}")
            time.sleep(0.5)
        info = json.loads((run_dir / "local.json").read_text())
        secrets = dict(line.split("=", 1) for line in (run_dir / "secrets.env").read_text().splitlines() if "=" in line)
        yield Local(info, secrets, hooks, receiver.port)
    finally:
        cli.send_signal(signal.SIGINT)
        try:
            code = cli.wait(timeout=90)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(cli.pid, signal.SIGKILL)
            code = cli.wait(timeout=10)
        receiver.stop()
        left = [name for name, pid in (info.get("processes") or {}).items() if group_alive(pid)]
        for name in left:  # never leave them running, even when the assertion below fails
            with contextlib.suppress(ProcessLookupError):
                os.killpg(info["processes"][name], signal.SIGKILL)
    assert code == 0, output.read_text(errors="replace")[-3000:]
    assert b"stopped" in output.read_bytes()
    assert left == [], f"still running after the command stopped: {left}"


@pytest.fixture(scope="module")
def own_answers(local: Local) -> dict[str, Any]:
    """Each tiny model's answer, from the worker's own code loading the same files in this process."""
    from inference.worker.core import Worker

    answers = {}
    for name, model in local.info["models"].items():
        worker = Worker.from_env({"MODELSTACK_MODEL_TASK": model["task"], "MODELSTACK_MODEL_PATH": model["modelDir"],
                                  "MODELSTACK_DEVICE": "cpu"})
        answers[name] = worker.predict(PAYLOADS[name])
    return answers


def test_every_workers_readiness_callback_reached_the_gateway(local: Local):
    with local.client() as client:
        models = {m["name"]: m for m in client.get("/v1/models").raise_for_status().json()["models"]}
    assert set(models) == {"flux", "embedder"}
    for name, model in local.info["models"].items():
        readiness = models[name]["readiness"]
        assert readiness["status"] == "ready" and readiness["model"] == name
        assert readiness["revision"] == model["revision"]  # the sha the program pinned
    assert models["flux"]["readiness"]["endpointId"] == local.info["models"]["flux"]["endpointId"]  # RUNPOD_ENDPOINT_ID
    assert models["embedder"]["readiness"]["endpointId"] == "modelstack-dev-embedder"  # the Modal app's name


@pytest.mark.parametrize("model", ["flux", "embedder"])
def test_a_synchronous_prediction_is_the_models_own_answer(local: Local, own_answers: dict[str, Any], model: str):
    with local.client() as client:
        answer = client.post(f"/v1/models/{model}:predict", json={"input": PAYLOADS[model]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "COMPLETED"
    assert answer.json()["output"] == own_answers[model]
    if model == "flux":
        assert base64.b64decode(answer.json()["output"]["image"]).startswith(b"\x89PNG")


def test_asynchronous_jobs_finish_and_their_signed_webhooks_arrive(local: Local, own_answers: dict[str, Any]):
    jobs: dict[str, str] = {}
    with local.client() as client:
        for model in ("flux", "embedder"):
            created = client.post("/v1/jobs", json={
                "model": model, "input": PAYLOADS[model], "webhook": f"https://127.0.0.1:{local.hook_port}/hooks/{model}",
            })
            assert created.status_code == 202, created.text
            jobs[model] = created.json()["id"]
        deadline = time.monotonic() + 90
        finished: dict[str, dict[str, Any]] = {}
        while len(finished) < len(jobs) and time.monotonic() < deadline:
            for model, job_id in jobs.items():
                job = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
                if job["status"] in ("COMPLETED", "FAILED", "CANCELLED"):
                    finished[model] = job
            time.sleep(0.5)
    for model in jobs:
        assert finished[model]["status"] == "COMPLETED", finished.get(model)
        assert finished[model]["output"] == own_answers[model]

    deadline = time.monotonic() + 60
    while len(local.hooks.deliveries) < len(jobs) and time.monotonic() < deadline:
        time.sleep(0.2)
    key = local.secrets["secrets.webhookSigningKey.value"]
    delivered = {}
    for headers, body in local.hooks.deliveries:
        signing.verify(key, headers, body)  # raises unless signed with the stack's webhook key
        payload = json.loads(body)
        delivered[payload["job"]["model"]] = payload
    assert set(delivered) == set(jobs)
    for model, payload in delivered.items():
        assert payload["event"] == "job.completed"
        assert payload["job"]["id"] == jobs[model] and payload["job"]["output"] == own_answers[model]


def test_the_stand_ins_refuse_callers_without_the_stacks_credentials(local: Local):
    flux, embedder = local.info["models"]["flux"], local.info["models"]["embedder"]
    with httpx.Client(timeout=10, trust_env=False) as plain:
        assert plain.post(f"{flux['url']}/runsync", json={"input": PAYLOADS["flux"]}).status_code == 401
        assert plain.post(embedder["url"], json={"input": PAYLOADS["embedder"]}).status_code == 401  # Modal proxy auth
        assert plain.get(f"{local.gateway}/v1/models").status_code == 401
