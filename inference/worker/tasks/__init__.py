"""One runner per task: it loads what the task needs from the snapshot and answers `predict`.

Every runner has `load(model_dir, context) -> LoadReport | None` and `predict(payload) -> dict`;
`predict` raises ValueError for input the caller must fix. `runner_for` imports only the module of
the configured task, so a worker never imports diffusers unless it serves text-to-image.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from inference.worker.tasks.base import LoadContext

__all__ = ["RUNNERS", "LoadContext", "Runner", "runner_for"]

RUNNERS = {
    "text-generation": "inference.worker.tasks.text_generation:TextGeneration",
    "feature-extraction": "inference.worker.tasks.embeddings:FeatureExtraction",
    "text-classification": "inference.worker.tasks.classification:TextClassification",
    "image-classification": "inference.worker.tasks.classification:ImageClassification",
    "text-to-image": "inference.worker.tasks.text_to_image:TextToImage",
    "custom": "inference.worker.tasks.custom:Custom",
}


class Runner(Protocol):
    def load(self, model_dir: Any, context: LoadContext) -> Any: ...

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]: ...


def runner_for(task: str, **kwargs: Any) -> Runner:
    module_name, _, class_name = RUNNERS[task].partition(":")
    return getattr(importlib.import_module(module_name), class_name)(**kwargs)
