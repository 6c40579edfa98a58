"""Keys one provider honours and the other would silently ignore: an error naming the provider.

Both providers share one endpoint shape, so some keys exist for one of them only. A key the user set
(`model_fields_set`) on the other provider would change nothing at deploy time; it fails the plan
instead, saying what the provider does instead. Defaults are never reported.
"""

from __future__ import annotations

from components.config.base import NAMESPACE
from components.config.endpoints import Endpoint
from components.config.stack import ModelstackConfig

RUNPOD_ONLY: dict[str, tuple[str, str]] = {
    # field: (config key, what a Modal endpoint does instead)
    "scaling": (
        "scaling",
        "Modal scales containers between workers.min and workers.max by itself (workers.buffer keeps extra "
        "ones warm); remove it",
    ),
    "flashboot": (
        "flashboot",
        "Modal endpoints have no FlashBoot; for fast starts keep containers warm (workers.min, workers.buffer, "
        "modal.warmSchedule) or snapshot memory in your app file (@app.cls(enable_memory_snapshot=True)); remove it",
    ),
    "data_centers": (
        "dataCenters",
        "a Modal app picks its region in its app file (@app.function(region=...)); remove it",
    ),
    "image": (
        "image",
        "a Modal endpoint's image is built by its app file (modal.appFile); remove it",
    ),
}
MODAL_ONLY_WORKERS: dict[str, tuple[str, str]] = {
    "buffer": (
        "workers.buffer",
        "Runpod has no buffer workers; workers.min keeps workers always on; raise workers.min or remove it",
    ),
}


def endpoint_key_problems(path: str, endpoint: Endpoint) -> list[str]:
    """`path` is the endpoint's key path (`modelstack:models.flux.endpoint`)."""
    problems: list[str] = []
    if endpoint.provider == "modal":
        for field, (key, instead) in RUNPOD_ONLY.items():
            if field in endpoint.model_fields_set:
                problems.append(f"{path}.{key}: Runpod only; {instead}")
    if endpoint.provider == "runpod":
        for field, (key, instead) in MODAL_ONLY_WORKERS.items():
            if field in endpoint.workers.model_fields_set:
                problems.append(f"{path}.{key}: Modal only; {instead}")
    return problems


def provider_key_problems(cfg: ModelstackConfig) -> list[str]:
    problems: list[str] = []
    for key, model in cfg.models.items():
        if model.endpoint is not None:
            problems.extend(endpoint_key_problems(f"{NAMESPACE}models.{key}.endpoint", model.endpoint))
    return problems
