"""custom: the user's own class, named `module.path:ClassName`, with `load()` and `predict()`.

This is how teams bring models transformers does not know (Hippo's numpy MLP, a LoRA fusion
model): the class is created with no arguments, `load()` runs once per container (it receives
the model directory when it takes a parameter and the stack names a model), and
`predict(payload: dict)` returns a JSON-serialisable dict (anything else is wrapped as
{"output": ...}). A ValueError it raises is reported to the caller as bad input.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from inference.worker.tasks.base import LoadContext


def import_class(spec: str) -> type:
    module_name, _, attr_path = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeError(f"custom class {spec}: cannot import {module_name} ({exc})") from None
    for part in attr_path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise RuntimeError(f"custom class {spec}: {module_name} has no {attr_path}")
    if not inspect.isclass(obj):
        raise RuntimeError(f"custom class {spec}: {attr_path} is not a class")
    for method in ("load", "predict"):
        if not callable(getattr(obj, method, None)):
            raise RuntimeError(f"custom class {spec}: it has no {method}() method")
    return obj


def _takes_argument(method: Any) -> bool:
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


class Custom:
    def __init__(self, spec: str):
        self.spec = spec

    def load(self, model_dir: Path | None, context: LoadContext) -> None:
        self.instance = import_class(self.spec)()
        if _takes_argument(self.instance.load):
            self.instance.load(model_dir)
        else:
            self.instance.load()

    def predict(self, payload: dict[str, Any]) -> dict[str, Any]:
        result = self.instance.predict(payload)
        return result if isinstance(result, dict) else {"output": result}
