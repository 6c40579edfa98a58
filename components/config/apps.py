"""Apps: your own Modal app file serving several pinned models (or none) in one deployment.

A model's `endpoint` is the plain case: one model, one deployment. Seed systems often run one app for
many models (HatCat's container holds two Gemma models and a lens pack; Modomo's function chains
Stable Diffusion, ControlNet and detectors). An app declares the deployment once and lists the
models it uses; each listed model is pinned like any other and its repo and commit reach the app's
environment (`MODELSTACK_MODEL_<KEY>_ID`, `MODELSTACK_MODEL_<KEY>_REVISION`, and all of them as JSON
in `MODELSTACK_APP_MODELS`, see `inference/env.py`).

    modelstack:apps:
      hatcat:
        models: [gemma3, gemma2, lens]
        gpu: {type: T4}
        workers: {min: 0, max: 1}
        idleTimeoutSeconds: 300
        modal: {appFile: examples/hatcat/modal_app.py, webEndpoints: [HatCat.ui], ...}
        usage: {activeHoursPerDay: 3}

An app is an endpoint in everything but the model: it shares the endpoint's keys (gpu, workers,
timeouts, env, secretEnv, modal) and their vendor limits, and the cost model prices it the same way.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic.alias_generators import to_camel

from components.config.endpoints import Endpoint
from components.config.models import Usage

# Endpoint keys that only mean something on Runpod (or for our own worker image); an app runs a
# Modal app file, so setting one of them is a mistake to report, not a value to ignore.
_RUNPOD_ONLY = ("image", "data_centers", "flashboot", "scaling", "runpod")


class App(Endpoint):
    """A Modal app file that uses `models` (keys of modelstack:models), deployed as one app."""

    provider: Literal["modal"] = "modal"
    """Apps run a Modal app file; a Runpod deployment serves one model (models.<key>.endpoint)."""
    models: list[str] = Field(default_factory=list)
    """Models the app uses, in the order it loads them; each is pinned and its repo and sha reach
    the app's environment. Empty for an app that loads no Hub model."""
    usage: Usage | None = None
    """Expected traffic, for the cost estimate and the budget gate (see `Usage`)."""

    @model_validator(mode="before")
    @classmethod
    def _no_default_web_endpoint(cls, data: Any) -> Any:
        # The endpoint default (`Model.web`) names our own app file's class; a user's app file has
        # its own, so an app without webEndpoints has none.
        if isinstance(data, dict) and isinstance(data.get("modal"), dict) and "webEndpoints" not in data["modal"]:
            data = {**data, "modal": {**data["modal"], "webEndpoints": []}}
        return data

    @model_validator(mode="after")
    def _an_app_of_its_own(self) -> App:
        extra = [to_camel(k) for k in _RUNPOD_ONLY if k in self.model_fields_set]
        if extra:
            raise ValueError(
                f"{', '.join(extra)}: only applies to Runpod endpoints; an app runs its Modal app file, remove it"
            )
        if self.modal is None or "app_file" not in self.modal.model_fields_set:
            raise ValueError(
                "modal.appFile: is required; an app deploys your own Modal app file (e.g. examples/hatcat/modal_app.py)"
            )
        if self.gpu.min_vram_gb == "auto":
            raise ValueError(
                "gpu.minVramGb: auto sizes from one pinned model; an app serves several, so give a number, types or type"
            )
        seen: set[str] = set()
        twice = sorted({m for m in self.models if m in seen or seen.add(m)})  # type: ignore[func-returns-value]
        if twice:
            raise ValueError(f"models: {', '.join(twice)} is listed more than once")
        return self
