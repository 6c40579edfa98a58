"""Environment variables that connect the infrastructure to the running services.

The providers (Runpod template/endpoint env, Modal app settings, Cloud Run env) set these; the
worker and gateway read them. One module names them so neither side can drift from the other.
"""

# --- the worker: which model to load, and how ---
MODEL_KEY = "MODELSTACK_MODEL_KEY"
"""The model's key in the stack config (e.g. flux); names the endpoint in logs and callbacks."""
MODEL_ID = "MODELSTACK_MODEL_ID"
"""Hugging Face repo id, e.g. black-forest-labs/FLUX.1-schnell."""
MODEL_REVISION = "MODELSTACK_MODEL_REVISION"
"""The pinned commit sha. Workers never load a moving branch."""
MODEL_TASK = "MODELSTACK_MODEL_TASK"
"""text-generation, feature-extraction, text-classification, image-classification, text-to-image, custom."""
MODEL_PATH = "MODELSTACK_MODEL_PATH"
"""A local directory (Modal or Runpod volume) already holding the snapshot; skips the Hub."""
MODEL_MANIFEST = "MODELSTACK_MODEL_MANIFEST"
"""s3://bucket/models/<org>/<name>/<sha>/manifest.json written by the ModelMirror resource."""
CUSTOM_CLASS = "MODELSTACK_CUSTOM_CLASS"
"""module:Class with load() and predict(), for task=custom."""
APP_MODELS = "MODELSTACK_APP_MODELS"
"""An app's pinned models (modelstack:apps.<key>.models) as a JSON object:
{"<model key>": {"id": "<repo id>", "revision": "<commit sha>", "task": "<task>"}}. A bucket checkpoint
has s3://<bucket>/<prefix> as its id and an empty revision (its content is pinned where it is copied)."""
STACK = "MODELSTACK_STACK"
ENVIRONMENT = "MODELSTACK_ENVIRONMENT"

# --- readiness callback from worker to gateway ---
CALLBACK_URL = "MODELSTACK_CALLBACK_URL"
CALLBACK_SECRET = "MODELSTACK_CALLBACK_SECRET"

# --- Hugging Face client settings, honoured by huggingface_hub itself ---
HF_TOKEN = "HF_TOKEN"
HF_HOME = "HF_HOME"

# --- worker tuning (optional; defaults suit a GPU worker) ---
DEVICE = "MODELSTACK_DEVICE"
"""auto (cuda when available, else cpu), cpu, cuda or cuda:N."""
MODEL_DTYPE = "MODELSTACK_MODEL_DTYPE"
"""auto (the checkpoint's, as transformers' dtype="auto"), bfloat16, float16 or float32."""
LOAD_THREADS = "MODELSTACK_LOAD_THREADS"
"""Parallel readers for the weights (default 16 on a GPU, 8 on CPU)."""
DIRECT_IO = "MODELSTACK_DIRECT_IO"
"""auto (O_DIRECT for files not in the page cache), on or off."""
MODEL_CACHE_DIR = "MODELSTACK_MODEL_CACHE_DIR"
"""Where snapshots fetched from a bucket manifest are kept (default $HF_HOME/modelstack)."""
ENDPOINT_ID = "MODELSTACK_ENDPOINT_ID"
"""Names the endpoint in the readiness callback where the platform does not (Modal: the app name).
On Runpod the worker reads RUNPOD_ENDPOINT_ID, which Runpod sets."""


def model_var(model_key: str, field: str) -> str:
    """One app model's own variable: `model_var("controlnet-depth", "REVISION")` is
    MODELSTACK_MODEL_CONTROLNET_DEPTH_REVISION (fields ID and REVISION, as in APP_MODELS)."""
    return f"MODELSTACK_MODEL_{model_key.upper().replace('-', '_')}_{field}"
