"""`RunpodRegistryAuth` against the fake Runpod API: lifecycle, rotation, drift, leftovers, in-use, secrecy.

The credential is wired to a template and an endpoint the way the backend wires it, so each step
also shows what Runpod does to the template that references it.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.output import Unknown

from components.providers.http import ApiError
from components.providers.runpod import EndpointProvider, RegistryAuthProvider, TemplateProvider
from components.providers.runpod.registry import is_password_hash, password_hash
from tests.fakes import runpod_server
from tests.fakes.runpod_server import FakeRunpod, Fault
from tests.runpod.support import IMAGE_V1, CheckFailedError, Driver, State, configured, leaks

NAME = "modelstack-dev-flux"
# Shaped like what Artifact Registry takes: `_json_key` and a service-account key file.
USERNAME = "_json_key"
KEY_V1 = json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA1111\n-----END"})
KEY_V2 = json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nBBBB2222\n-----END"})
PRIVATE_IMAGE = IMAGE_V1  # us-central1-docker.pkg.dev/...: Artifact Registry


def credential(password: str = KEY_V1, rotation: str = "a1a1a1", **extra: Any) -> dict[str, Any]:
    return {"name": f"{NAME}-registry-{rotation}", "username": USERNAME, "password": password, **extra}


class Stack:
    def __init__(self, fake: FakeRunpod):
        self.fake = fake
        self.registries = Driver(configured(RegistryAuthProvider(), fake.api_key))
        self.templates = Driver(configured(TemplateProvider(), fake.api_key))
        self.endpoints = Driver(configured(EndpointProvider(), fake.api_key))
        self.seen: list[Any] = []

    @staticmethod
    def template(registry: State | None) -> dict[str, Any]:
        return {"name": f"{NAME}-c0ffee", "image": PRIVATE_IMAGE,
                "registryAuthId": registry.outputs["registryAuthId"] if registry else None}

    @staticmethod
    def endpoint(template: State) -> dict[str, Any]:
        return {"name": f"{NAME}-c0ffee", "templateId": template.id, "templateRevision": template.outputs["revision"],
                "gpuPools": ["ADA_24"], "workersMax": 1, "flashboot": "FLASHBOOT"}

    def reset_log(self) -> None:
        """Clear the fake's request log, keeping what it held for `everything_sent`."""
        self.seen.extend(self.fake.requests)
        self.fake.reset_log()

    def everything_sent(self) -> str:
        """Every request body sent to the fake except createRegistry's, where the password must go."""
        requests = [*self.seen, *self.fake.requests]
        return json.dumps([r.body for r in requests if r.operation != "createRegistry"], default=repr)


@pytest.fixture
def stack(runpod_fake: FakeRunpod, waits: list[float]) -> Stack:
    return Stack(runpod_fake)


