"""Helpers for the Runpod tests: configured providers and an in-process stand-in for the engine.

`Driver` runs one provider through the same sequence `tests.support.dynamic_engine.DynamicEngine`
sends over gRPC (check, then diff, then create / update / replace; read for refresh; delete), but in
this process, so fault tests can observe retry waits and run quickly. At least one lifecycle per
resource also runs through the real provider server (test_provider_server.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pulumi.dynamic import Config, ConfigureRequest, ResourceProvider

P = TypeVar("P", bound=ResourceProvider)

# Short, but not so short that a busy CI machine turns ordinary requests into timeouts.
FAST_RETRIES = {
    "MODELSTACK_HTTP_TIMEOUT_SECONDS": "2",
    "MODELSTACK_HTTP_MAX_ATTEMPTS": "4",
    "MODELSTACK_HTTP_BACKOFF_SECONDS": "0.01",
    "MODELSTACK_HTTP_MAX_BACKOFF_SECONDS": "0.05",
    "MODELSTACK_IN_USE_TIMEOUT_SECONDS": "3",
}

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64
IMAGE_V1 = f"us-central1-docker.pkg.dev/acme/modelstack/worker@sha256:{DIGEST_A}"
IMAGE_V2 = f"us-central1-docker.pkg.dev/acme/modelstack/worker@sha256:{DIGEST_B}"


def stack_config(api_key: str) -> dict[str, Any]:
    """What the engine sends configure(): the stack config, structured values as JSON strings."""
    return {"modelstack:credentials": json.dumps({"runpodApiKey": api_key})}


def configured(provider: P, api_key: str) -> P:
    """The provider as the provider server hands it over: configured with the stack's credentials."""
    provider.configure(ConfigureRequest(Config(stack_config(api_key), "modelstack")))
    return provider


class CheckFailedError(Exception):
    pass


@dataclass
class State:
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    history: list[str] = field(default_factory=list)
    """What the last `up` did: create, update, replace, same."""


class Driver:
    """`pulumi up` / `refresh` / `destroy` for one resource, calling the provider directly."""

    def __init__(self, provider: ResourceProvider):
        self.provider = provider

    def check(self, inputs: dict[str, Any], state: State | None = None) -> dict[str, Any]:
        result = self.provider.check(state.inputs if state else {}, dict(inputs))
        if result.failures:
            raise CheckFailedError("; ".join(f"{f.property}: {f.reason}" for f in result.failures))
        return result.inputs

    def diff(self, inputs: dict[str, Any], state: State) -> Any:
        return self.provider.diff(state.id, state.outputs, self.check(inputs, state))

    def up(self, inputs: dict[str, Any], state: State | None = None) -> State:
        checked = self.check(inputs, state)
        if state is None:
            created = self.provider.create(checked)
            return State(created.id, checked, dict(created.outs or {}), ["create"])
        diff = self.provider.diff(state.id, state.outputs, checked)
        if not diff.changes:
            return State(state.id, state.inputs, state.outputs, ["same"])
        if diff.replaces:
            if diff.delete_before_replace:
                self.provider.delete(state.id, state.outputs)
                created = self.provider.create(checked)
            else:
                created = self.provider.create(checked)
                self.provider.delete(state.id, state.outputs)
            return State(created.id, checked, dict(created.outs or {}), ["replace"])
        updated = self.provider.update(state.id, state.outputs, checked)
        return State(state.id, checked, dict(updated.outs or {}), ["update"])

    def refresh(self, state: State) -> State | None:
        result = self.provider.read(state.id, state.outputs)
        if not result.id:
            return None
        return State(result.id, state.inputs if result.inputs is None else result.inputs, dict(result.outs or {}))

    def destroy(self, state: State) -> None:
        self.provider.delete(state.id, state.outputs)


def leaks(text: str, **known: str) -> list[str]:
    """Names (never values) of the known secrets found in `text`, so a failing assert prints no secret."""
    return [name for name, value in known.items() if value in text]


def plain_text(registration: Any) -> str:
    """Everything in a registration's inputs that is not wrapped as a secret, as text."""
    from components.offline import is_secret

    def strip(value: Any) -> Any:
        if is_secret(value):
            return "[secret]"
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "__provider"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)

    return json.dumps(strip(registration.inputs))
