"""What every Runpod resource provider shares: credentials from configure(), a client per call,
declared input fields with offline validation, and a pure diff over them.

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

import copy
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pulumi.dynamic import CheckFailure, CheckResult, DiffResult, ResourceProvider

from components.providers.http import ApiError
from components.providers.runpod import settings
from components.providers.runpod.client import RunpodClient
from components.providers.unknowns import has_unknown

PROVIDER_KEY = "__provider"
REQUIRED: Any = object()




def digest(value: Any) -> str:
    """A short stable fingerprint of JSON-able data (sorted keys), for change detection only."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# input fields
# --------------------------------------------------------------------------------------------

Parser = Callable[[Any], Any]


@dataclass(frozen=True)
class Field:
    key: str
    parse: Parser
    default: Any = REQUIRED
    replace: bool = False
    """The API cannot change it in place: a change replaces the object."""
    compare: bool = True
    """Part of the diff; False for inputs that only steer the provider."""


def text(*, allow_empty: bool = False, max_len: int = 10_000) -> Parser:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"must be a string, not {type(value).__name__}")
        if not allow_empty and not value.strip():
            raise ValueError("must not be empty")
        if len(value) > max_len:
            raise ValueError(f"must be at most {max_len} characters")
        return value

    return parse


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(value: Any) -> int:
        # Numbers cross the Pulumi wire as floats; 3.0 is 3, 3.5 is a mistake.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ValueError(f"must be a whole number, not {value!r}")
        number = int(value)
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum}, not {number}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}, not {number}")
        return number

    return parse


def number(*, minimum: float | None = None) -> Parser:
    def parse(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, not {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum:g}, not {value:g}")
        return int(value) if float(value).is_integer() else float(value)

    return parse


def one_of(*choices: str) -> Parser:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, not {value!r}")
        return str(value)

    return parse


def optional(parser: Parser) -> Parser:
    def parse(value: Any) -> Any:
        return None if value is None else parser(value)

    return parse


def string_list(*, min_items: int = 0, unique: bool = False) -> Parser:
    def parse(value: Any) -> list[str]:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError("must be a list of non-empty strings")
        items = [v.strip() for v in value]
        if len(items) < min_items:
            raise ValueError(f"must list at least {min_items}")
        if unique and len(set(items)) != len(items):
            raise ValueError("must not repeat an entry")
        return items

    return parse


def string_map(*, key_pattern: Callable[[str], bool] | None = None, what: str = "key") -> Parser:
    def parse(value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise ValueError("must be a mapping of strings to strings")
        out: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(key, str) or (key_pattern is not None and not key_pattern(key)):
                raise ValueError(f"{what} {key!r} is not valid")
            if not isinstance(item, str):
                raise ValueError(f"value of {key!r} must be a string, not {type(item).__name__}")
            out[key] = item
        return dict(sorted(out.items()))

    return parse


def is_env_name(key: str) -> bool:
    return bool(key) and (key[0].isalpha() or key[0] == "_") and all(c.isalnum() or c == "_" for c in key)


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
        inputs: dict[str, Any] = {}
        failures: list[CheckFailure] = []
        known_keys = {f.key for f in self.fields} | set(self.outputs) | {PROVIDER_KEY}
        for key in sorted(set(news) - known_keys):
            failures.append(CheckFailure(key, f"unknown input {key!r}; {self.kind} takes {self._field_list()}"))
        for f in self.fields:
            raw = news.get(f.key)
            if raw is None:
                if f.default is REQUIRED:
                    failures.append(CheckFailure(f.key, f"{f.key} is required"))
                    continue
                raw = copy.deepcopy(f.default)
                if raw is None:
                    inputs[f.key] = None
                    continue
            if has_unknown(raw):
                inputs[f.key] = raw
                continue
            try:
                inputs[f.key] = f.parse(raw)
            except ValueError as exc:
                failures.append(CheckFailure(f.key, f"{f.key} {exc}"))
        if not failures:
            failures.extend(CheckFailure(k, m) for k, m in self.validate(olds, inputs))
        return CheckResult(inputs, failures)

    def validate(self, olds: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Rules across fields (and against the previous inputs); (property, reason) pairs."""
        return []

    def _field_list(self) -> str:
        return ", ".join(f.key for f in self.fields)

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
