"""The fakes a whole stack deploys to, all at once: Hub, Runpod, Modal and an S3 store (moto).

Each is the same fake the provider tests use; here they run side by side, and the provider server
(`DynamicEngine`) is pointed at all of them through the environment variables the real clients
read (HF_ENDPOINT, RUNPOD_API_BASE_URL, MODAL_SERVER_URL).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from huggingface_hub import constants

from inference import modal_settings
from tests.fakes.hub_server import FakeHub
from tests.fakes.modal_server import FakeModal
from tests.fakes.runpod_server import FakeRunpod
from tests.modal.conftest import WORKER_REQUIREMENTS
from tests.modal.s3_store import RecordingMoto
from tests.runpod.support import FAST_RETRIES

HF_TOKEN = "hf_lifecycle-token-with-access"


@dataclass
class Fakes:
    hub: FakeHub
    runpod: FakeRunpod
    modal: FakeModal
    s3: RecordingMoto

    def env(self) -> dict[str, str]:
        """What the provider server's environment points at."""
        env = {
            "HF_ENDPOINT": self.hub.url,
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "RUNPOD_API_BASE_URL": self.runpod.url,
            "MODAL_SERVER_URL": self.modal.url,
            "MODAL_CONFIG_PATH": os.environ["MODAL_CONFIG_PATH"],
            **FAST_RETRIES,
        }
        if modal_settings.REQUIREMENTS in os.environ:
            env[modal_settings.REQUIREMENTS] = os.environ[modal_settings.REQUIREMENTS]
        return env

    def reset_logs(self) -> None:
        self.hub.requests.clear()
        self.runpod.reset_log()
        self.modal.reset_calls()
        self.s3.clear()


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Fakes]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_ENVIRONMENT", "MODAL_PROFILE", "RUNPOD_API_KEY",
                "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    if not WORKER_REQUIREMENTS.is_file():  # pragma: no cover - the worker is on main
        raise AssertionError("inference/worker/requirements.txt is missing")
    hub = FakeHub({HF_TOKEN: "acme"}).start()
    runpod = FakeRunpod().start()
    modal = FakeModal(environments=("main",)).start()
    s3 = RecordingMoto().start()
    s3.reset()  # moto's store is one per process: other tests' buckets would show up here
    try:
        yield Fakes(hub, runpod, modal, s3)
    finally:
        for fake in (hub, runpod, modal, s3):
            fake.stop()
    assert runpod.violations == [], "\n".join(runpod.violations)
    assert modal.errors == [], f"the fake Modal server itself failed: {modal.errors}"
    assert modal.unimplemented == [], f"RPCs the fake does not fake: {modal.unimplemented}"
