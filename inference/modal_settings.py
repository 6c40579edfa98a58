"""The settings a `ModalApp` deploy hands to a Modal app file: `ModalSettings` and the variable names.

Defined in `inference/contract.py` (the one module the program and the runtime share); this module
keeps the names app files have always imported (`from inference.modal_settings import ModalSettings`).
Standard library only: it runs in the container too.
"""

from pathlib import PurePath

from inference import contract
from inference.contract import ModalSettings, PinnedModel, pinned_models

APP_NAME = contract.MODAL_APP_NAME
ENVIRONMENT = contract.MODAL_ENVIRONMENT
GPU = contract.MODAL_GPU
MIN_CONTAINERS = contract.MODAL_MIN_CONTAINERS
MAX_CONTAINERS = contract.MODAL_MAX_CONTAINERS
BUFFER_CONTAINERS = contract.MODAL_BUFFER_CONTAINERS
SCALEDOWN_WINDOW = contract.MODAL_SCALEDOWN_WINDOW
TIMEOUT = contract.MODAL_TIMEOUT
STARTUP_TIMEOUT = contract.MODAL_STARTUP_TIMEOUT
SECRETS = contract.MODAL_SECRETS
VOLUMES = contract.MODAL_VOLUMES
ENV = contract.MODAL_ENV
WARM_SCHEDULE = contract.MODAL_WARM_SCHEDULE
PROXY_AUTH = contract.MODAL_PROXY_AUTH
REQUIREMENTS = contract.MODAL_REQUIREMENTS
ALL = contract.MODAL_ALL

SETTINGS_SOURCE = frozenset({"__init__.py", "contract.py", "modal_settings.py"})
"""The files of `inference/` this module needs in a container, relative to the package."""


def settings_only(path: PurePath) -> bool:
    """For `image.add_local_python_source("inference", ignore=settings_only)`: ship only what
    `from inference.modal_settings import ...` needs, so an app file that reads its settings is not
    redeployed (nor handed the gateway's code) when the rest of `inference/` changes."""
    return path.as_posix() not in SETTINGS_SOURCE


__all__ = ["ALL", "APP_NAME", "BUFFER_CONTAINERS", "ENV", "ENVIRONMENT", "GPU", "MAX_CONTAINERS", "MIN_CONTAINERS", "PROXY_AUTH", "REQUIREMENTS", "SCALEDOWN_WINDOW", "SECRETS", "SETTINGS_SOURCE", "STARTUP_TIMEOUT", "TIMEOUT", "VOLUMES", "WARM_SCHEDULE", "ModalSettings", "PinnedModel", "pinned_models", "settings_only"]
