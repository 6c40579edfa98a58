"""`ModalSecret`: a named Modal Secret (a set of environment variables) in one explicit environment.

Modal never returns a secret's values and cannot overwrite all of them in place, so:
- `diff` compares a salted hash of the new values with the one kept in state;
- `update` re-creates the secret under the same name (delete, then create). Deployed functions hold
  secrets by id, so the new `secretId` output must feed the apps that use it (`ModalApp.triggers`),
  which makes them redeploy in the same `pulumi up`;
- `read` can tell that the secret is gone or was re-created by someone else (its id changed), not
  that its values were edited; a re-created secret is marked drifted so the next `up` rewrites it.

The resource id is `<environment>/<name>`: stable while the secret is re-created, and what a lookup needs.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from components.providers import credentials as creds
from components.providers.modal import hashing
from components.providers.modal.inputs import ENV_VAR, CamelCaseProperties, Checker, changed, has_unknown
from components.providers.modal.session import Target, Token, run, token_from

DRIFTED = ""
"""`valuesHash` after a refresh found the secret re-created out of band: its content is unknown."""


def _target(props: dict[str, Any]) -> Target:
    return Target("Secret", str(props.get("name")), str(props.get("environment")))


class SecretProvider(ResourceProvider):
    def __init__(self) -> None:
        self._token: Token | None = None

    def configure(self, req: Any) -> None:
        self._token = token_from(creds.from_provider_config(req.config))

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        c = Checker(news)
        inputs = {
            "name": c.object_name("name", "Secret"),
            "environment": c.environment(),
            "values": c.string_map("values", ENV_VAR, "environment variable name"),
        }
        return CheckResult(inputs, c.failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed(olds, news, ("name", "environment"))
        values = news.get("values")
        if has_unknown(values) or not olds.get("salt"):
            values_changed = True
        else:
            values_changed = hashing.salted_hash(olds["salt"], values) != olds.get("valuesHash")
        return DiffResult(changes=bool(replaces) or values_changed, replaces=replaces, delete_before_replace=False)

    def _write(self, props: dict[str, Any], operation: str) -> dict[str, Any]:
        """(Re-)create the secret under its name with exactly `values`; return the outputs."""
        import modal
        from modal.exception import AlreadyExistsError

        name, environment, values = props["name"], props["environment"], dict(props["values"])

        def write(client: Any) -> str:
            if operation == "update":
                modal.Secret.objects.delete(name, environment_name=environment, client=client, allow_missing=True)
            try:
                modal.Secret.objects.create(name, values, environment_name=environment, client=client)
            except AlreadyExistsError:
                # An earlier attempt created it and failed before recording it (or a retry after a
                # lost response): its values are unknown, so replace it with the declared ones.
                modal.Secret.objects.delete(name, environment_name=environment, client=client, allow_missing=True)
                modal.Secret.objects.create(name, values, environment_name=environment, client=client)
            secret = modal.Secret.from_name(name, environment_name=environment, client=client)
            secret.hydrate()
            return secret.object_id

        secret_id = run(_target(props), operation, self._token, write, secrets=values.values())
        salt = hashing.new_salt()
        return {
            "name": name,
            "environment": environment,
            "values": values,
            "secretId": secret_id,
            "keys": sorted(values),
            "salt": salt,
            "valuesHash": hashing.salted_hash(salt, values),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._write(props, "create")
        return CreateResult(f"{outs['environment']}/{outs['name']}", outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._write(news, "update"))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import modal
        from modal.exception import NotFoundError

        name, environment = props.get("name"), props.get("environment")
        if not name or not environment:  # state from an interrupted create: derive from the id
            environment, _, name = id_.partition("/")
        target = Target("Secret", name, environment)

        def lookup(client: Any) -> str | None:
            try:
                secret = modal.Secret.from_name(name, environment_name=environment, client=client)
                secret.hydrate()
            except NotFoundError:
                return None
            return secret.object_id

        secret_id = run(target, "read", self._token, lookup)
        if secret_id is None:
            return ReadResult("", {})
        outs = {**props, "name": name, "environment": environment, "secretId": secret_id}
        if secret_id != props.get("secretId"):
            outs["valuesHash"] = DRIFTED
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import modal

        name, environment = props["name"], props["environment"]
        run(
            _target(props),
            "delete",
            self._token,
            lambda client: modal.Secret.objects.delete(
                name, environment_name=environment, client=client, allow_missing=True
            ),
        )


class ModalSecretArgs(TypedDict):
    name: pulumi.Input[str]
    """Secret name, unique in its environment (1-64 of letters, digits, '-', '_', '.')."""
    environment: pulumi.Input[str]
    """Modal environment, always explicit (Modal's default environment is usually `main`)."""
    values: pulumi.Input[dict[str, pulumi.Input[str]]]
    """Environment variable -> value. Stored only as a Pulumi secret."""


class ModalSecret(CamelCaseProperties, pulumi.dynamic.Resource, module="modal", name="Secret"):
    secret_id: pulumi.Output[str]
    """Modal's id for the current incarnation; changes whenever the secret is re-created."""
    keys: pulumi.Output[list[str]]

    PROPERTIES = ("secret_id", "values_hash")

    def __init__(self, resource_name: str, args: ModalSecretArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "name": args["name"],
            "environment": args["environment"],
            # Secret as a whole, so the engine keeps the same-named output secret too.
            "values": pulumi.Output.secret(args["values"]),
            "secret_id": None,
            "keys": None,
            "salt": None,
            "values_hash": None,
        }
        # The salt too: with it, anyone holding the state could test guesses against the hash.
        secret_outputs = ["values", "salt", "values_hash"]
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=secret_outputs))
        super().__init__(SecretProvider(), resource_name, props, opts)
