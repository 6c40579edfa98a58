"""Values a preview does not know yet, as dynamic providers see them in `check` and `diff`.

The SDK's provider server hands unknown inputs to `check`/`diff` as `pulumi.output.Unknown`
instances; a raw engine value may still carry the sentinel string. Providers must tolerate both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_unknown(value: Any) -> bool:
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)


def has_unknown(value: Any) -> bool:
    """True if a value, or anything inside it (keys included), is not known yet."""
    if is_unknown(value):
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(k) or has_unknown(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(has_unknown(v) for v in value)
    return False
