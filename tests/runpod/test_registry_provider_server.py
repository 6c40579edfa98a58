"""`RunpodRegistryAuth` through the SDK's own dynamic-provider server, as the Pulumi engine drives it.

The provider is pickled here and un-pickled in `python -m pulumi.dynamic`; the password arrives as
a secret input with its marker stripped (the server does not accept secrets), unknown in preview.
"""

from __future__ import annotations

import base64
import json

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from components.providers.runpod import RegistryAuthProvider, TemplateProvider
from components.providers.runpod.registry import is_password_hash
from tests.fakes.runpod_server import FakeRunpod
from tests.runpod.support import FAST_RETRIES, IMAGE_V1, leaks, stack_config
from tests.support.dynamic_engine import UNKNOWN, DynamicEngine, ResourceState

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

NAME = "modelstack-dev-flux-registry"
PASSWORD_V1 = '{"type": "service_account", "private_key": "provider-server-key-0001"}'
PASSWORD_V2 = '{"type": "service_account", "private_key": "provider-server-key-0002"}'


def credential(password: str = PASSWORD_V1, rotation: str = "d4d4d4") -> dict[str, object]:
    return {"name": f"{NAME}-{rotation}", "username": "_json_key", "password": rpc.wrap_rpc_secret(password)}


def persisted(*states: ResourceState) -> str:
    """State as the engine writes it, secrets decrypted: outputs, and inputs but the encrypted `password`."""

    def plain(value: object) -> object:
        return rpc.unwrap_rpc_secret(value) if rpc.is_rpc_secret(value) else value

    return json.dumps([{"id": s.id, "outputs": {k: plain(v) for k, v in s.outputs.items()},
                        "inputs": {k: v for k, v in s.inputs.items() if k != "password"}} for s in states], default=repr)


def test_registry_auth_lifecycle_through_the_provider_server(runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    registries, templates = RegistryAuthProvider(), TemplateProvider()
    env = {**FAST_RETRIES, "RUNPOD_API_BASE_URL": fake.url, "RUNPOD_API_KEY": ""}
    with DynamicEngine(stack_config(fake.api_key), env=env) as engine:
        # ---- preview of a new stack, the password not known yet: no failure, no API call
        assert engine.preview(registries, {**credential(), "password": UNKNOWN}) is None
        assert fake.requests == []

        # ---- up
        registry = engine.up(registries, credential())
        assert fake.registries[registry.id]["password"] == PASSWORD_V1
        assert registry.outputs["registryAuthId"] == registry.id and registry.outputs["name"] == f"{NAME}-d4d4d4"
        # The engine keeps `password` secret (same name as the secret input); it holds only a hash.
        assert registry.secret_outputs == {"password"}
        assert is_password_hash(rpc.unwrap_rpc_secret(registry.outputs["password"]))
        template = engine.up(templates, {"name": "modelstack-dev-flux-c0ffee", "image": IMAGE_V1,
                                         "registryAuthId": registry.id})
        assert fake.templates[template.id]["registry"] == registry.id

        # ---- no-op: same inputs, nothing changes, nothing is called
        fake.reset_log()
        assert engine.up(registries, credential(), registry) is registry
        assert fake.requests == []

        # ---- preview: an unknown password, or a new one, replaces; same name deletes first
        diff = engine.preview(registries, {**credential(), "password": UNKNOWN}, registry)
        assert diff is not None and diff.replaces == ["password"] and diff.delete_before_replace is True
        diff = engine.preview(registries, credential(PASSWORD_V2, rotation="e5e5e5"), registry)
        assert diff is not None and set(diff.replaces) == {"name", "password"} and diff.delete_before_replace is False

        # ---- rotate under a new name: created first, the old one deleted after
        fake.reset_log()
        rotated = engine.up(registries, credential(PASSWORD_V2, rotation="e5e5e5"), registry)
        assert [r.operation for r in fake.requests] == ["listRegistries", "createRegistry", "deleteRegistry"]
        assert [r["password"] for r in fake.registries.values()] == [PASSWORD_V2]
        template2 = engine.up(templates, {**template.inputs, "registryAuthId": rotated.id}, template)
        assert fake.templates[template.id]["registry"] == rotated.id

        # ---- refresh after it was deleted out of band: one GET, dropped from state
        fake.apply("deleteRegistry", object_id=rotated.id)
        fake.reset_log()
        assert engine.refresh(registries, rotated) is None
        assert [r.operation for r in fake.requests] == ["getRegistry"]

        # ---- destroy: already gone is success
        engine.destroy(registries, rotated)
        engine.destroy(templates, template2)
        assert fake.object_counts() == {"templates": 0, "endpoints": 0, "volumes": 0, "secrets": 0, "registries": 0}
        log = engine.server_log()

    known = {"v1": PASSWORD_V1, "v2": PASSWORD_V2, "api_key": fake.api_key}
    assert leaks(log, **known) == []
    assert leaks(persisted(registry, rotated), **known) == []
    pickled = base64.b64decode(serialize_provider(registries))
    assert leaks(pickled.decode("latin-1"), **known) == []
