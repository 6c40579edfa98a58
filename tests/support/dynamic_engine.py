"""Drive a dynamic provider the way the Pulumi engine does, without the Pulumi CLI.

`pulumi.dynamic.__main__` is the provider server the engine starts for every dynamic resource: a
separate Python process speaking the ResourceProvider gRPC protocol, which un-pickles the provider
object (dill, by reference, so the provider module is re-imported there) from the `__provider`
input and calls its methods. `DynamicEngine` starts that very server as a subprocess and sends it
the requests the engine would send for preview, up, refresh and destroy:

- inputs are serialized with the SDK's own `rpc.serialize_properties`, the provider with
  `serialize_provider`, exactly as `pulumi.dynamic.Resource` does;
- the server answers Configure with `acceptSecrets: false`, so, like the engine, we strip secret
  markers from what we send and re-mark as secret every output whose top-level name was a secret
  input (that is why providers must keep secret values under the same output name);
- preview sends Check and Diff with unknown values (`rpc.UNKNOWN`) where an input is not known yet.

Use `up()`, `preview()`, `refresh()` and `destroy()` for whole operations, or the single RPCs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import proto, rpc
from pulumi.runtime.proto import provider_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER_KEY = "__provider"
UNKNOWN = rpc.UNKNOWN


class ProviderError(Exception):
    """The provider server failed a call; `details` holds its traceback text."""

    def __init__(self, method: str, details: str):
        self.method = method
        self.details = details
        super().__init__(f"{method} failed: {details}")


@dataclass
class ResourceState:
    """What the engine keeps in state for one dynamic resource."""

    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)


@dataclass
class DiffResult:
    changes: bool | None
    replaces: list[str]
    delete_before_replace: bool


def _serialize(props: Mapping[str, Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()


def _strip_secrets(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return _strip_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: _strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_secrets(v) for v in value]
    return value


class DynamicEngine:
    """One provider-server process, configured with a stack's config (credentials included)."""

    def __init__(
        self,
        stack_config: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        project: str = "modelstack",
    ):
        child_env = dict(os.environ)
        child_env.update(env or {})
        child_env["PULUMI_PROJECT"] = project
        child_env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [child_env.get("PYTHONPATH")])]
        )
        # stderr goes to a file: a pipe nobody drains would block a chatty provider, and tests
        # read the log afterwards to prove no secret was printed.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "pulumi.dynamic"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_env,
            cwd=str(REPO_ROOT),
        )
        assert self._process.stdout is not None
        port_line = self._process.stdout.readline().decode().strip()
        if not port_line.isdigit():
            self._process.kill()
            raise RuntimeError(f"provider server did not start: {port_line!r} {self.server_log()}")
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port_line}")
        self._stub = provider_pb2_grpc.ResourceProviderStub(self._channel)
        self.configure(stack_config or {})

    # ------------------------------------------------------------------ lifecycle of the server

    def close(self) -> None:
        self._channel.close()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __del__(self) -> None:
        log = getattr(self, "_log", None)
        if log is not None:
            log.close()

    def __enter__(self) -> DynamicEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server_log(self) -> str:
        """Everything the provider process has written to stderr so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    # ------------------------------------------------------------------ single RPCs

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=120)
        except grpc.RpcError as exc:  # the servicer aborts with the traceback as details
            raise ProviderError(method, exc.details() or str(exc)) from None

    def configure(self, stack_config: Mapping[str, Any]) -> None:
        """Send the stack config; secret values arrive wrapped, as the engine sends them."""
        args = {k: rpc.wrap_rpc_secret(v) if k.endswith(":credentials") else v for k, v in stack_config.items()}
        response = self._call("Configure", proto.ConfigureRequest(args=_serialize(args)))
        assert response.acceptSecrets is False

    def _with_provider(self, provider: Any, props: Mapping[str, Any]) -> dict[str, Any]:
        """`provider` is a provider object, its serialized form (a string, as a program registered
        it), or None for the unknown provider of a preview."""
        out = _strip_secrets(dict(props))
        if isinstance(provider, str):
            out[PROVIDER_KEY] = provider
        else:
            out[PROVIDER_KEY] = serialize_provider(provider) if provider is not None else UNKNOWN
        return out

    def check(
        self, provider: Any, olds: Mapping[str, Any], news: Mapping[str, Any], urn: str = "urn:x"
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        request = proto.CheckRequest(
            urn=urn,
            olds=_serialize(self._with_provider(provider, olds) if olds else {}),
            news=_serialize(self._with_provider(provider, news)),
        )
        response = self._call("Check", request)
        inputs = rpc.deserialize_properties(response.inputs, True)
        failures = [(f.property, f.reason) for f in response.failures]
        return inputs, failures

    def diff(self, provider: Any, resource_id: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffResult:
        request = proto.DiffRequest(
            id=resource_id,
            urn="urn:x",
            olds=_serialize(self._with_provider(provider, olds)),
            news=_serialize(self._with_provider(provider, news)),
        )
        response = self._call("Diff", request)
        changes = {
            proto.DiffResponse.DIFF_SOME: True,
            proto.DiffResponse.DIFF_NONE: False,
        }.get(response.changes)
        return DiffResult(changes, list(response.replaces), bool(response.deleteBeforeReplace))

    def create(self, provider: Any, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        response = self._call(
            "Create", proto.CreateRequest(urn="urn:x", properties=_serialize(self._with_provider(provider, inputs)))
        )
        return response.id, rpc.deserialize_properties(response.properties)

    def read(self, provider: Any, resource_id: str, props: Mapping[str, Any], inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        request = proto.ReadRequest(
            id=resource_id,
            urn="urn:x",
            properties=_serialize(self._with_provider(provider, props)),
            inputs=_serialize(self._with_provider(provider, inputs)),
        )
        response = self._call("Read", request)
        new_inputs = rpc.deserialize_properties(response.inputs) if response.HasField("inputs") else None
        return response.id, rpc.deserialize_properties(response.properties), new_inputs

    def update(self, provider: Any, resource_id: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        request = proto.UpdateRequest(
            id=resource_id,
            urn="urn:x",
            olds=_serialize(self._with_provider(provider, olds)),
            news=_serialize(self._with_provider(provider, news)),
        )
        return rpc.deserialize_properties(self._call("Update", request).properties)

    def delete(self, provider: Any, resource_id: str, props: Mapping[str, Any]) -> None:
        request = proto.DeleteRequest(
            id=resource_id, urn="urn:x", properties=_serialize(self._with_provider(provider, props))
        )
        self._call("Delete", request)

    # ------------------------------------------------------------------ whole operations

    @staticmethod
    def _secret_names(inputs: Mapping[str, Any]) -> set[str]:
        return {k for k, v in inputs.items() if rpc.is_rpc_secret(v)}

    @staticmethod
    def _drop_provider(props: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in props.items() if k != PROVIDER_KEY}

    def preview(self, provider: Any, inputs: Mapping[str, Any], state: ResourceState | None = None) -> DiffResult | None:
        """Check and Diff only (what `pulumi preview` runs). None means 'would create'."""
        checked, failures = self.check(provider, state.inputs if state else {}, inputs)
        if failures:
            raise ProviderError("Check", "; ".join(f"{p}: {r}" for p, r in failures))
        if state is None:
            return None
        return self.diff(provider, state.id, state.outputs, self._drop_provider(checked))

    def up(self, provider: Any, inputs: Mapping[str, Any], state: ResourceState | None = None) -> ResourceState:
        """Check, Diff, then Create, Update or replace, as `pulumi up` would."""
        secret_inputs = self._secret_names(inputs)
        checked, failures = self.check(provider, state.inputs if state else {}, inputs)
        if failures:
            raise ProviderError("Check", "; ".join(f"{p}: {r}" for p, r in failures))
        checked = self._drop_provider(checked)
        if state is None:
            resource_id, outs = self.create(provider, checked)
            return self._state(resource_id, checked, outs, secret_inputs)
        diff = self.diff(provider, state.id, state.outputs, checked)
        if diff.changes is False:
            return state
        if diff.replaces:
            if diff.delete_before_replace:
                self.delete(provider, state.id, state.outputs)
                resource_id, outs = self.create(provider, checked)
            else:
                resource_id, outs = self.create(provider, checked)
                self.delete(provider, state.id, state.outputs)
            return self._state(resource_id, checked, outs, secret_inputs)
        outs = self.update(provider, state.id, state.outputs, checked)
        return self._state(state.id, checked, outs, secret_inputs)

    def refresh(self, provider: Any, state: ResourceState) -> ResourceState | None:
        """Read; None when the resource is gone (the engine then drops it from state)."""
        resource_id, outs, new_inputs = self.read(provider, state.id, state.outputs, state.inputs)
        if not resource_id:
            return None
        inputs = self._drop_provider(new_inputs) if new_inputs is not None else state.inputs
        return self._state(resource_id, inputs, outs, state.secret_outputs)

    def destroy(self, provider: Any, state: ResourceState) -> None:
        self.delete(provider, state.id, state.outputs)

    def _state(self, resource_id: str, inputs: Mapping[str, Any], outs: Mapping[str, Any], secret_names: Iterable[str]) -> ResourceState:
        secret_names = set(secret_names)
        outputs = self._drop_provider(outs)
        # The engine re-marks outputs that share a name with a secret input.
        marked = {k: rpc.wrap_rpc_secret(v) if k in secret_names else v for k, v in outputs.items()}
        return ResourceState(resource_id, dict(inputs), marked, secret_names & set(outputs))
