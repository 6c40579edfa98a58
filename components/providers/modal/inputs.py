"""Checking and normalising resource inputs: offline, tolerant of unknowns, one failure per problem.

During `pulumi preview` an input that depends on another resource's output is not known yet and
arrives as `pulumi.output.Unknown` (or, nested in a list or dict, the SDK's UNKNOWN sentinel). Such
values pass `check` unvalidated and make `diff` report a possible change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import CheckFailure

from components.providers.unknowns import has_unknown, is_unknown

# Modal's own rules (modal/_utils/name_utils.py): object names are 1-64 of [A-Za-z0-9-_.] and must
# not look like an app id; environment names start with a letter or digit and may not start with en-.
OBJECT_NAME = re.compile(r"^[a-zA-Z0-9-_.]{1,64}$")
APP_ID = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
ENVIRONMENT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-_]{0,63}$")
ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TAG = re.compile(r"^[a-zA-Z0-9._-]{1,50}$")




class Checker:
    """Collects check failures while normalising one resource's inputs."""

    def __init__(self, news: Mapping[str, Any]):
        self.news = news
        self.failures: list[CheckFailure] = []

    def fail(self, prop: str, reason: str) -> None:
        self.failures.append(CheckFailure(prop, reason))

    def object_name(self, prop: str, kind: str) -> Any:
        value = self.news.get(prop)
        if is_unknown(value):
            return value
        if not isinstance(value, str) or not OBJECT_NAME.match(value) or APP_ID.match(value):
            self.fail(
                prop,
                f"{kind} name must be 1-64 letters, digits, '-', '_' or '.' (Modal's rule); got {value!r}",
            )
        return value

    def environment(self, prop: str = "environment") -> Any:
        value = self.news.get(prop)
        if is_unknown(value):
            return value
        if not isinstance(value, str) or not value:
            self.fail(
                prop,
                "environment is required: name the Modal environment explicitly (e.g. main) so a "
                "MODAL_ENVIRONMENT setting or local profile can never redirect the resource",
            )
        elif not ENVIRONMENT_NAME.match(value) or value.lower().startswith("en-"):
            self.fail(prop, f"{value!r} is not a valid Modal environment name")
        return value

    def integer(self, prop: str, default: int, minimum: int = 0, maximum: int | None = None) -> Any:
        value = self.news.get(prop, default)
        if value is None:
            return default
        if is_unknown(value):
            return value
        # Under the engine, numbers arrive as floats.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(prop, f"must be a whole number; got {value!r}")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.fail(prop, f"must be {bound}; got {value}")
        return value

    def boolean(self, prop: str, default: bool) -> Any:
        value = self.news.get(prop, default)
        if value is None:
            return default
        if is_unknown(value):
            return value
        if not isinstance(value, bool):
            self.fail(prop, f"must be true or false; got {value!r}")
            return default
        return value

    def string(self, prop: str, default: str = "", allowed: tuple[str, ...] = ()) -> Any:
        value = self.news.get(prop, default)
        if value is None:
            return default
        if is_unknown(value):
            return value
        if not isinstance(value, str):
            self.fail(prop, f"must be a string; got {type(value).__name__}")
            return default
        if allowed and value not in allowed:
            self.fail(prop, f"must be one of {', '.join(allowed)}; got {value!r}")
        return value

    def string_list(self, prop: str) -> Any:
        value = self.news.get(prop)
        if value is None:
            return []
        if is_unknown(value):
            return value
        if isinstance(value, str):
            return [value]
        if not isinstance(value, (list, tuple)):
            self.fail(prop, f"must be a list of strings; got {type(value).__name__}")
            return []
        for i, item in enumerate(value):
            if not isinstance(item, str) and not is_unknown(item):
                self.fail(f"{prop}[{i}]", f"must be a string; got {type(item).__name__}")
        return list(value)

    def string_map(self, prop: str, key_pattern: re.Pattern[str] | None = None, what: str = "key") -> Any:
        """A dict of strings. Never puts a value into a failure message: values may be secrets."""
        value = self.news.get(prop)
        if value is None:
            return {}
        if is_unknown(value):
            return value
        if not isinstance(value, Mapping):
            self.fail(prop, f"must be a mapping of strings; got {type(value).__name__}")
            return {}
        for key, item in value.items():
            if key_pattern is not None and not key_pattern.match(str(key)):
                self.fail(f"{prop}.{key}", f"{what} {key!r} is not valid")
            if not isinstance(item, str) and not is_unknown(item):
                self.fail(f"{prop}.{key}", f"must be a string; got {type(item).__name__}")
        return dict(sorted(value.items()))


def camel_case(prop: str) -> str:
    """`secret_id` -> `secretId`."""
    head, *rest = prop.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class CamelCaseProperties:
    """Mixin for dynamic resources: snake_case attributes in Python, camelCase properties in state.

    The SDK names each output attribute after its key in `props` and maps names with these two
    methods on the way to and from the engine. It applies them to the keys of nested dicts too, so
    only the resource's own property names (`PROPERTIES`) are mapped: env var names, mount paths and
    other user keys pass through untouched.
    """

    PROPERTIES: tuple[str, ...] = ()

    def translate_input_property(self, prop: str) -> str:
        return camel_case(prop) if prop in self.PROPERTIES else prop

    def translate_output_property(self, prop: str) -> str:
        for name in self.PROPERTIES:
            if camel_case(name) == prop:
                return name
        return prop


def changed(olds: Mapping[str, Any], news: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    """Inputs among `keys` that differ, counting an unknown new value as a change."""
    return [k for k in keys if has_unknown(news.get(k)) or olds.get(k) != news.get(k)]
