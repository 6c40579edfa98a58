"""`GpuApp`: a user's Modal app file deployed once for several pinned models (`modelstack:apps`).

The children are those of a Modal endpoint (`modal_backend.deploy_app`: volumes, the stack-managed
secrets, the app); what differs is the environment. Instead of one model's settings, the containers
get every listed model's repo and pinned commit:

    MODELSTACK_APP_MODELS                  {"gemma3": {"id": ..., "revision": <sha>, "task": ...}, ...}
    MODELSTACK_MODEL_<KEY>_ID / _REVISION  the same, one variable each (inference.env.model_var)

plus HF_HOME inside the volume marked as the model cache, the stack's name and environment, and the
app's own `env` last (so a system keeps its own variable names through `${models.<key>.sha}`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi

from components.config import App
from components.gpu import modal_backend
from components.gpu.modal_backend import ModalOptions
from inference import contract as worker_env


@dataclass(frozen=True)
class PinnedModelRef:
    """What an app learns about one of its models."""

    repo_id: pulumi.Input[str]
    sha: pulumi.Input[str]
    """The pinned commit; "" for a bucket checkpoint."""
    task: str


class GpuAppArgs(TypedDict):
    stack: str
    environment: str
    app_key: str
    """The app's key in `modelstack:apps`."""
    app: App
    models: Mapping[str, PinnedModelRef]
    """The app's models by key, in the order its config lists them."""
    gpu_ids: pulumi.Input[Sequence[str]]
    env: Mapping[str, pulumi.Input[str]]
    """The app's own env (references resolved): applied last."""
    secret_env: Mapping[str, pulumi.Input[str]]
    modal: ModalOptions
    protect: bool


def app_environment(args: GpuAppArgs, base: str) -> dict[str, pulumi.Input[str]]:
    env: dict[str, pulumi.Input[str]] = {
        modal_backend.ENDPOINT_ID: base,
        worker_env.STACK: args["stack"],
        worker_env.ENVIRONMENT: args["environment"],
    }
    home = modal_backend.hf_home(args["modal"].volumes)
    if home is not None:
        env[worker_env.HF_HOME] = home
    entries: dict[str, pulumi.Input[dict[str, str]]] = {}
    for key, model in args["models"].items():
        env[worker_env.model_var(key, "ID")] = model.repo_id
        if model.sha != "":
            env[worker_env.model_var(key, "REVISION")] = model.sha
        entries[key] = pulumi.Output.all(model.repo_id, model.sha).apply(
            lambda pair, task=model.task: {"id": pair[0], "revision": pair[1], "task": task}
        )
    order = list(args["models"])
    # Keys keep the config's order: an app may load its models in the order it lists them.
    env[worker_env.APP_MODELS] = pulumi.Output.all(*(entries[k] for k in order)).apply(
        lambda values: json.dumps(dict(zip(order, values, strict=True)))
    )
    env.update(args["env"])
    return env


class GpuApp(pulumi.ComponentResource):
    app_id: pulumi.Output[str]
    url: pulumi.Output[str]
    version: pulumi.Output[str]

    def __init__(self, name: str, args: GpuAppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:gpu:App", name, None, opts)
        options = args["modal"]
        base = options.app_name or modal_backend.app_name(args["stack"], args["app_key"])
        outputs = modal_backend.deploy_app(
            self,
            name,
            base=base,
            endpoint=args["app"],
            gpu_ids=args["gpu_ids"],
            env=app_environment(args, base),
            secret_env=args["secret_env"],
            opts=options,
            protect=args["protect"],
        )
        self.name = base
        self.app_id = outputs.endpoint_id
        self.url = outputs.url
        self.version = outputs.version
        self.register_outputs({"name": base, "appId": self.app_id, "url": self.url, "version": self.version})
