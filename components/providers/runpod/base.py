"""What every Runpod resource provider shares: credentials from configure(), a client per call,
input fields declared with the shared parsers (`components/providers/inputs.py`), and a pure diff over them.

Rules this module enforces for all four resources (DESIGN.md, "Dynamic providers"):

- The provider object holds nothing but what configure() read, and drops even that when pickled,
  so the API key can never ride along in the serialized provider (`__getstate__`).
- `check` never touches the network; it fills every default explicitly so diffs are stable, and it
  lets values that are unknown during preview (`pulumi.output.Unknown`, possibly nested) through.
- `diff` compares the normalised new inputs with the stored outputs (which `read` keeps equal to
  what the API reports, so drift shows up here); an unknown value counts as a change; fields the
  API cannot change in place are `replaces`; and when the unique name stays the same a replacement
  deletes first, since the new object could not be created beside the old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ResourceProvider

from components.providers.http import ApiError
from components.providers.inputs import Field, check_fields
from components.providers.runpod import settings
from components.providers.runpod.client import RunpodClient
from components.providers.unknowns import has_unknown

PROVIDER_KEY = "__provider"




def digest(value: Any) -> str:
    """A short stable fingerprint of JSON-able data (sorted keys), for change detection only."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# the base provider
# --------------------------------------------------------------------------------------------


class RunpodProvider(ResourceProvider):
    """Base for the Runpod resource providers. Subclasses declare `kind`, `fields`, `outputs`."""

    kind: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    """Output-only properties (ids, URLs): tolerated as inputs, since Resource classes declare them."""

    def __init__(self) -> None:
        super().__init__()

    # ------------------------------------------------------------------ credentials

    def configure(self, req: Any) -> None:
        self._api_key = settings.api_key(req.config)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into every resource's state by the SDK: carry no credential, ever.
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def client(self, props: Mapping[str, Any], *, redact: Sequence[str | None] = ()) -> RunpodClient:
        key = getattr(self, "_api_key", None) or settings.api_key()
        if not key:
            raise ApiError(self.label(props), "connect", settings.MISSING_KEY)
        return RunpodClient(key, base_url=settings.api_base_url(), redact=redact)

    # ------------------------------------------------------------------ naming in errors

    def label(self, props: Mapping[str, Any], object_id: str | None = None) -> str:
        name = props.get("name")
        shown = f" {name!r}" if isinstance(name, str) else ""
        return f"runpod:{self.kind}{shown}" + (f" (id {object_id})" if object_id else "")

    # ------------------------------------------------------------------ check

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_fields(news, self.fields, tolerated={*self.outputs, PROVIDER_KEY}, kind=self.kind)
        if not failures:
            failures.extend(CheckFailure(k, m) for k, m in self.validate(olds, inputs))
        return CheckResult(inputs, failures)

    def validate(self, olds: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Rules across fields (and against the previous inputs); (property, reason) pairs."""
        return []

    # ------------------------------------------------------------------ diff

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed: list[str] = []
        replaces: list[str] = []
        for f in self.fields:
            if not f.compare:
                continue
            if self.differs(f, olds.get(f.key), news.get(f.key)):
                changed.append(f.key)
                if f.replace:
                    replaces.append(f.key)
        extra_changed, extra_replaces = self.extra_diff(olds, news)
        changed += extra_changed
        replaces += extra_replaces
        name = news.get("name")
        same_name = has_unknown(name) or name == olds.get("name")
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            delete_before_replace=bool(replaces) and same_name,
        )

    @staticmethod
    def differs(f: Field, old: Any, new: Any) -> bool:
        if has_unknown(new):
            return True
        if old is None or new is None:
            return old != new
        try:
            return f.parse(old) != new
        except ValueError:
            return True

    def extra_diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """Changes the field table cannot express (hashes, derived values)."""
        return [], []


def in_use(error: ApiError) -> bool:
    """Runpod refuses to delete an object something still uses with a 400/409 saying so."""
    return error.status in (400, 409, None) and "in use" in error.api_message.lower()
