"""Physical names for cloud resources: unique per stack, within each API's length and charset rules.

Several stacks (dev, prod, review stacks `pr-<n>`) may share one GCP project, so every physical
name carries the stack. When a name would exceed the API's limit it is shortened and given a short
hash of the full name, so two long names never collide after truncation.
"""

from __future__ import annotations

import hashlib
import re


def physical_name(*parts: str, max_len: int = 63, min_len: int = 1) -> str:
    """Join parts with '-', lowercase, keep [a-z0-9-], and fit in max_len deterministically."""
    raw = "-".join(p for p in parts if p)
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    if not name or not name[0].isalpha():
        name = f"m-{name}".rstrip("-")
    if len(name) > max_len:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
        name = f"{name[: max_len - 7].rstrip('-')}-{digest}"
    while len(name) < min_len:
        name += "-x"
    return name


def labels(stack: str, environment: str, component: str) -> dict[str, str]:
    """GCP labels on every resource we create, so console users can see who owns what."""
    return {
        "managed-by": "modelstack",
        "modelstack-stack": physical_name(stack, max_len=63),
        "modelstack-env": environment,
        "modelstack-component": physical_name(component, max_len=63),
    }


MODAL_APP_NAME_MAX = 48
"""Room for "-cache" and for Modal's web label `<app>-model-web` within 63 characters."""


def modal_app_name(stack: str, model_key: str) -> str:
    """One Modal app per stack and model (or app); lowercase, as Modal's web URLs are."""
    return physical_name("modelstack", stack, model_key, max_len=MODAL_APP_NAME_MAX)
