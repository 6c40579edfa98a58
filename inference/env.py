"""The worker's environment variable names, kept importable here for existing code.

They are defined in `inference/contract.py`, the one module the program and the runtime share;
new code imports them from there.
"""

from inference.contract import (
    APP_MODELS,
    CALLBACK_SECRET,
    CALLBACK_URL,
    CUSTOM_CLASS,
    DEVICE,
    DIRECT_IO,
    ENDPOINT_ID,
    ENVIRONMENT,
    HF_HOME,
    HF_TOKEN,
    LOAD_THREADS,
    MODEL_CACHE_DIR,
    MODEL_DTYPE,
    MODEL_ID,
    MODEL_KEY,
    MODEL_MANIFEST,
    MODEL_PATH,
    MODEL_REVISION,
    MODEL_TASK,
    STACK,
    model_var,
)

__all__ = ["APP_MODELS", "CALLBACK_SECRET", "CALLBACK_URL", "CUSTOM_CLASS", "DEVICE", "DIRECT_IO", "ENDPOINT_ID", "ENVIRONMENT", "HF_HOME", "HF_TOKEN", "LOAD_THREADS", "MODEL_CACHE_DIR", "MODEL_DTYPE", "MODEL_ID", "MODEL_KEY", "MODEL_MANIFEST", "MODEL_PATH", "MODEL_REVISION", "MODEL_TASK", "STACK", "model_var"]
