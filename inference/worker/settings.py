"""The worker's settings, read once from its environment and validated before anything loads.

Every problem is reported at once, each naming the variable, so a misconfigured endpoint fails
its first start with a message that says what to fix. Secrets (HF token, callback secret, S3
keys) are kept out of `repr` and are what `redact` scrubs from any text the worker emits.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from inference import contract, env

TASKS = contract.TASKS
DIRECT_MODES = ("auto", "on", "off")
DTYPES = ("auto", "bfloat16", "float16", "float32")
_SHA = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_CUSTOM = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
# Variables whose values must never appear in logs, errors or callbacks.
SECRET_VARIABLES = (
    env.HF_TOKEN, env.CALLBACK_SECRET, "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "VISGATE_INTERNAL_SECRET",  # Visgate's callback secret (inference/worker/visgate.py)
)


class SettingsError(ValueError):
    """The environment does not describe a loadable model; one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid worker environment:\n" + "\n".join(f"- {p}" for p in problems))


@dataclass(frozen=True)
class Settings:
    model_key: str
    task: str
    model_id: str | None = None
    revision: str | None = None
    model_path: Path | None = None
    manifest: str | None = None
    custom_class: str | None = None
    callback_url: str | None = None
    callback_secret: str | None = field(default=None, repr=False)
    hf_token: str | None = field(default=None, repr=False)
    cache_dir: Path | None = None
    device: str = "auto"
    dtype: str = "auto"
    load_threads: int | None = None
    direct_io: str = "auto"
    stack: str | None = None
    environment: str | None = None
    provider: str = "local"
    """runpod, modal or local: where this process runs, read from the platform's own variables."""
    endpoint_id: str | None = None
    worker_id: str = ""
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        e = dict(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = e.get(name, "").strip()
            return value or None

        problems: list[str] = []
        custom_class = get(env.CUSTOM_CLASS)
        task = get(env.MODEL_TASK) or ("custom" if custom_class else None)
        if task is None:
            problems.append(f"{env.MODEL_TASK} is required (one of {', '.join(TASKS)})")
        elif task not in TASKS:
            problems.append(f"{env.MODEL_TASK}={task!r} is not one of {', '.join(TASKS)}")
        # What the worker cannot start without is declared in inference/contract.py, so the stack
        # config checks the same list at plan time.
        facts = {contract.TASK_CUSTOM} if task == "custom" else set()
        provided = {name for name, value in e.items() if value.strip()}
        for needed in contract.missing(contract.WORKER_REQUIRED, provided, facts):
            problems.append(f"{needed.var} is required for task {task}: {needed.why} (module.path:ClassName)")
        if task == "custom" and custom_class and not _CUSTOM.match(custom_class):
            problems.append(f"{env.CUSTOM_CLASS}={custom_class!r} must look like module.path:ClassName")

        model_id, revision = get(env.MODEL_ID), get(env.MODEL_REVISION)
        model_path, manifest = get(env.MODEL_PATH), get(env.MODEL_MANIFEST)
        if model_id and not _REPO.match(model_id):
            problems.append(f"{env.MODEL_ID}={model_id!r} must be a Hugging Face repo id like org/name")
        if revision and not _SHA.match(revision):
            problems.append(
                f"{env.MODEL_REVISION}={revision!r} must be a 40-character commit sha (workers never load a moving branch)"
            )
        if model_id and not revision and not model_path and not manifest:
            problems.append(f"{env.MODEL_REVISION} is required with {env.MODEL_ID} (the pinned commit sha)")
        if manifest and not (manifest.startswith("s3://") and manifest.endswith(".json") and "/" in manifest[5:]):
            problems.append(f"{env.MODEL_MANIFEST}={manifest!r} must be s3://bucket/path/manifest.json")
        if task not in (None, "custom") and not (model_id or model_path or manifest):
            problems.append(f"set one of {env.MODEL_PATH}, {env.MODEL_MANIFEST} or {env.MODEL_ID} for task {task}")

        callback_url, callback_secret = get(env.CALLBACK_URL), get(env.CALLBACK_SECRET)
        if callback_url and not callback_url.startswith(("http://", "https://")):
            problems.append(f"{env.CALLBACK_URL} must be an http(s) URL")
        if callback_url and not callback_secret:
            problems.append(f"{env.CALLBACK_SECRET} is required with {env.CALLBACK_URL} (callbacks are always signed)")

        device = get(env.DEVICE) or "auto"
        if not _DEVICE.match(device):
            problems.append(f"{env.DEVICE}={device!r} must be auto, cpu, cuda or cuda:N")
        dtype = get(env.MODEL_DTYPE) or "auto"
        if dtype not in DTYPES:
            problems.append(f"{env.MODEL_DTYPE}={dtype!r} must be one of {', '.join(DTYPES)}")
        direct_io = get(env.DIRECT_IO) or "auto"
        if direct_io not in DIRECT_MODES:
            problems.append(f"{env.DIRECT_IO}={direct_io!r} must be one of {', '.join(DIRECT_MODES)}")
        threads: int | None = None
        raw_threads = get(env.LOAD_THREADS)
        if raw_threads:
            if raw_threads.isdigit() and 1 <= int(raw_threads) <= 256:
                threads = int(raw_threads)
            else:
                problems.append(f"{env.LOAD_THREADS}={raw_threads!r} must be a whole number from 1 to 256")
        if problems:
            raise SettingsError(problems)

        hf_home = get(env.HF_HOME)
        cache_dir = get(env.MODEL_CACHE_DIR)
        if cache_dir:
            cache = Path(cache_dir)
        elif hf_home:
            cache = Path(hf_home) / "modelstack"
        else:
            cache = Path.home() / ".cache" / "modelstack"

        provider, endpoint_id, worker_id = _platform(e)
        secrets = tuple(v for v in (e.get(name, "") for name in SECRET_VARIABLES) if len(v) >= 4)
        assert task is not None
        return cls(
            model_key=get(env.MODEL_KEY) or model_id or "model",
            task=task,
            model_id=model_id,
            revision=revision,
            model_path=Path(model_path) if model_path else None,
            manifest=manifest,
            custom_class=custom_class,
            callback_url=callback_url,
            callback_secret=callback_secret,
            hf_token=get(env.HF_TOKEN),
            cache_dir=cache,
            device=device,
            dtype=dtype,
            load_threads=threads,
            direct_io=direct_io,
            stack=get(env.STACK),
            environment=get(env.ENVIRONMENT),
            provider=provider,
            endpoint_id=endpoint_id,
            worker_id=worker_id,
            secrets=secrets,
        )

    def redact(self, text: str) -> str:
        """`text` with every secret value replaced, for anything that leaves the process."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _platform(e: Mapping[str, str]) -> tuple[str, str | None, str]:
    """(provider, endpoint id, worker id) from the variables Runpod and Modal set in containers."""
    explicit = e.get(env.ENDPOINT_ID) or None
    if e.get("RUNPOD_ENDPOINT_ID") or e.get("RUNPOD_POD_ID"):
        endpoint = e.get("RUNPOD_ENDPOINT_ID") or explicit
        return "runpod", endpoint, e.get("RUNPOD_POD_ID") or socket.gethostname()
    if e.get("MODAL_TASK_ID") or e.get("MODAL_IS_REMOTE"):
        # Modal sets no app name in the container: the deployment passes it as ENDPOINT_ID.
        return "modal", explicit, e.get("MODAL_TASK_ID") or socket.gethostname()
    return "local", explicit, socket.gethostname()
