"""Fixtures for the Modal providers: the fake control plane and the SDK's provider server pointed at it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference import modal_settings
from tests.fakes.modal_server import FakeModal
from tests.modal import s3_store
from tests.modal.helpers import stack_config
from tests.support.dynamic_engine import REPO_ROOT, DynamicEngine

ENVIRONMENTS = ("main", "dev", "prod")
WORKER_REQUIREMENTS = REPO_ROOT / "inference" / "worker" / "requirements.txt"


@pytest.fixture
def fake_modal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeModal]:
    fake = FakeModal(environments=ENVIRONMENTS).start()
    monkeypatch.setenv("MODAL_SERVER_URL", fake.url)
    # No developer's ~/.modal.toml, token or environment may leak into a test.
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_ENVIRONMENT", "MODAL_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(REPO_ROOT)
    try:
        yield fake
    finally:
        fake.stop()
    assert fake.errors == [], f"the fake Modal server itself failed: {fake.errors}"
    if not getattr(fake, "expect_unimplemented", False):
        assert fake.unimplemented == [], f"the code under test called RPCs the fake does not fake: {fake.unimplemented}"


@pytest.fixture
def worker_requirements(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The worker's requirements file the app image installs.

    The worker (inference/worker/) is written on another branch; until it is merged this points the
    app at a stand-in file so the real deploy path can run. Once the file exists it is used as is.
    """
    if WORKER_REQUIREMENTS.is_file():
        return WORKER_REQUIREMENTS
    stand_in = tmp_path / "worker-requirements.txt"
    stand_in.write_text("huggingface_hub>=0.24,<2\n")
    monkeypatch.setenv(modal_settings.REQUIREMENTS, str(stand_in))
    return stand_in


@pytest.fixture
def engine(fake_modal: FakeModal, worker_requirements: Path) -> Iterator[DynamicEngine]:
    """The SDK's provider server, configured with the fake's token and pointed at the fake."""
    env = {"MODAL_SERVER_URL": fake_modal.url, "MODAL_CONFIG_PATH": os.environ["MODAL_CONFIG_PATH"]}
    if modal_settings.REQUIREMENTS in os.environ:
        env[modal_settings.REQUIREMENTS] = os.environ[modal_settings.REQUIREMENTS]
    with DynamicEngine(stack_config(fake_modal), env=env) as running:
        yield running


@pytest.fixture(scope="session")
def _moto() -> Iterator[s3_store.RecordingMoto]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = s3_store.RecordingMoto().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store(_moto: s3_store.RecordingMoto, monkeypatch: pytest.MonkeyPatch) -> s3_store.RecordingMoto:
    """An empty S3-compatible store (moto, through real boto3) with an empty request record."""
    _moto.reset()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    return _moto
