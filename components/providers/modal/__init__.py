"""Modal as Pulumi resources: secrets, volumes and deployed apps, driven by the real `modal` client.

Type tokens: `pulumi-python:dynamic/modal:Secret`, `.../modal:Volume`, `.../modal:App`. Credentials come
from `configure()` (see `session.py`), never from resource inputs; every resource names its Modal
environment explicitly.
"""

from components.providers.modal.app import ModalApp, ModalAppArgs
from components.providers.modal.secret import ModalSecret, ModalSecretArgs
from components.providers.modal.volume import ModalVolume, ModalVolumeArgs

__all__ = ["ModalApp", "ModalAppArgs", "ModalSecret", "ModalSecretArgs", "ModalVolume", "ModalVolumeArgs"]