def test_create_noop_rotate_refresh_delete(stack: Stack, runpod_fake: FakeRunpod, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = runpod_fake
    # ---- create: one lookup for a leftover, one POST
    registry = stack.registries.up(credential())
    assert [r.operation for r in fake.requests] == ["listRegistries", "createRegistry"]
    stored = fake.registries[registry.id]
    assert (stored["name"], stored["username"], stored["password"]) == (f"{NAME}-registry-a1a1a1", USERNAME, KEY_V1)
    assert registry.outputs["registryAuthId"] == registry.id and registry.outputs["name"] == stored["name"]
    assert registry.outputs["username"] == USERNAME
    assert is_password_hash(registry.outputs["password"])
    assert registry.outputs["password"] == password_hash(registry.outputs["salt"], KEY_V1)

    template = stack.templates.up(stack.template(registry))
    endpoint = stack.endpoints.up(stack.endpoint(template))
    assert fake.templates[template.id]["registry"] == registry.id  # registryAuthId -> the API's `registry`
    assert fake.endpoints[endpoint.id]["registry"] == registry.id  # copied from the template
    assert template.outputs["registryAuthId"] == registry.id

    # ---- no-op: same inputs, no change, no API call
    stack.reset_log()
    assert stack.registries.up(credential(), registry).history == ["same"]
    assert stack.templates.up(stack.template(registry), template).history == ["same"]
    assert fake.requests == []

    # ---- rotate the password. Under the same name it would have to delete first, and Runpod would
    # clear the template's reference in between; the backend's rotation gives it a new name instead.
    same_name = stack.registries.diff(credential(KEY_V2), registry)
    assert same_name.replaces == ["password"] and same_name.delete_before_replace is True
    rotated_inputs = credential(KEY_V2, rotation="b2b2b2")
    diff = stack.registries.diff(rotated_inputs, registry)
    assert set(diff.replaces) == {"name", "password"} and diff.delete_before_replace is False
    # The engine's order for create-before-delete: create, update dependents, delete the old last.
    stack.reset_log()
    provider = stack.registries.provider
    checked = stack.registries.check(rotated_inputs, registry)
    created = provider.create(checked)
    rotated = State(created.id, checked, dict(created.outs or {}))
    template2 = stack.templates.up(stack.template(rotated), template)
    assert fake.templates[template.id]["registry"] == rotated.id  # switched before the old one goes
    endpoint2 = stack.endpoints.up(stack.endpoint(template2), endpoint)
    assert fake.endpoints[endpoint.id]["registry"] == rotated.id and endpoint2.id == endpoint.id
    provider.delete(registry.id, registry.outputs)
    assert [r.operation for r in fake.requests if "Registr" in r.operation] == \
        ["listRegistries", "createRegistry", "deleteRegistry"]
    assert [(r["username"], r["password"]) for r in fake.registries.values()] == [(USERNAME, KEY_V2)]
    assert template2.history == ["update"] and set(fake.calls("updateTemplate")[0].body) == {"registry"}
    assert rotated.outputs["password"] != registry.outputs["password"]
    assert rotated.outputs["salt"] == registry.outputs["salt"]  # kept from the previous inputs
    assert stack.registries.up(rotated_inputs, rotated).history == ["same"]

    # ---- deleted in the console: Runpod clears the template's reference; refresh shows both
    fake.apply("deleteRegistry", object_id=rotated.id)
    stack.reset_log()
    assert stack.registries.refresh(rotated) is None
    assert [r.operation for r in fake.requests] == ["getRegistry"]  # one GET
    drifted_template = stack.templates.refresh(template2)
    assert drifted_template is not None and drifted_template.outputs["registryAuthId"] is None
    # The next `pulumi up` creates the credential again and points the template at it.
    recreated = stack.registries.up(rotated_inputs)
    template3 = stack.templates.up(stack.template(recreated), drifted_template)
    assert template3.history == ["update"] and fake.templates[template.id]["registry"] == recreated.id
    endpoint3 = stack.endpoints.up(stack.endpoint(template3), endpoint2)
    assert fake.endpoints[endpoint.id]["registry"] == recreated.id and endpoint3.history == ["update"]

    # ---- destroy, dependents first; deleting twice is still a success; nothing is left
    stack.endpoints.destroy(endpoint3)
    stack.templates.destroy(template3)
    stack.registries.destroy(recreated)
    stack.registries.destroy(recreated)
    assert fake.object_counts() == {"templates": 0, "endpoints": 0, "volumes": 0, "secrets": 0, "registries": 0}

    # ---- the passwords went to Runpod in createRegistry bodies and nowhere else
    everything = json.dumps([registry.outputs, rotated.outputs, recreated.outputs, template3.outputs])
    secrets = {"v1": KEY_V1, "v2": KEY_V2, "api_key": fake.api_key}
    assert leaks(everything + stack.everything_sent() + caplog.text, **secrets) == []


def test_deleting_first_leaves_the_template_without_a_credential_until_it_is_updated(
    stack: Stack, runpod_fake: FakeRunpod
) -> None:
    """Why the backend rotates names: a same-name replacement opens a window without a credential."""
    fake = runpod_fake
    registry = stack.registries.up(credential())
    template = stack.templates.up(stack.template(registry))
    provider = stack.registries.provider
    provider.delete(registry.id, registry.outputs)  # delete_before_replace: the old one goes first
    assert fake.templates[template.id]["registry"] is None  # the spec: templates silently lose it
    replacement = provider.create(stack.registries.check(credential(KEY_V2), registry))
    assert fake.templates[template.id]["registry"] is None  # still none: nothing pulls the image now
    new_state = State(replacement.id, {}, dict(replacement.outs or {}))
    stack.templates.up(stack.template(new_state), template)
    assert fake.templates[template.id]["registry"] == replacement.id


def test_a_leftover_of_the_same_name_is_replaced_not_adopted(stack: Stack, runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    # An earlier `pulumi up` created it with another password, then died before recording it.
    leftover = fake.apply("createRegistry", {"name": f"{NAME}-registry-a1a1a1", "username": USERNAME,
                                             "password": "an-old-password-nobody-can-check"})
    fake.reset_log()
    registry = stack.registries.up(credential())
    assert [r.operation for r in fake.requests] == ["listRegistries", "deleteRegistry", "createRegistry"]
    assert registry.id != leftover["id"]
    assert [(r["name"], r["password"]) for r in fake.registries.values()] == [(f"{NAME}-registry-a1a1a1", KEY_V1)]


def test_a_create_whose_answer_is_lost_is_adopted_not_duplicated(stack: Stack, runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    fake.inject("createRegistry", Fault.drop_after_commit())
    registry = stack.registries.up(credential())
    assert [(r.operation, r.status) for r in fake.requests] == [
        ("listRegistries", 200), ("createRegistry", "dropped"), ("listRegistries", 200)]
    assert list(fake.registries) == [registry.id] and fake.registries[registry.id]["password"] == KEY_V1


def test_delete_waits_while_a_pod_pulls_with_it_and_gives_up_in_bounded_time(
    runpod_fake: FakeRunpod, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real waits here (no `waits` fixture): the pod stops while the delete is retrying.
    fake = runpod_fake
    driver = Driver(configured(RegistryAuthProvider(), fake.api_key))
    registry = driver.up(credential())
    pod = fake.start_pod(registry.id)

    monkeypatch.setenv("MODELSTACK_IN_USE_TIMEOUT_SECONDS", "0.3")
    with pytest.raises(ApiError, match=r"runpod:RegistryAuth '.*' \(id .*\): delete failed: still in use after 0.3s: "
                                       r".*in use by pod"):
        driver.destroy(registry)
    assert registry.id in fake.registries

    monkeypatch.setenv("MODELSTACK_IN_USE_TIMEOUT_SECONDS", "5")
    timer = threading.Timer(0.3, fake.stop_pod, [pod])
    timer.start()
    try:
        fake.reset_log()
        driver.destroy(registry)
    finally:
        timer.cancel()
    statuses = [r.status for r in fake.calls("deleteRegistry")]
    assert statuses[-1] == 204 and set(statuses[:-1]) == {400} and len(statuses) >= 2
    assert fake.registries == {}


def test_check_validates_offline_fills_a_salt_and_tolerates_unknowns(stack: Stack, runpod_fake: FakeRunpod) -> None:
    provider = stack.registries.provider
    result = provider.check({}, {"name": "-bad name", "username": " padded", "password": 42, "bogus": 1})
    reasons = {f.property: f.reason for f in result.failures}
    assert reasons["bogus"].startswith("unknown input 'bogus'; RegistryAuth takes name, username, password")
    assert "must be letters, digits" in reasons["name"]
    assert reasons["username"] == "must not start or end with whitespace"
    assert reasons["password"] == "must be a string, not int"
    missing = {f.property: f.reason for f in provider.check({}, {"name": "n"}).failures}
    assert missing == {"username": "is required", "password": "is required"}
    too_long = "k" * 70_000
    failures = provider.check({}, credential(too_long)).failures
    assert [f.reason for f in failures] == ["must be at most 65536 characters"]
    assert leaks(repr(failures), password=too_long) == []

    # The provider owns the salt: made once, kept from the previous inputs, never taken from the user.
    first = provider.check({}, credential(salt="00" * 16)).inputs
    assert len(first["salt"]) == 32 and first["salt"] != "00" * 16
    assert provider.check(first, credential(KEY_V2)).inputs["salt"] == first["salt"]

    # Preview: unknown values pass check untouched and count as changes in diff.
    unknown = provider.check({}, {"name": Unknown(), "username": USERNAME, "password": Unknown()})
    assert unknown.failures == [] and isinstance(unknown.inputs["password"], Unknown)
    registry = stack.registries.up(credential())
    runpod_fake.reset_log()
    diff = stack.registries.diff({**credential(), "password": Unknown()}, registry)
    assert diff.changes is True and diff.replaces == ["password"]
    diff = stack.registries.diff({**credential(), "name": Unknown()}, registry)
    assert diff.replaces == ["name"] and diff.delete_before_replace is True  # may be the same name
    diff = stack.registries.diff(credential(username="oauth2accesstoken"), registry)
    assert diff.replaces == ["username"] and diff.delete_before_replace is True
    assert stack.registries.diff(credential(), registry).changes is False
    with pytest.raises(CheckFailedError, match="password: must not be empty"):
        stack.registries.up(credential("   "), registry)
    assert runpod_fake.requests == []  # check and diff never touch the network


def test_a_state_without_a_usable_hash_is_replaced_not_trusted(stack: Stack, runpod_fake: FakeRunpod) -> None:
    registry = stack.registries.up(credential())
    # Outputs that somehow hold no hash (or a plaintext value) must not pass as "unchanged".
    for stored in (None, KEY_V1, "hmac-sha256:short"):
        tampered = State(registry.id, registry.inputs, {**registry.outputs, "password": stored})
        assert stack.registries.diff(credential(), tampered).replaces == ["password"]
    # Read keeps only a hash, never a plaintext value handed to it.
    refreshed = stack.registries.refresh(State(registry.id, {}, {**registry.outputs, "password": KEY_V1}))
    assert refreshed is not None and refreshed.outputs["password"] is None


def test_errors_and_the_serialized_provider_hold_no_secret(
    stack: Stack, runpod_fake: FakeRunpod, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = runpod_fake
    provider = stack.registries.provider

    # A vendor error that echoes the request, raw and JSON-escaped, is redacted before it is raised.
    def echo(self: FakeRunpod, _id: Any, body: dict[str, Any], _req: Any) -> Any:
        raise runpod_server._ProblemError(400, f"rejected {body['password']} / {json.dumps(body['password'])}")

    with monkeypatch.context() as patched, pytest.raises(ApiError) as caught:
        patched.setattr(FakeRunpod, "_op_createRegistry", echo)
        stack.registries.up(credential())
    text = str(caught.value)
    assert text.startswith(f"runpod:RegistryAuth '{NAME}-registry-a1a1a1': create failed: HTTP 400")
    assert "[redacted] / \"[redacted]\"" in text
    assert leaks(text, password=KEY_V1, escaped=json.dumps(KEY_V1)[1:-1], api_key=fake.api_key) == []

    # A wrong API key: the error names the resource and the operation, and holds neither secret.
    wrong = Driver(configured(RegistryAuthProvider(), "rpa_wrong_key_must_not_leak_4242"))
    with pytest.raises(ApiError) as denied:
        wrong.up(credential())
    assert str(denied.value).startswith(f"runpod:RegistryAuth '{NAME}-registry-a1a1a1': create failed: HTTP 401")
    assert leaks(str(denied.value), password=KEY_V1, key="rpa_wrong_key_must_not_leak_4242") == []

    # The provider the engine pickles into state carries neither the API key nor a password.
    registry = stack.registries.up(credential())
    pickled = base64.b64decode(serialize_provider(provider))
    assert fake.api_key.encode() not in pickled and KEY_V1.encode() not in pickled
    assert leaks(json.dumps(registry.outputs), password=KEY_V1) == []
