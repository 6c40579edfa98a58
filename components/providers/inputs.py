"""Checking dynamic provider inputs: one module for every provider, in the config's own wording.

Each parser takes a raw input value and returns it normalised, or raises `ValueError` with a
problem that continues a property path, as config errors do (`must be between 2 and 3600, not
5000`); numeric bounds come from the vendor tables in `components/limits`, so the config schema and
the provider accept the same values. `Checker` collects one `CheckFailure` per problem while it
normalises a resource's inputs, and lets values that are unknown during `pulumi preview`
(`pulumi.output.Unknown`, or the SDK's sentinel nested in a list or dict) through unvalidated.

Failure reasons never include an input's value where it could be a secret (strings in maps,
passwords): only its type or length.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.dynamic import CheckFailure

from components.limits import Bound
from components.providers.unknowns import has_unknown, is_unknown

Parser = Callable[[Any], Any]

ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_env_name(key: str) -> bool:
    return bool(ENV_VAR.match(key))


# --------------------------------------------------------------------------------------------
# parsers
# --------------------------------------------------------------------------------------------


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


def integer(bound: Bound | None = None, *, minimum: int | None = None) -> Parser:
    """A whole number, within `bound` (a vendor limit) or at least `minimum`."""

    def parse(value: Any) -> int:
        # Numbers cross the Pulumi wire as floats; 3.0 is 3, 3.5 is a mistake.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ValueError(f"must be a whole number, not {value!r}")
        whole = int(value)
        _within(whole, bound, minimum)
        return whole

    return parse


def number(bound: Bound | None = None, *, minimum: float | None = None) -> Parser:
    def parse(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, not {value!r}")
        _within(value, bound, minimum)
        return int(value) if float(value).is_integer() else float(value)

    return parse


def _within(value: float, bound: Bound | None, minimum: float | None) -> None:
    if bound is None and minimum is not None:
        bound = Bound(minimum, None, "")
    problem = bound.problem(value) if bound is not None else None
    if problem:
        raise ValueError(problem)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {value!r}")
    return value


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
    """A mapping of strings to strings, sorted. Values may be secrets: never quoted in a problem."""

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


# --------------------------------------------------------------------------------------------
# a resource's inputs
# --------------------------------------------------------------------------------------------


class Checker:
    """Normalises one resource's inputs, collecting a failure per problem.

    Each method reads `news[prop]`, applies the default when it is absent, passes an unknown value
    through, and otherwise returns the parsed value (or the default, after recording the failure).
    """

    def __init__(self, news: Mapping[str, Any]):
        self.news = news
        self.failures: list[CheckFailure] = []

    def fail(self, prop: str, problem: str) -> None:
        self.failures.append(CheckFailure(prop, problem))

    def parse(self, prop: str, parser: Parser, default: Any = None) -> Any:
        value = self.news.get(prop)
        if value is None:
            return default
        if has_unknown(value):
            return value
        try:
            return parser(value)
        except ValueError as exc:
            self.fail(prop, str(exc))
            return default

    def integer(self, prop: str, default: int, bound: Bound | None = None, *, minimum: int = 0) -> Any:
        return self.parse(prop, integer(bound, minimum=minimum), default)

    def boolean(self, prop: str, default: bool) -> Any:
        return self.parse(prop, boolean, default)

    def string(self, prop: str, default: str = "", allowed: tuple[str, ...] = ()) -> Any:
        parser = one_of(*allowed) if allowed else text(allow_empty=True)
        return self.parse(prop, parser, default)

    def string_list(self, prop: str) -> Any:
        """A list of strings (a single string counts as a list of one); unknown items pass."""
        value = self.news.get(prop)
        if value is None:
            return []
        if is_unknown(value):
            return value
        if isinstance(value, str):
            return [value]
        if not isinstance(value, (list, tuple)):
            self.fail(prop, f"must be a list of strings, not {type(value).__name__}")
            return []
        for i, item in enumerate(value):
            if not isinstance(item, str) and not is_unknown(item):
                self.fail(f"{prop}[{i}]", f"must be a string, not {type(item).__name__}")
        return list(value)

    def string_map(self, prop: str, key_pattern: re.Pattern[str] | None = None, what: str = "key") -> Any:
        """A dict of strings; unknown values pass. Never puts a value into a failure: values may be secrets."""
        value = self.news.get(prop)
        if value is None:
            return {}
        if is_unknown(value):
            return value
        if not isinstance(value, Mapping):
            self.fail(prop, f"must be a mapping of strings, not {type(value).__name__}")
            return {}
        for key, item in value.items():
            if key_pattern is not None and not key_pattern.match(str(key)):
                self.fail(f"{prop}.{key}", f"{what} {key!r} is not valid")
            if not isinstance(item, str) and not is_unknown(item):
                self.fail(f"{prop}.{key}", f"must be a string, not {type(item).__name__}")
        return dict(sorted(value.items()))


# --------------------------------------------------------------------------------------------
# a table of fields, for providers whose inputs are flat
# --------------------------------------------------------------------------------------------

REQUIRED: Any = object()


@dataclass(frozen=True)
class Field:
    key: str
    parse: Parser
    default: Any = REQUIRED
    replace: bool = False
    """The API cannot change it in place: a change replaces the object."""
    compare: bool = True
    """Part of the diff; False for inputs that only steer the provider."""


def check_fields(
    news: Mapping[str, Any], fields: tuple[Field, ...], *, tolerated: set[str], kind: str
) -> tuple[dict[str, Any], list[CheckFailure]]:
    """Parse `news` against a field table: every default filled in explicitly (so diffs are
    stable), unknown values passed through, an unknown key refused. `tolerated` are keys that may
    appear without being fields (outputs the Resource class declares, the SDK's provider key)."""
    inputs: dict[str, Any] = {}
    failures: list[CheckFailure] = []
    known = {f.key for f in fields} | tolerated
    for key in sorted(set(news) - known):
        failures.append(CheckFailure(key, f"unknown input {key!r}; {kind} takes {', '.join(f.key for f in fields)}"))
    for f in fields:
        raw = news.get(f.key)
        if raw is None:
            if f.default is REQUIRED:
                failures.append(CheckFailure(f.key, "is required"))
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
            failures.append(CheckFailure(f.key, str(exc)))
    return inputs, failures
