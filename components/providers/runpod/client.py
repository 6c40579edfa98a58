"""A small Runpod API client: REST v2 for templates, serverless endpoints, network volumes and
container registry credentials, and GraphQL only for account secrets, which REST v2 does not offer.

Built per provider call (never cached: the engine pickles providers), it adds to the shared HTTP
client only what is Runpod's: paths, list wrappers, Bearer auth, GraphQL's in-body errors, and
which calls are safe to repeat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from components.providers.http import (
    ApiError,
    HttpClient,
    NotFoundError,
    Redactor,
    RetryPolicy,
)

# REST collections: path segment -> key of the list wrapper in `GET /v2/<segment>`.
TEMPLATES = "templates"
ENDPOINTS = "serverless"
VOLUMES = "network-volumes"
REGISTRIES = "registries"
_LIST_KEYS = {TEMPLATES: "templates", ENDPOINTS: "endpoints", VOLUMES: "networkVolumes", REGISTRIES: "registries"}

_LIST_SECRETS = "query ModelstackSecrets { myself { secrets { id name description } } }"
_CREATE_SECRET = (
    "mutation ModelstackSecretCreate($input: SecretCreateInput!) "
    "{ secretCreate(input: $input) { id name description } }"
)
_DELETE_SECRET = "mutation ModelstackSecretDelete($id: ID!) { secretDelete(id: $id) }"


class RunpodClient:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str,
        policy: RetryPolicy | None = None,
        redact: Iterable[str | None] = (),
    ):
        self.redactor = Redactor([api_key, *redact])
        self.http = HttpClient(
            base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            policy=policy,
            redactor=self.redactor,
        )

    @property
    def policy(self) -> RetryPolicy:
        return self.http.policy

    @property
    def calls(self) -> int:
        return self.http.calls

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RunpodClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ REST v2

    def get(self, collection: str, object_id: str, *, resource: str, operation: str = "read") -> dict[str, Any] | None:
        """One object, or None when the API says it does not exist."""
        try:
            return self.http.request(
                "GET", f"/v2/{collection}/{object_id}", resource=resource, operation=operation
            ).body
        except NotFoundError:
            return None

    def list(self, collection: str, *, resource: str, operation: str) -> list[dict[str, Any]]:
        body = self.http.request("GET", f"/v2/{collection}", resource=resource, operation=operation).body
        return list((body or {}).get(_LIST_KEYS[collection], []))

    def find_by_name(self, collection: str, name: str, *, resource: str, operation: str) -> dict[str, Any] | None:
        """The object with this exact name; an error if several exist, since adopting one would guess."""
        matches = [o for o in self.list(collection, resource=resource, operation=operation) if o.get("name") == name]
        if len(matches) > 1:
            ids = ", ".join(str(m.get("id")) for m in matches)
            raise ApiError(resource, operation, f"{len(matches)} objects are named {name!r} ({ids}); "
                           "delete the extra ones in the Runpod console, then run again")
        return matches[0] if matches else None

    def create(self, collection: str, body: dict[str, Any], *, resource: str) -> dict[str, Any]:
        """POST once. Not idempotent: an ambiguous failure raises `AmbiguousError` for the caller to resolve."""
        return self.http.request(
            "POST", f"/v2/{collection}", json=body, resource=resource, operation="create", idempotent=False
        ).body

    def patch(self, collection: str, object_id: str, body: dict[str, Any], *, resource: str,
              operation: str = "update") -> dict[str, Any]:
        return self.http.request(
            "PATCH", f"/v2/{collection}/{object_id}", json=body, resource=resource, operation=operation
        ).body

    def delete(self, collection: str, object_id: str, *, resource: str, operation: str = "delete") -> bool:
        """True if deleted now, False if it was already gone."""
        try:
            self.http.request("DELETE", f"/v2/{collection}/{object_id}", resource=resource, operation=operation)
        except NotFoundError:
            return False
        return True

    def endpoint_version(self, endpoint_id: str, *, resource: str, operation: str) -> str:
        """The endpoint's current configuration version, from its release history."""
        body = self.http.request(
            "GET", f"/v2/{ENDPOINTS}/{endpoint_id}/releases", resource=resource, operation=operation
        ).body or {}
        version = body.get("endpointVersion")
        if version is None and body.get("releases"):
            version = body["releases"][0].get("version")
        return "" if version is None else str(version)

    # ------------------------------------------------------------------ GraphQL (secrets only)

    def graphql(self, query: str, variables: dict[str, Any] | None, *, resource: str, operation: str,
                idempotent: bool) -> dict[str, Any]:
        """Run one GraphQL operation; errors in the body become `ApiError` (GraphQL answers 200)."""
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        body = self.http.request(
            "POST", "/graphql", json=payload, resource=resource, operation=operation, idempotent=idempotent
        ).body or {}
        errors = body.get("errors")
        if errors:
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors[:5])
            raise ApiError(resource, operation, self.redactor(f"GraphQL error: {messages}"))
        return body.get("data") or {}

    def list_secrets(self, *, resource: str, operation: str) -> list[dict[str, Any]]:
        data = self.graphql(_LIST_SECRETS, None, resource=resource, operation=operation, idempotent=True)
        return list((data.get("myself") or {}).get("secrets") or [])

    def find_secret(self, name: str, *, resource: str, operation: str) -> dict[str, Any] | None:
        return next((s for s in self.list_secrets(resource=resource, operation=operation) if s["name"] == name), None)

    def create_secret(self, name: str, value: str, description: str, *, resource: str) -> dict[str, Any]:
        """secretCreate, once. The value travels only in this request's variables."""
        self.redactor.add(value)
        variables = {"input": {"name": name, "value": value, **({"description": description} if description else {})}}
        data = self.graphql(_CREATE_SECRET, variables, resource=resource, operation="create", idempotent=False)
        return data["secretCreate"]

    def delete_secret(self, secret_id: str, *, resource: str) -> bool:
        """True if deleted now, False if it was already gone."""
        try:
            # Deleting twice is harmless (the second finds nothing), so it may be retried.
            self.graphql(_DELETE_SECRET, {"id": secret_id}, resource=resource, operation="delete", idempotent=True)
        except ApiError:
            # GraphQL reports "not found" as prose; ask the list instead of parsing it.
            if not any(s["id"] == secret_id for s in self.list_secrets(resource=resource, operation="delete")):
                return False
            raise
        return True
