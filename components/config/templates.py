"""Runpod templates with no endpoint of their own: an image other code starts endpoints from.

Visgate's deploy API creates a Runpod serverless endpoint per user request, at run time, from one
template that holds its inference image. The stack builds and pushes that image, creates the
template, and hands its id to the API (`${templates.<key>.id}`); it creates no endpoint itself.

    modelstack:templates:
      inference:
        provider: runpod
        image: images/worker            # a build directory, or registry/name@sha256:...
        name: visgate-inference
        containerDiskGb: 25
        env: {MODELSTACK_MODEL_TASK: text-to-image}
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from components.config.base import StrictModel, check_env_names
from components.limits import runpod as runpod_limits


class Template(StrictModel):
    provider: Literal["runpod"]
    image: str = "images/worker"
    """Image build directory (pushed to the stack's registry), or an image reference pinned by digest."""
    name: str | None = None
    """The template's name on Runpod (unique per account); defaults to modelstack-<stack>-<key>."""
    container_disk_gb: int = Field(default=50, **runpod_limits.CONTAINER_DISK.field_args())
    """Scratch disk per worker of the endpoints started from it: room for the model they download."""
    env: dict[str, str] = Field(default_factory=dict)
    """Plain environment every worker started from the template gets (values may use ${...})."""

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return check_env_names(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", value):
            raise ValueError(f"name {value!r} must be up to 100 letters, digits, '.', '_' or '-'")
        return value
