"""The contract between the program and the runtime: environment variables the program sets and
the gateway or the worker reads, and the settings each refuses to start without.

The program (components/) imports this module and nothing else from inference/, so the offline plan
can check a stack against the runtime's own rules without importing the gateway's or the worker's
dependencies. Standard library only: it ships in every image and in Modal containers.

This branch holds only what issue 12 needs (names as in the lead's module of the same name):
the worker and gateway variables its checks read, the declarative `Required` lists the gateway's
and worker's settings code enforce at start-up and the config check reads at plan time, and the
file patterns the worker never downloads (which size a worker's disk).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

# ============================================================================================
# the GPU worker (inference/worker)
# ============================================================================================

MODEL_TASK = "MODELSTACK_MODEL_TASK"
"""text-generation, feature-extraction, text-classification, image-classification, text-to-image, custom."""
CUSTOM_CLASS = "MODELSTACK_CUSTOM_CLASS"
"""module:Class with load() and predict(), for task=custom."""

# Weight formats the worker never reads: skipping them keeps Hub downloads to what loads.
WORKER_SKIPPED_FILES = (
    "*.h5", "*.msgpack", "*.onnx", "*.onnx_data", "*.tflite", "*.ot", "*.mlmodel", "*.gguf", "*.pb", "*.ckpt",
    "coreml/*", "onnx/*", "openvino/*",
)  # fmt: skip
WORKER_PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth")
"""Skipped too when the snapshot has safetensors (the pickled duplicates of the same weights)."""

# ============================================================================================
# Cloud Run services: the gateway's own settings, which a stack maps through env / secretEnv
# ============================================================================================

SERVICE_MODELS = "MODELSTACK_MODELS"
"""JSON: model key -> {provider, url, ...} for the GPU endpoints a service routes to."""
GATEWAY_API_KEYS = "GATEWAY_API_KEYS"
RUNPOD_API_KEY = "RUNPOD_API_KEY"
"""The gateway calls Runpod's job API for `provider: runpod` routes with this key."""
MODAL_PROXY_TOKEN_ID = "MODAL_PROXY_TOKEN_ID"
MODAL_PROXY_TOKEN_SECRET = "MODAL_PROXY_TOKEN_SECRET"
"""The workspace proxy auth token the gateway sends as Modal-Key / Modal-Secret."""

# ============================================================================================
# settings a runtime refuses to start without
# ============================================================================================

ALWAYS = "always"
ROUTES_RUNPOD = "routes:runpod"
"""The service routes to at least one `provider: runpod` model (MODELSTACK_MODELS names one)."""
TASK_CUSTOM = "task:custom"
"""The worker serves `task: custom`."""


@dataclass(frozen=True)
class Required:
    """One setting a runtime will not start without, and when it is needed."""

    var: str
    when: str
    """ALWAYS, or a fact about the deployment (ROUTES_RUNPOD, TASK_CUSTOM) that makes it needed."""
    why: str
    """What the runtime does with it, for the message that names the missing variable."""


GATEWAY_REQUIRED: tuple[Required, ...] = (
    Required(GATEWAY_API_KEYS, ALWAYS, "it authenticates every request with these keys"),
    Required(RUNPOD_API_KEY, ROUTES_RUNPOD, "it calls Runpod's job API for provider runpod models with it"),
)
"""Enforced by inference/gateway/settings.py at start-up; checked by the stack config at plan time."""

WORKER_REQUIRED: tuple[Required, ...] = (
    Required(CUSTOM_CLASS, TASK_CUSTOM, "it loads task custom from your module:Class"),
)
"""Enforced by inference/worker/settings.py at start-up; checked by the stack config at plan time."""


def missing(required: Iterable[Required], provided: Collection[str], facts: Collection[str]) -> list[Required]:
    """The requirements that apply (`ALWAYS`, or their fact holds) and whose variable is not provided."""
    return [r for r in required if (r.when == ALWAYS or r.when in facts) and r.var not in provided]
