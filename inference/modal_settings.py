"""The settings a `ModalApp` deploy hands to a Modal app file: `ModalSettings` and the variable names.

Defined in `inference/contract.py` (the one module the program and the runtime share); this module
keeps the names app files have always imported (`from inference.modal_settings import ModalSettings`).
Standard library only: it runs in the container too.
"""

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
SECRETS = contract.MODAL_SECRETS
VOLUMES = contract.MODAL_VOLUMES
ENV = contract.MODAL_ENV
WARM_SCHEDULE = contract.MODAL_WARM_SCHEDULE
PROXY_AUTH = contract.MODAL_PROXY_AUTH
REQUIREMENTS = contract.MODAL_REQUIREMENTS
ALL = contract.MODAL_ALL

__all__ = ["ALL", "APP_NAME", "BUFFER_CONTAINERS", "ENV", "ENVIRONMENT", "GPU", "MAX_CONTAINERS", "MIN_CONTAINERS", "PROXY_AUTH", "REQUIREMENTS", "SCALEDOWN_WINDOW", "SECRETS", "TIMEOUT", "VOLUMES", "WARM_SCHEDULE", "ModalSettings", "PinnedModel", "pinned_models"]
