"""How config values reach a program: the CLI hands every value over as a string, and structured
ones (objects, lists) as JSON. Standard library only: the policy pack, which runs without the
program's dependencies, reads config the same way."""

from __future__ import annotations

import json
from typing import Any


def decode(value: Any) -> Any:
    """A config value as the user wrote it: JSON objects and lists parsed, anything else as given."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
