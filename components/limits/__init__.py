"""What each vendor accepts, written once: the config schema, the providers' `check`s and the cost
model all read these tables, so a value passes the offline plan exactly when the vendor takes it.

One module per vendor (`modal`, `runpod`, `cloudrun`); each bound names its source (the vendor's
document, API schema or client code), and tests compare the tables with the sources we hold here
(the `modal` client's own checks, Runpod's OpenAPI schema).
"""

from components.limits import modal, runpod
from components.limits.bounds import Bound

__all__ = ["Bound", "max_gpu_count"]


def max_gpu_count(provider: str, gpu_id: str) -> int:
    """The most GPUs of one type a worker (container) of this provider can have."""
    if provider == "modal":
        return modal.max_gpu_count(gpu_id)
    return int(runpod.GPU_COUNT.maximum or 1)
