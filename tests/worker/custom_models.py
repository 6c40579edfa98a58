"""User classes for the `custom` task tests (imported by name, as MODELSTACK_CUSTOM_CLASS does)."""

from __future__ import annotations

import threading
from pathlib import Path


class Echo:
    """load() without arguments; predict echoes with a count, rejecting a missing `text`."""

    def load(self) -> None:
        self.loaded = True

    def predict(self, payload: dict) -> dict:
        if "text" not in payload:
            raise ValueError("text is required")
        if payload["text"] == "boom":
            raise RuntimeError("internal detail that must not reach the caller")
        return {"echo": payload["text"], "loaded": self.loaded}


class ReadsModelDir:
    """load(model_dir) receives the snapshot directory."""

    def load(self, model_dir: Path | None) -> None:
        self.files = sorted(p.name for p in model_dir.iterdir()) if model_dir else []

    def predict(self, payload: dict) -> list:
        return self.files


GATE = threading.Event()


class Gated:
    """load() waits until a test opens GATE, so tests can observe the loading state."""

    def load(self) -> None:
        if not GATE.wait(timeout=60):
            raise TimeoutError("the test never opened the gate")

    def predict(self, payload: dict) -> dict:
        return {"ok": True}


class Broken:
    def load(self) -> None:
        raise RuntimeError("weights are corrupt")

    def predict(self, payload: dict) -> dict:
        return {}
