"""The Runpod backend with a private-registry credential, under Pulumi mocks (dev stack file).

With `registry` in the args, the backend adds one `RunpodRegistryAuth` (and its rotation id) and
the template takes its id as `registryAuthId`; the password is registered only as a secret. Without
it, nothing registry-related is registered.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.config import load_stack_config
from components.gpu.endpoint import GpuEndpoint, RegistryCredential
from components.offline import ProgramRun, is_secret, run_program, unwrap
from tests.runpod.support import plain_text

REGISTRY = "pulumi-python:dynamic/runpod:RegistryAuth"
TEMPLATE = "pulumi-python:dynamic/runpod:Template"
RANDOM_ID = "random:index/randomId:RandomId"
IMAGE = "us-central1-docker.pkg.dev/acme-ml/modelstack/worker@sha256:" + "d" * 64
KEY_JSON = json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nbackend-key-9\n"})


def program(registry: RegistryCredential | None) -> Any:
    def run() -> None:
        config = load_stack_config()
        model = config.modelstack.models["flux"]
        args: dict[str, Any] = {
            "stack": config.stack, "environment": config.environment, "model_key": "flux", "model": model,
            "endpoint": model.endpoint, "revision": "741f7c3ce8b383c54771c7003378a50191e9efe9",
            "gpu_ids": ["ADA_24"], "image": IMAGE, "env": {}, "secret_env": {}, "protect": config.protected,
        }
        if registry is not None:
            args["registry"] = registry
        GpuEndpoint("flux", args)  # type: ignore[arg-type]

    return run


@pytest.fixture(scope="module")
def with_registry() -> ProgramRun:
    return run_program("dev", program=program(RegistryCredential("_json_key", pulumi.Output.secret(KEY_JSON))))


@pytest.fixture(scope="module")
def without_registry() -> ProgramRun:
    return run_program("dev", program=program(None))


def test_the_template_pulls_with_the_registry_credential(with_registry: ProgramRun) -> None:
    run = with_registry
    component = run.named("flux")
    registry, template = run.named("flux-registry"), run.named("flux-template")
    assert registry.type == REGISTRY and registry.parent == component.urn
    assert registry.protect is False  # dev; prod protects it like every other child
    assert registry.value("username") == "_json_key"
    # The template's registryAuthId is the credential's output: unknown in preview, and it depends on it.
    assert template.type == TEMPLATE and type(template.inputs["registryAuthId"]).__name__ == "Unknown"
    assert registry.urn in template.depends_on
    assert run.named("flux-endpoint").urn not in registry.depends_on
    # Named like the secrets: <prefix>-registry-<rotation>, the rotation keyed on a secret hash.
    rotation = run.named("flux-registry-rotation")
    assert rotation.type == RANDOM_ID and rotation.parent == component.urn and rotation.value("byteLength") == 3
    assert is_secret(rotation.inputs["keepers"])
    assert rotation.urn in registry.depends_on


def test_the_password_is_registered_only_as_a_secret(with_registry: ProgramRun) -> None:
    registry = with_registry.named("flux-registry")
    assert is_secret(registry.inputs["password"]) and unwrap(registry.inputs["password"]) == KEY_JSON
    assert "password" in registry.additional_secret_outputs
    for registration in with_registry.resources:
        assert KEY_JSON not in plain_text(registration), registration.name
        assert "backend-key-9" not in plain_text(registration), registration.name


def test_without_a_credential_nothing_changes(without_registry: ProgramRun, with_registry: ProgramRun) -> None:
    assert without_registry.of_type(REGISTRY) == []
    names = {r.name for r in without_registry.resources}
    assert "flux-registry-rotation" not in names
    assert without_registry.named("flux-template").inputs.get("registryAuthId") is None
    # Everything else registers exactly as with the credential.
    extra = {"flux-registry", "flux-registry-rotation"}
    assert {r.name for r in with_registry.resources} - extra == names


def test_prod_protects_it_and_a_plain_password_is_made_secret_anyway() -> None:
    run = run_program("prod", program=program(RegistryCredential("_json_key", KEY_JSON)))
    registry = run.named("flux-registry")
    assert registry.protect is True and run.named("flux-registry-rotation").protect is True
    assert is_secret(registry.inputs["password"]) and unwrap(registry.inputs["password"]) == KEY_JSON
    for registration in run.resources:
        assert "backend-key-9" not in plain_text(registration), registration.name
