"""inference/modal_app.py's container side, run locally with `.local()` and a stand-in worker.

The real worker (inference.worker.core) loads models with torch; here a small stand-in with the same
contract (from_env, load, ready, predict raising ValueError) checks the glue: @modal.enter loads it
once, and the web endpoint answers /health and /predict as documented.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inference import modal_settings


class StandInWorker:
    loads = 0

    @classmethod
    def from_env(cls, environ: Any = None) -> StandInWorker:
        return cls()

    def __init__(self) -> None:
        self._ready = False

    def load(self) -> None:
        StandInWorker.loads += 1
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    def predict(self, payload: dict) -> dict:
        if "inputs" not in payload:
            raise ValueError("inputs is required")
        return {"embedding": [0.1, 0.2], "inputs": payload["inputs"]}


@pytest.fixture
def modal_app(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(modal_settings.APP_NAME, "modelstack-test-embedder")
    monkeypatch.setenv(modal_settings.REQUIREMENTS, "unused-requirements.txt")
    monkeypatch.setenv("MODELSTACK_MODEL_ID", "sentence-transformers/all-MiniLM-L6-v2")
    monkeypatch.setenv("MODELSTACK_MODEL_REVISION", "c9745ed1d9f207416be6d2e6f8de32d1f16199bf")
    core = types.ModuleType("inference.worker.core")
    core.Worker = StandInWorker  # type: ignore[attr-defined]
    package = types.ModuleType("inference.worker")
    package.__path__ = []  # type: ignore[attr-defined]
    package.core = core  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "inference.worker", package)
    monkeypatch.setitem(sys.modules, "inference.worker.core", core)
    monkeypatch.delitem(sys.modules, "inference.modal_app", raising=False)
    StandInWorker.loads = 0
    module = importlib.import_module("inference.modal_app")
    yield module
    sys.modules.pop("inference.modal_app", None)


def test_enter_loads_the_worker_once_and_web_serves_it(modal_app):
    model = modal_app.Model()
    assert model.ping.local() is True
    client = TestClient(model.web.local())
    assert StandInWorker.loads == 1

    assert client.get("/health").json() == {
        "ready": True,
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "revision": "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
    }
    ok = client.post("/predict", json={"inputs": "hello"})
    assert ok.status_code == 200 and ok.json() == {"embedding": [0.1, 0.2], "inputs": "hello"}
    bad = client.post("/predict", json={})
    assert bad.status_code == 400 and bad.json() == {"error": "inputs is required"}
    assert client.post("/predict", json=["not", "an", "object"]).status_code == 400
    assert client.post("/predict", content=b"not json").status_code == 400


def test_root_speaks_the_gateways_envelope(modal_app):
    """The gateway posts {"input": ...} to the endpoint URL itself (inference/gateway/backends.py)."""
    client = TestClient(modal_app.Model().web.local())
    ok = client.post("/", json={"input": {"inputs": "hello"}})
    assert ok.status_code == 200 and ok.json() == {"output": {"embedding": [0.1, 0.2], "inputs": "hello"}}
    bad = client.post("/", json={"input": {}})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid input: inputs is required"}
    assert client.post("/", json={"inputs": "hello"}).status_code == 400  # not in the envelope
    assert client.post("/", content=b"not json").status_code == 400


def test_settings_shape_the_app(modal_app):
    assert modal_app.app.name == "modelstack-test-embedder"
    assert modal_app.settings.gpu_arg is None  # no GPU configured: CPU
    assert not hasattr(modal_app, "keep_warm")  # no warm schedule unless asked for
