"""Every fault the fake can inject, on every API operation the Runpod providers use.

For each (operation, fault) the scenario that makes the call runs with the fault injected once:

- transient faults (429, 500, 503, a hanging response, a dropped connection after the change was
  applied) must be absorbed by bounded retries, and a dropped or timed-out create must be adopted,
  never duplicated;
- 404 means "gone" to a read or delete and is an error anywhere else; "in use" is waited out by a
  delete and is an error anywhere else;
- an error names the resource and the operation and holds neither the API key nor a secret value;
- then the same step runs again without the fault (the next `pulumi up`), and the fake must hold
  exactly the objects the resource owns: none left over, none duplicated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from components.providers.http import ApiError, RetryPolicy
from components.providers.runpod import (
    EndpointProvider,
    RegistryAuthProvider,
    SecretProvider,
    TemplateProvider,
    VolumeProvider,
)
from tests.fakes.runpod_server import ALL_FAULTS, FakeRunpod
from tests.runpod.support import IMAGE_V1, IMAGE_V2, Driver, State, configured, leaks

pytestmark = pytest.mark.slow

SECRET_VALUE = "hf_fault_matrix_secret_value_77"
REGISTRY_PASSWORD = '{"type": "service_account", "private_key": "fault-matrix-key-88"}'
NAMES = {
    "templates": "modelstack-ci-flux-f00001",
    "endpoints": "modelstack-ci-flux-f00001",
    "volumes": "modelstack-ci-flux-cache",
    "secrets": "modelstack-ci-flux-hf-token-f00001",
    "registries": "modelstack-ci-flux-registry-f00001",
}
KINDS = {"templates": "Template", "endpoints": "Endpoint", "volumes": "NetworkVolume", "secrets": "Secret",
         "registries": "RegistryAuth"}


class World:
    """The resources a scenario needs, created before any fault is injected."""

    def __init__(self, fake: FakeRunpod):
        self.fake = fake
        key = fake.api_key
        self.drivers = {
            "templates": Driver(configured(TemplateProvider(), key)),
            "endpoints": Driver(configured(EndpointProvider(), key)),
            "volumes": Driver(configured(VolumeProvider(), key)),
            "secrets": Driver(configured(SecretProvider(), key)),
            "registries": Driver(configured(RegistryAuthProvider(), key)),
        }
        self.states: dict[str, State] = {}

    def inputs(self, kind: str, version: int = 1) -> dict[str, Any]:
        if kind == "templates":
            return {"name": NAMES[kind], "image": IMAGE_V1 if version == 1 else IMAGE_V2, "env": {"A": "1"}}
        if kind == "endpoints":
            template = self.states["templates"]
            return {"name": NAMES[kind], "templateId": template.id, "templateRevision": template.outputs["revision"],
                    "gpuPools": ["ADA_24"], "workersMax": version + 1, "flashboot": "FLASHBOOT"}
        if kind == "volumes":
            return {"name": NAMES[kind], "sizeGb": 10 * (version + 1), "dataCenterId": "EU-RO-1"}
        if kind == "registries":
            return {"name": NAMES[kind], "username": "_json_key", "password": REGISTRY_PASSWORD}
        return {"name": NAMES[kind], "value": SECRET_VALUE}

    def ensure(self, kind: str) -> State:
        if kind == "endpoints" and "templates" not in self.states:
            self.ensure("templates")
        if kind not in self.states:
            self.states[kind] = self.drivers[kind].up(self.inputs(kind))
        return self.states[kind]

    def owned(self, kind: str) -> list[dict[str, Any]]:
        return self.fake.find(kind, NAMES[kind])


@dataclass(frozen=True)
class Scenario:
    kind: str
    step: str  # create | read | update | delete

    def prepare(self, world: World) -> None:
        if self.kind == "endpoints":
            world.ensure("templates")
        if self.step != "create":
            world.ensure(self.kind)

    def run(self, world: World) -> Any:
        driver = world.drivers[self.kind]
        if self.step == "create":
            return driver.up(world.inputs(self.kind))
        state = world.states[self.kind]
        if self.step == "read":
            return driver.refresh(state)
        if self.step == "update":
            return driver.up(world.inputs(self.kind, version=2), state)
        return driver.destroy(state)

    def expected_objects(self) -> int:
        return 0 if self.step == "delete" else 1

    def check_result(self, world: World, result: Any) -> None:
        owned = world.owned(self.kind)
        assert len(owned) == self.expected_objects(), f"{self.kind} named {NAMES[self.kind]}: {len(owned)}"
        if self.step in ("create", "update", "read"):
            assert isinstance(result, State) and result.id == owned[0]["id"]
        if self.step == "update":
            expected = {"templates": ("image", IMAGE_V2), "endpoints": ("workersMax", 3), "volumes": ("sizeGb", 30)}
            key, value = expected[self.kind]
            assert result.outputs[key] == value


# Each API operation, and the provider step that calls it.
CALLS: list[tuple[str, Scenario]] = [
    ("listTemplates", Scenario("templates", "create")),
    ("createTemplate", Scenario("templates", "create")),
    ("getTemplate", Scenario("templates", "read")),
    ("updateTemplate", Scenario("templates", "update")),
    ("deleteTemplate", Scenario("templates", "delete")),
    ("listEndpoints", Scenario("endpoints", "create")),
    ("createEndpoint", Scenario("endpoints", "create")),
    ("listEndpointReleases", Scenario("endpoints", "create")),
    ("getEndpoint", Scenario("endpoints", "read")),
    ("updateEndpoint", Scenario("endpoints", "update")),
    ("deleteEndpoint", Scenario("endpoints", "delete")),
    ("listNetworkVolumes", Scenario("volumes", "create")),
    ("createNetworkVolume", Scenario("volumes", "create")),
    ("getNetworkVolume", Scenario("volumes", "read")),
    ("updateNetworkVolume", Scenario("volumes", "update")),
    ("deleteNetworkVolume", Scenario("volumes", "delete")),
    ("myself", Scenario("secrets", "create")),
    ("myself", Scenario("secrets", "read")),
    ("secretCreate", Scenario("secrets", "create")),
    ("secretDelete", Scenario("secrets", "delete")),
    ("listRegistries", Scenario("registries", "create")),
    ("createRegistry", Scenario("registries", "create")),
    ("getRegistry", Scenario("registries", "read")),
    ("deleteRegistry", Scenario("registries", "delete")),
]
REST_READS = {"getTemplate", "getEndpoint", "getNetworkVolume", "getRegistry"}
REST_DELETES = {"deleteTemplate", "deleteEndpoint", "deleteNetworkVolume", "deleteRegistry"}
DELETES = REST_DELETES | {"secretDelete"}


def outcome(operation: str, fault: str) -> str:
    """What the provider step must do: succeed, report the object gone, or fail with a clear error."""
    if fault in ("429", "500", "503", "hang", "drop"):
        return "succeeds"
    if fault == "404":
        if operation in REST_READS:
            return "gone"  # the API says it does not exist: refresh drops it
        if operation in REST_DELETES:
            return "succeeds"  # already gone is success
        return "fails"
    if fault == "in_use":
        return "succeeds" if operation in DELETES else "fails"
    raise AssertionError(fault)


@pytest.mark.parametrize("fault", list(ALL_FAULTS))
@pytest.mark.parametrize(("operation", "scenario"), CALLS, ids=[f"{op}-{s.step}" for op, s in CALLS])
def test_fault(
    runpod_fake: FakeRunpod,
    waits: list[float],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    operation: str,
    scenario: Scenario,
    fault: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    if fault == "hang":
        monkeypatch.setenv("MODELSTACK_HTTP_TIMEOUT_SECONDS", "0.5")
    world = World(runpod_fake)
    scenario.prepare(world)
    runpod_fake.reset_log()
    runpod_fake.inject(operation, ALL_FAULTS[fault])

    expected = outcome(operation, fault)
    error: ApiError | None = None
    result: Any = None
    try:
        result = scenario.run(world)
    except ApiError as exc:
        error = exc

    assert runpod_fake.calls(operation), f"the scenario never called {operation}"
    assert any(r.fault for r in runpod_fake.requests), "the fault was never injected"
    attempts = RetryPolicy.from_env().max_attempts
    assert len(runpod_fake.calls(operation)) <= 2 * attempts + 1, "retries must be bounded"
    if fault == "429":
        assert 1.0 in waits  # what Retry-After said
    secrets = {"api_key": runpod_fake.api_key, "secret_value": SECRET_VALUE, "registry_password": REGISTRY_PASSWORD}

    if expected == "fails":
        assert error is not None, f"{operation} with {fault} should fail"
        text = str(error)
        assert text.startswith(f"runpod:{KINDS[scenario.kind]} '{NAMES[scenario.kind]}'")
        assert error.operation == scenario.step and f": {scenario.step} failed: " in text
        assert leaks(text, **secrets) == []
    else:
        assert error is None, f"{operation} with {fault} should succeed, got: {error}"
        if expected == "gone":
            assert result is None
        elif not (fault == "404" and operation in REST_DELETES):
            scenario.check_result(world, result)
    assert leaks(caplog.text, **secrets) == []
    if isinstance(result, State):
        assert leaks(json.dumps(result.outputs, default=repr), **secrets) == []

    # The next `pulumi up` (or refresh / destroy) runs the same step without the fault.
    runpod_fake.clear_faults()
    if expected != "succeeds":
        result = scenario.run(world)
        scenario.check_result(world, result)
    if fault == "404" and operation in REST_DELETES:
        # The API claimed the object was gone; the next destroy finds it gone for real.
        scenario.run(world)
    assert len(world.owned(scenario.kind)) == scenario.expected_objects()
    # Nothing else leaked: every object in the fake belongs to a resource the world tracks.
    counts = runpod_fake.object_counts()
    for kind in counts:
        tracked = 1 if (kind in world.states or kind == scenario.kind) else 0
        if kind == scenario.kind:
            tracked = scenario.expected_objects()
        assert counts[kind] == tracked, f"{kind}: {counts[kind]} objects, expected {tracked}"


def test_every_fault_kind_and_operation_is_covered() -> None:
    covered = {op for op, _ in CALLS}
    used = {
        "listTemplates", "createTemplate", "getTemplate", "updateTemplate", "deleteTemplate",
        "listEndpoints", "createEndpoint", "listEndpointReleases", "getEndpoint", "updateEndpoint",
        "deleteEndpoint", "listNetworkVolumes", "createNetworkVolume", "getNetworkVolume",
        "updateNetworkVolume", "deleteNetworkVolume", "myself", "secretCreate", "secretDelete",
        "listRegistries", "createRegistry", "getRegistry", "deleteRegistry",
    }
    assert covered == used
    assert set(ALL_FAULTS) == {"429", "500", "503", "hang", "404", "in_use", "drop"}

