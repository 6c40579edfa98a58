"""What `pulumi.dynamic` hands a provider's `configure()`, for tests that call providers directly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class ConfigureRequest:
    """`req.config.get("modelstack:credentials")` returns the JSON string the engine would send."""

    def __init__(self, credentials: Mapping[str, Any] | None = None):
        self.config = {"modelstack:credentials": json.dumps(dict(credentials or {}))}


def configured(provider: Any, credentials: Mapping[str, Any] | None = None) -> Any:
    provider.configure(ConfigureRequest(credentials))
    return provider
