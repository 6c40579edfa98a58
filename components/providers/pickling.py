"""A guard around the Pulumi SDK's provider serialisation, which otherwise breaks large stacks.

`pulumi.dynamic.dynamic.serialize_provider` makes dill's output deterministic by wrapping
`pickle._Pickler._batch_setitems` in a sorting function, and restores `pickle.Pickler` afterwards
but not that method: every dynamic resource created adds one more wrapper around the last. Pickling
a dict then recurses once per dynamic resource created so far in the process, and past Python's
recursion limit (~1,000: about 150 models with their endpoints, pins and secrets) the program dies
with "maximum recursion depth exceeded" (the symptom of pulumi/pulumi#17803). This module wraps the
function so the method is put back after each call. The serialised bytes are unchanged.
"""

from __future__ import annotations

import functools
import pickle
from typing import Any

_MARK = "_modelstack_restores_batch_setitems"


def install() -> None:
    """Idempotent: patch `serialize_provider` once per process."""
    from pulumi.dynamic import dynamic

    original = dynamic.serialize_provider
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def serialize_provider(provider: Any) -> str:
        saved = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
        try:
            return original(provider)
        finally:
            pickle._Pickler._batch_setitems = saved  # type: ignore[attr-defined]

    setattr(serialize_provider, _MARK, True)
    dynamic.serialize_provider = serialize_provider
