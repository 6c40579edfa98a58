"""`RunpodSecret`: an account secret that templates and endpoints reference, never copy.

The value is a Pulumi secret input. It leaves the provider in exactly one place, the variables of
the `secretCreate` request to Runpod, and is never returned: outputs hold the secret's id, name,
`reference` (`{{ RUNPOD_SECRET_<name> }}`, what a template's env should contain, so plaintext never
reaches Runpod env) and a salted HMAC-SHA256 of the value (`valueHash`, additionally marked secret)
against which `diff` detects a new value without ever comparing or storing the value itself. The
salt is random per secret, made once in `check` and kept from the previous inputs.

Runpod's GraphQL API has no update for secrets, so a new value, name or description replaces the
secret: delete first when the name stays (names are unique), create first when it changes (the
endpoint backend gives a rotated secret a new name, so endpoints switch over before the old secret
goes). A secret found under our name when creating was left by an interrupted earlier attempt; its
value cannot be read back to verify, so it is deleted and created again rather than adopted, except
within one create call, where a dropped answer is resolved by adopting what that very call made.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckResult, CreateResult, ReadResult, UpdateResult

from components.providers.http import ApiError, create_once, retry_while_in_use
from components.providers.inputs import Field, text
from components.providers.runpod.base import RunpodProvider, has_unknown, in_use
from components.providers.salting import hmac_hex, is_salt, keep_or_new_salt

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def secret_name(value: Any) -> str:
    name = text(max_len=128)(value)
    if not _NAME.match(name):
        raise ValueError(f"{name!r} must be letters, digits, '-' and '_', starting with a letter or digit")
    return name


def value_hash(salt: str, value: str) -> str:
    return hmac_hex(salt, value)


def reference(name: str) -> str:
    """How templates and endpoints refer to a secret; Runpod substitutes the value at boot."""
    return "{{ RUNPOD_SECRET_" + name + " }}"


class SecretProvider(RunpodProvider):
    kind = "Secret"
    fields = (
        Field("name", secret_name, replace=True),
        Field("value", text(max_len=65_536), compare=False),
        Field("description", text(allow_empty=True, max_len=500), default="", replace=True),
        Field("salt", text(), default=None, compare=False),
    )
    outputs = ("secretId", "reference", "valueHash")

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = {k: v for k, v in news.items() if k != "salt"}  # the provider owns the salt
        result = super().check(olds, news)
        old_salt = olds.get("salt")
        result.inputs["salt"] = keep_or_new_salt(old_salt)
        return result

    def extra_diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        value, salt, stored = news.get("value"), olds.get("salt"), olds.get("valueHash")
        if has_unknown(value) or not is_salt(salt) or not isinstance(stored, str):
            return ["value"], ["value"]
        if not hmac.compare_digest(value_hash(salt, value), stored):
            return ["value"], ["value"]
        return [], []

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = self.label(props)
        name, value = props["name"], props["value"]
        with self.client(props, redact=[value]) as api:
            leftover = api.find_secret(name, resource=label, operation="create")
            if leftover is not None:
                retry_while_in_use(lambda: api.delete_secret(leftover["id"], resource=self.label(props, leftover["id"])),
                                   in_use, policy=api.policy)
            created = create_once(
                lambda: api.create_secret(name, value, props.get("description") or "", resource=label),
                lambda: api.find_secret(name, resource=label, operation="create"),
                policy=api.policy,
                resource=label,
            )
        return CreateResult(created["id"], self._outputs(created, props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.client(props) as api:
            found = next((s for s in api.list_secrets(resource=self.label(props, id_), operation="read")
                          if s["id"] == id_), None)
        if found is None:
            return ReadResult("", {})
        return ReadResult(id_, self._outputs(found, props))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # diff marks every change as a replacement; reaching this is a bug, not a user error.
        raise ApiError(self.label(news, id_), "update", "Runpod secrets cannot be changed in place")

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        label = self.label(props, id_)
        with self.client(props) as api:
            retry_while_in_use(lambda: api.delete_secret(id_, resource=label), in_use, policy=api.policy)

    @staticmethod
    def _outputs(secret: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        salt = props["salt"]
        stored = props.get("valueHash")
        return {
            "secretId": secret["id"],
            "name": secret["name"],
            "description": secret.get("description") or "",
            "reference": reference(secret["name"]),
            "salt": salt,
            # On read the value is not in hand (it is write-only upstream): keep what create stored.
            "valueHash": value_hash(salt, props["value"]) if isinstance(props.get("value"), str) else stored,
        }


class RunpodSecretArgs(TypedDict, total=False):
    name: pulumi.Input[str]
    """Unique secret name; templates reference it as {{ RUNPOD_SECRET_<name> }}."""
    value: pulumi.Input[str]
    """The secret value; pass a Pulumi secret (pulumi.Output.secret / config.require_secret)."""
    description: pulumi.Input[str]


class RunpodSecret(pulumi.dynamic.Resource, module="runpod", name="Secret"):
    secret_id: pulumi.Output[str]
    reference: pulumi.Output[str]
    """`{{ RUNPOD_SECRET_<name> }}`: put this, not the value, in a template's env."""

    def __init__(self, name: str, args: RunpodSecretArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "name": args["name"],
            "value": pulumi.Output.secret(args["value"]),
            "description": args.get("description"),
            "secretId": None,
            "reference": None,
            "valueHash": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["valueHash"]))
        super().__init__(SecretProvider(), name, props, opts)
        self.secret_id = self.secretId  # type: ignore[attr-defined]
