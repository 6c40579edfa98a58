"""`RunpodRegistryAuth`: a container registry credential that templates reference to pull private images.

REST v2 `/v2/registries` stores a name, a username and a password; the credentials are write-only
(responses carry only `id` and `name`) and there is no update. So:

- the password is a Pulumi secret input. It leaves the provider only in the body of the
  `POST /v2/registries` that creates the credential. The output of the same top-level name
  (`password`, so the engine keeps it secret; also in `additional_secret_outputs`) holds
  `hmac-sha256:<hex>`, a salted HMAC of the value, never the value; `diff` detects a new password by
  it. The salt is random per resource, made once in `check` and kept from the previous inputs;
- the username is plain (for Artifact Registry it is `_json_key` or `_json_key_base64`) and kept in
  state from the inputs, since the API never returns it;
- a change of name, username or password replaces the credential. When the name stays the same
  the old one is deleted first (names are how `create` finds its own objects, so two must never
  share one). Deleting a credential does not fail while templates reference it: Runpod silently
  clears their `registry`, so workers that start in between cannot pull the image. The endpoint
  backend therefore names a credential after a hash of its username and password
  (`<prefix>-registry-<rotation>`): a rotated password gets a new name, the credential is created
  first, templates switch to it, and only then is the old one deleted;
- a credential found under our name before the first POST was left by an interrupted earlier
  attempt. Its password cannot be read back to verify, so it is deleted and created again rather
  than adopted (as `RunpodSecret` does); within one create call, a dropped answer is resolved by
  adopting what that very call made (`create_once`), whose password is the one just sent;
- `delete` treats "already gone" as success and waits, bounded, while a pod still pulls with it
  (the API answers 400 "in use").
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckResult, CreateResult, ReadResult, UpdateResult

from components.providers.http import ApiError, create_once, retry_while_in_use
from components.providers.inputs import Field, text
from components.providers.runpod.base import RunpodProvider, has_unknown, in_use
from components.providers.runpod.client import REGISTRIES, RunpodClient
from components.providers.salting import hmac_hex, is_salt, keep_or_new_salt

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_HASH = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")
HASH_PREFIX = "hmac-sha256:"


def registry_name(value: Any) -> str:
    name = text(max_len=200)(value)
    if not _NAME.match(name):
        raise ValueError(f"{name!r} must be letters, digits, '.', '-' and '_', starting with a letter or digit")
    return name


def registry_username(value: Any) -> str:
    name = text(max_len=1000)(value)
    if name != name.strip():
        raise ValueError("must not start or end with whitespace")
    return name


def registry_password(value: Any) -> str:
    # The parser's messages never quote the value: check failures are shown in plain text.
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > 65_536:
        raise ValueError("must be at most 65536 characters")
    return value


def password_hash(salt: str, value: str) -> str:
    return HASH_PREFIX + hmac_hex(salt, value)


def is_password_hash(value: Any) -> bool:
    return isinstance(value, str) and bool(_HASH.match(value))


def _redactions(value: str) -> list[str]:
    # A JSON key file has newlines and quotes: an API echoing the body would show it JSON-escaped.
    return [value, json.dumps(value)[1:-1]]


class RegistryAuthProvider(RunpodProvider):
    kind = "RegistryAuth"
    fields = (
        Field("name", registry_name, replace=True),
        Field("username", registry_username, replace=True),
        Field("password", registry_password, compare=False),
        Field("salt", text(), default=None, compare=False),
    )
    outputs = ("registryAuthId",)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        news = {k: v for k, v in news.items() if k != "salt"}  # the provider owns the salt
        result = super().check(olds, news)
        old_salt = olds.get("salt")
        result.inputs["salt"] = keep_or_new_salt(old_salt)
        return result

    def extra_diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        value, salt, stored = news.get("password"), olds.get("salt"), olds.get("password")
        if has_unknown(value) or not isinstance(value, str):
            return ["password"], ["password"]
        if not is_salt(salt) or not is_password_hash(stored):
            return ["password"], ["password"]
        if not hmac.compare_digest(password_hash(salt, value), stored):
            return ["password"], ["password"]
        return [], []

    # ------------------------------------------------------------------ lifecycle

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = self.label(props)
        name, value = props["name"], props["password"]
        body = {"name": name, "username": props["username"], "password": value}
        with self.client(props, redact=_redactions(value)) as api:
            leftover = api.find_by_name(REGISTRIES, name, resource=label, operation="create")
            if leftover is not None:
                self._delete(api, leftover["id"], props, operation="create")
            created = create_once(
                lambda: api.create(REGISTRIES, body, resource=label),
                lambda: api.find_by_name(REGISTRIES, name, resource=label, operation="create"),
                policy=api.policy,
                resource=label,
            )
        return CreateResult(created["id"], self._outputs(created, props, password_hash(props["salt"], value)))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.client(props) as api:
            found = api.get(REGISTRIES, id_, resource=self.label(props, id_))
        if found is None:
            return ReadResult("", {})
        # The API never returns the credentials: keep what create stored.
        return ReadResult(id_, self._outputs(found, props, self._stored_hash(props)))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # diff marks every change as a replacement; reaching this is a bug, not a user error.
        raise ApiError(self.label(news, id_), "update", "Runpod registry credentials cannot be changed in place")

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.client(props) as api:
            self._delete(api, id_, props, operation="delete")

    # ------------------------------------------------------------------ helpers

    def _delete(self, api: RunpodClient, id_: str, props: Mapping[str, Any], *, operation: str) -> None:
        label = self.label(props, id_)
        # A pod still pulling with it keeps it "in use" for a while after it stops.
        retry_while_in_use(lambda: api.delete(REGISTRIES, id_, resource=label, operation=operation), in_use,
                           policy=api.policy)

    @staticmethod
    def _stored_hash(props: Mapping[str, Any]) -> str | None:
        stored = props.get("password")
        # Only a hash is ever kept; anything else (a plaintext value handed in by mistake) is dropped,
        # which makes the next diff replace the credential instead of trusting it.
        return stored if is_password_hash(stored) else None

    @staticmethod
    def _outputs(registry: Mapping[str, Any], props: Mapping[str, Any], hashed: str | None) -> dict[str, Any]:
        return {
            "registryAuthId": registry["id"],
            "name": registry["name"],
            "username": props.get("username"),
            "salt": props.get("salt"),
            "password": hashed,
        }


# --------------------------------------------------------------------------------------------
# the resource the program creates
# --------------------------------------------------------------------------------------------


class RunpodRegistryAuthArgs(TypedDict, total=False):
    name: pulumi.Input[str]
    """Unique credential name. A new username or password under the same name deletes the old
    credential first; give a rotated credential a new name to switch templates over without a gap."""
    username: pulumi.Input[str]
    """Registry user, e.g. `_json_key` for Google Artifact Registry with a service-account key."""
    password: pulumi.Input[str]
    """Registry password or key; pass a Pulumi secret (config.require_secret). Stored only as a hash."""


class RunpodRegistryAuth(pulumi.dynamic.Resource, module="runpod", name="RegistryAuth"):
    registry_auth_id: pulumi.Output[str]
    """What a template's `registry_auth_id` takes."""

    def __init__(self, name: str, args: RunpodRegistryAuthArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "name": args["name"],
            "username": args["username"],
            "password": pulumi.Output.secret(args["password"]),
            "registryAuthId": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["password"]))
        super().__init__(RegistryAuthProvider(), name, props, opts)
        self.registry_auth_id = self.registryAuthId  # type: ignore[attr-defined]
