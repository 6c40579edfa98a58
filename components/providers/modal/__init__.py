"""Modal as Pulumi resources: secrets, volumes and deployed apps, driven by the real `modal` client.

Type tokens: `pulumi-python:dynamic/modal:Secret`, `.../modal:Volume`, `.../modal:App`. Credentials come
from `configure()` (see `session.py`), never from resource inputs; every resource names its Modal
environment explicitly.

The resource classes are imported lazily: the deploy subprocess (`python -m
components.providers.modal.deploy`) imports this package first and must not pay for pulumi.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModalApp": "app",
    "ModalAppArgs": "app",
    "ModalSecret": "secret",
    "ModalSecretArgs": "secret",
    "ModalVolume": "volume",
    "ModalVolumeArgs": "volume",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
