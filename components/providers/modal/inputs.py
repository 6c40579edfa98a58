"""Modal's input rules on top of the shared checker (`components/providers/inputs.py`).

During `pulumi preview` an input that depends on another resource's output is not known yet and
arrives as `pulumi.output.Unknown` (or, nested in a list or dict, the SDK's UNKNOWN sentinel). Such
values pass `check` unvalidated and make `diff` report a possible change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from components.providers import inputs
from components.providers.inputs import ENV_VAR  # noqa: F401  (re-exported for the Modal resources)
from components.providers.unknowns import has_unknown, is_unknown

# Modal's own rules (modal/_utils/name_utils.py): object names are 1-64 of [A-Za-z0-9-_.] and must
# not look like an app id; environment names start with a letter or digit and may not start with en-.
OBJECT_NAME = re.compile(r"^[a-zA-Z0-9-_.]{1,64}$")
APP_ID = re.compile(r"^ap-[a-zA-Z0-9]{22}$")
ENVIRONMENT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-_]{0,63}$")
TAG = re.compile(r"^[a-zA-Z0-9._-]{1,50}$")


class Checker(inputs.Checker):
    """The shared input checker plus Modal's naming rules."""

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
