"""Run the real program for a whole stack the way `pulumi up / preview / refresh / destroy` do.

`DynamicEngine` (next door) drives one dynamic provider through the SDK's provider server. This
drives a whole stack: it runs `__main__.py` under Pulumi's mocks (`components.offline.run_program`)
and answers every `pulumi-python:dynamic/*` registration by sending what the engine would send to
that same provider server: Check, then Diff against the state kept from the last operation, then
Create, Update or a replacement; GCP and other resources stay under `DeployedMocks`. Between
operations it keeps state as the engine does, keyed by resource type and name:

- `up` creates what is new, updates what changed, replaces where Diff says so (creating the new one
  first), and at the end deletes what the program no longer registers and the replaced originals,
  in reverse creation order, as the engine does: a Runpod template still in use by the endpoint
  being updated cannot go before the endpoint has moved off it.
- `preview` runs Check and Diff only (no Create, Update or Delete), and returns what would change.
- `refresh` sends Read for every dynamic resource and keeps what the provider reports, so the
  next `up` diffs against the real world: drift made behind the stack's back is corrected.
- `destroy` deletes everything in reverse creation order.

The serialized provider a program registers (`__provider`) is what the server un-pickles, as with
the real engine, so the provider code that runs is the code the program imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.offline import ProgramRun, StackFile, run_program, unwrap
from tests.support.deployed_mocks import DeployedMocks
from tests.support.dynamic_engine import PROVIDER_KEY, UNKNOWN, DynamicEngine, ProviderError, ResourceState

DYNAMIC_PREFIX = "pulumi-python:dynamic/"


@dataclass
class Entry:
    """One resource in the kept state."""

    type: str
    name: str
    order: int
    """When it was created: deletes go in reverse of this."""
    inputs: dict[str, Any]
    """Dynamic: the inputs Check returned. Others: the inputs as registered."""
    outputs: dict[str, Any]
    id: str
    provider: str | None = None
    """Dynamic only: the serialized provider the program registered."""
    secret_outputs: set[str] = field(default_factory=set)

    @property
    def dynamic(self) -> bool:
        return self.provider is not None

    def as_state(self) -> ResourceState:
        return ResourceState(self.id, dict(self.inputs), dict(self.outputs), set(self.secret_outputs))


@dataclass
class Changes:
    """What one operation did (or, for a preview, would do), by `type::name`."""

    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    """name -> the properties Diff or the input comparison found changed."""
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    same: list[str] = field(default_factory=list)
    run: ProgramRun | None = None

    @property
    def count(self) -> int:
        return len(self.created) + len(self.updated) + len(self.replaced) + len(self.deleted)


@dataclass
class Drift:
    """What a refresh found different from state, by `type::name`."""

    changed: dict[str, list[str]] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.changed) + len(self.gone)


def key_of(typ: str, name: str) -> str:
    return f"{typ.removeprefix(DYNAMIC_PREFIX)}::{name}"


def _known(value: Any) -> Any:
    """The SDK hands a preview's unknown inputs to mocks as `Unknown`; the wire form is rpc.UNKNOWN."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return value


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    old, new = unwrap(dict(old)), unwrap(dict(new))
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def _differing(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[str]:
    """The inputs whose value differs from what state holds: what Diff compares (olds are outputs)."""
    outputs, inputs = unwrap(dict(outputs)), unwrap(dict(inputs))
    return sorted(k for k in inputs if outputs.get(k) != inputs[k])


class StackEngine:
    """State kept across operations on one stack; one provider server serves every dynamic resource."""

    def __init__(self, engine: DynamicEngine):
        self.engine = engine
        self.state: dict[str, Entry] = {}
        self._next_order = 0

    # ------------------------------------------------------------------ operations

    def up(self, stack_file: StackFile) -> Changes:
        changes = Changes()
        pending_deletes: list[Entry] = []
        seen: set[str] = set()
        changes.run = self._run(stack_file, preview=False, changes=changes, seen=seen, pending=pending_deletes)
        pending_deletes += [entry for key, entry in self.state.items() if key not in seen]
        for key in [k for k in self.state if k not in seen]:
            changes.deleted.append(key)
            del self.state[key]
        self._delete_all(pending_deletes)
        return changes

    def preview(self, stack_file: StackFile) -> Changes:
        changes = Changes()
        seen: set[str] = set()
        changes.run = self._run(stack_file, preview=True, changes=changes, seen=seen, pending=[])
        changes.deleted = [k for k in self.state if k not in seen]
        return changes

    def refresh(self) -> Drift:
        drift = Drift()
        for key, entry in list(self.state.items()):
            if not entry.dynamic:
                continue  # mocked resources have no real world to drift from
            refreshed = self.engine.refresh(entry.provider, entry.as_state())
            if refreshed is None:
                drift.gone.append(key)
                del self.state[key]
                continue
            changed = _changed_keys(entry.outputs, refreshed.outputs)
            if changed or refreshed.id != entry.id:
                drift.changed[key] = changed or ["id"]
            entry.id, entry.inputs, entry.outputs = refreshed.id, refreshed.inputs, refreshed.outputs
        return drift

    def destroy(self) -> Changes:
        changes = Changes(deleted=list(self.state))
        entries = list(self.state.values())
        self.state.clear()
        self._delete_all(entries)
        return changes

    # ------------------------------------------------------------------ the program under mocks

    def _run(self, stack_file: StackFile, *, preview: bool, changes: Changes, seen: set[str], pending: list[Entry]) -> ProgramRun:
        engine = self

        class StackMocks(DeployedMocks):
            def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
                key = key_of(args.typ, args.name)
                if key in seen:
                    raise ValueError(f"two resources registered as {key}")
                seen.add(key)
                if args.typ.startswith(DYNAMIC_PREFIX):
                    return engine._dynamic(key, args, preview, changes, pending)
                return engine._mocked(key, args, super().new_resource(args), preview, changes)

        return run_program(stack_file.stack, stack_file=stack_file, preview=preview, mocks=StackMocks)

    def _mocked(self, key: str, args: Any, answer: tuple[str, dict[str, Any]], preview: bool, changes: Changes) -> tuple[str, dict[str, Any]]:
        resource_id, outputs = answer
        old = self.state.get(key)
        inputs = dict(args.inputs)
        if old is None:
            changes.created.append(key)
        elif changed := _changed_keys(old.inputs, inputs):
            changes.updated[key] = changed
        else:
            changes.same.append(key)
            return old.id, dict(old.outputs)
        if not preview:
            order = old.order if old else self._order()
            self.state[key] = Entry(args.typ, args.name, order, inputs, outputs, resource_id)
        return resource_id, outputs

    def _dynamic(self, key: str, args: Any, preview: bool, changes: Changes, pending: list[Entry]) -> tuple[str, dict[str, Any]]:
        inputs = _known(dict(args.inputs))
        provider = unwrap(inputs.pop(PROVIDER_KEY))
        secret_inputs = {k for k, v in inputs.items() if rpc.is_rpc_secret(v)}
        old = self.state.get(key)
        checked, failures = self.engine.check(provider, old.inputs if old else {}, inputs, urn=key)
        if failures:
            raise ProviderError("Check", f"{key}: " + "; ".join(f"{p}: {r}" for p, r in failures))
        checked.pop(PROVIDER_KEY, None)
        # The engine sends Check's answer with the input's secretness restored.
        checked = {k: rpc.wrap_rpc_secret(v) if k in secret_inputs else v for k, v in checked.items()}

        if old is not None:
            diff = self.engine.diff(provider, old.id, old.outputs, checked)
            if diff.changes is False:
                changes.same.append(key)
                old.provider = provider
                return old.id, dict(old.outputs)
            if diff.replaces:
                changes.replaced.append(key)
            else:
                changes.updated[key] = _differing(old.outputs, checked)
            if preview:
                return old.id, {**dict(old.outputs), **unwrap(checked)}
            if not diff.replaces:
                outs = self.engine.update(provider, old.id, old.outputs, checked)
                return self._keep(key, args, old.order, old.id, checked, outs, provider, secret_inputs)
            if diff.delete_before_replace:
                self.engine.delete(provider, old.id, old.outputs)
            else:
                pending.append(old)  # the engine deletes replaced resources at the end
        elif preview:
            changes.created.append(key)
            return "", unwrap(checked)
        else:
            changes.created.append(key)
        resource_id, outs = self.engine.create(provider, checked)
        return self._keep(key, args, self._order(), resource_id, checked, outs, provider, secret_inputs)

    def _keep(self, key: str, args: Any, order: int, resource_id: str, inputs: dict[str, Any], outs: Mapping[str, Any], provider: str, secret_inputs: set[str]) -> tuple[str, dict[str, Any]]:
        outputs = {k: rpc.wrap_rpc_secret(unwrap(v)) if k in secret_inputs else v for k, v in outs.items() if k != PROVIDER_KEY}
        self.state[key] = Entry(args.typ, args.name, order, inputs, outputs, resource_id, provider, secret_inputs & set(outputs))
        return resource_id, dict(outputs)

    # ------------------------------------------------------------------ helpers

    def _order(self) -> int:
        self._next_order += 1
        return self._next_order

    def _delete_all(self, entries: list[Entry]) -> None:
        for entry in sorted(entries, key=lambda e: e.order, reverse=True):
            if entry.dynamic:
                self.engine.delete(entry.provider, entry.id, entry.outputs)
