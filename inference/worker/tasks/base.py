"""What runners share: the load context, the device choice, and strict request validation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

MAX_BATCH = 32
MAX_TEXT_CHARS = 100_000


@dataclass(frozen=True)
class LoadContext:
    device: torch.device
    dtype: str = "auto"
    threads: int | None = None
    direct_io: str = "auto"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name} was asked for, but CUDA is not available in this container")
    return device


@dataclass(frozen=True)
class Param:
    """One accepted request parameter: its type and bounds."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None

    def check(self, name: str, value: Any) -> Any:
        kind = self.kind
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ValueError(f"parameters.{name} must be {_kind_name(kind)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"parameters.{name} must be a finite number")
        if self.low is not None and value < self.low:
            raise ValueError(f"parameters.{name} must be >= {self.low:g}")
        if self.high is not None and value > self.high:
            raise ValueError(f"parameters.{name} must be <= {self.high:g}")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"parameters.{name} must be one of {', '.join(self.choices)}")
        return value


def _kind_name(kind: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(kind, kind.__name__)


def check_keys(payload: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError("the request must be a JSON object")
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; accepted: {', '.join(allowed)}")
    return payload


def parameters(payload: dict[str, Any], spec: dict[str, Param]) -> dict[str, Any]:
    raw = payload.get("parameters") or {}
    if not isinstance(raw, dict):
        raise ValueError("parameters must be a JSON object")
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; accepted: {', '.join(sorted(spec))}")
    return {name: spec[name].check(name, value) for name, value in raw.items() if value is not None}


def texts(payload: dict[str, Any], field: str = "inputs") -> tuple[list[str], bool]:
    """The request's text input(s) and whether it was a single string."""
    value = payload.get(field)
    single = isinstance(value, str)
    items = [value] if single else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"{field} must be a non-empty string or a list of strings")
    if len(items) > MAX_BATCH:
        raise ValueError(f"{field} holds {len(items)} items; at most {MAX_BATCH} per request")
    for i, item in enumerate(items):
        where = field if single else f"{field}[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{where} must be a non-empty string")
        if len(item) > MAX_TEXT_CHARS:
            raise ValueError(f"{where} is longer than {MAX_TEXT_CHARS} characters")
    return items, single


def max_length(tokenizer: Any, config: Any) -> int:
    """The longest input the model takes: tokenizers often report a huge placeholder."""
    limits = [getattr(tokenizer, "model_max_length", None), getattr(config, "max_position_embeddings", None)]
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 1_000_000]
    return min(usable) if usable else 512
