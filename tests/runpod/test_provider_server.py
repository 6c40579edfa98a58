"""The Runpod providers through the SDK's own dynamic-provider server, as the Pulumi engine drives them.

The provider objects are pickled here and un-pickled in `python -m pulumi.dynamic`, configured there
with the stack config (credentials as a secret), fed inputs with secrets stripped and unknowns in
preview, and called over gRPC for preview, up, refresh and destroy.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc

from components.providers.runpod import EndpointProvider, SecretProvider, TemplateProvider, VolumeProvider
from tests.fakes.runpod_server import FakeRunpod
from tests.runpod.support import FAST_RETRIES, IMAGE_V1, IMAGE_V2, configured, leaks, stack_config
from tests.support.dynamic_engine import UNKNOWN, DynamicEngine, ProviderError, ResourceState

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

SECRET_VALUE = "hf_provider_server_secret_value_42"
NAME = "modelstack-dev-flux-5e5e5e"


def engine_for(fake: FakeRunpod, api_key: str | None = None) -> DynamicEngine:
    env = {**FAST_RETRIES, "RUNPOD_API_BASE_URL": fake.url, "RUNPOD_API_KEY": ""}
    return DynamicEngine(stack_config(api_key or fake.api_key), env=env)


def template_inputs(secret: ResourceState, image: str = IMAGE_V1) -> dict[str, Any]:
    return {"name": NAME, "image": image, "env": {"MODELSTACK_MODEL_KEY": "flux", "HF_TOKEN": secret.outputs["reference"]}}


def endpoint_inputs(template: ResourceState, volume: ResourceState, workers_max: int = 2) -> dict[str, Any]:
    return {
        "name": NAME,
        "templateId": template.id,
        "templateRevision": template.outputs["revision"],
        "gpuPools": ["ADA_24", "AMPERE_48"],
        "workersMax": workers_max,
        "idleTimeoutSeconds": 60,
        "flashboot": "FLASHBOOT",
        "networkVolumeIds": [volume.id],
    }


def persisted(*states: ResourceState) -> str:
    """Outputs, and inputs except `value`: the engine stores that one input encrypted, as a secret."""
    return json.dumps([{"id": s.id, "outputs": s.outputs, "inputs": {k: v for k, v in s.inputs.items() if k != "value"}}
                       for s in states], default=repr)


def test_lifecycle_through_the_provider_server(runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    secrets, templates, endpoints, volumes = SecretProvider(), TemplateProvider(), EndpointProvider(), VolumeProvider()
    secret_input = {"name": f"{NAME}-hf-token", "value": rpc.wrap_rpc_secret(SECRET_VALUE)}

    with engine_for(fake) as engine:
        # ---- preview of a new stack: nothing known yet downstream, and no API call
        assert engine.preview(secrets, secret_input) is None
        assert engine.preview(templates, {"name": UNKNOWN, "image": IMAGE_V1, "env": {"HF_TOKEN": UNKNOWN}}) is None
        assert engine.preview(endpoints, {"name": NAME, "templateId": UNKNOWN, "templateRevision": UNKNOWN,
                                          "gpuPools": UNKNOWN, "workersMax": 2}) is None
        assert fake.requests == []

        # ---- up
        secret = engine.up(secrets, secret_input)
        volume = engine.up(volumes, {"name": f"{NAME}-cache", "sizeGb": 20, "dataCenterId": "EU-RO-1"})
        template = engine.up(templates, template_inputs(secret))
        endpoint = engine.up(endpoints, endpoint_inputs(template, volume))
        assert fake.object_counts() == {"templates": 1, "endpoints": 1, "volumes": 1, "secrets": 1, "registries": 0}
        assert fake.secrets[secret.id]["value"] == SECRET_VALUE
        assert fake.endpoints[endpoint.id]["env"]["HF_TOKEN"] == "{{ RUNPOD_SECRET_" + NAME + "-hf-token }}"
        assert endpoint.outputs["url"] == f"https://api.runpod.ai/v2/{endpoint.id}"
        assert endpoint.outputs["version"] == "1"
        # The value is never an output: only a salted hash (and the salt) are.
        assert "value" not in secret.outputs and len(secret.outputs["valueHash"]) == 64
        assert leaks(json.dumps(secret.outputs), value=SECRET_VALUE) == []

        # ---- no-op: the same inputs again change nothing and call nothing
        fake.reset_log()
        assert engine.up(secrets, secret_input, secret) is secret
        assert engine.up(templates, template_inputs(secret), template) is template
        assert engine.up(endpoints, endpoint_inputs(template, volume), endpoint) is endpoint
        assert fake.requests == []

        # ---- preview of an update whose template revision is not known yet
        diff = engine.preview(endpoints, {**endpoint_inputs(template, volume), "templateRevision": UNKNOWN}, endpoint)
        assert diff is not None and diff.changes is True and diff.replaces == []

        # ---- update in place
        template2 = engine.up(templates, template_inputs(secret, IMAGE_V2), template)
        endpoint2 = engine.up(endpoints, endpoint_inputs(template2, volume, workers_max=4), endpoint)
        assert (template2.id, endpoint2.id) == (template.id, endpoint.id)
        assert fake.endpoints[endpoint.id]["image"] == IMAGE_V2 and fake.endpoints[endpoint.id]["workers"]["max"] == 4
        assert endpoint2.outputs["version"] == "2"

        # ---- roll back
        template3 = engine.up(templates, template_inputs(secret), template2)
        endpoint3 = engine.up(endpoints, endpoint_inputs(template3, volume), endpoint2)
        assert fake.endpoints[endpoint.id]["image"] == IMAGE_V1 and fake.endpoints[endpoint.id]["workers"]["max"] == 2

        # ---- refresh after drift: one GET, drift visible, next up corrects it
        fake.endpoints[endpoint.id]["workers"]["max"] = 7
        fake.reset_log()
        refreshed = engine.refresh(endpoints, endpoint3)
        assert [r.operation for r in fake.requests] == ["getEndpoint"]
        assert refreshed is not None and refreshed.outputs["workersMax"] == 7
        fixed = engine.up(endpoints, endpoint_inputs(template3, volume), refreshed)
        assert fixed.id == endpoint.id and fake.endpoints[endpoint.id]["workers"]["max"] == 2

        # ---- replace: a new secret value under the same name deletes first (names are unique)
        rotated = engine.up(secrets, {**secret_input, "value": rpc.wrap_rpc_secret(SECRET_VALUE + "-v2")}, secret)
        assert rotated.id != secret.id and [s["value"] for s in fake.secrets.values()] == [SECRET_VALUE + "-v2"]

        # ---- destroy
        engine.destroy(endpoints, fixed)
        engine.destroy(templates, template3)
        engine.destroy(volumes, volume)
        engine.destroy(secrets, rotated)
        assert fake.object_counts() == {"templates": 0, "endpoints": 0, "volumes": 0, "secrets": 0, "registries": 0}
        log = engine.server_log()

    known = {"api_key": fake.api_key, "secret_value": SECRET_VALUE}
    assert leaks(log, **known) == []
    assert leaks(persisted(secret, volume, template, endpoint, template2, endpoint2, fixed, rotated), **known) == []


def test_a_rotated_api_key_causes_no_diff_and_still_destroys(runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    volumes = VolumeProvider()
    inputs = {"name": "rotating-key-volume", "sizeGb": 10, "dataCenterId": "EU-RO-1"}
    with engine_for(fake) as engine:
        volume = engine.up(volumes, inputs)
    fake.api_key = "rpa_rotated_key_after_create_999"
    with engine_for(fake, api_key=fake.api_key) as engine:
        diff = engine.preview(volumes, inputs, volume)
        assert diff is not None and diff.changes is False
        engine.destroy(volumes, volume)
    assert fake.volumes == {}


def test_errors_through_the_server_name_resource_and_operation_without_secrets(runpod_fake: FakeRunpod) -> None:
    wrong_key = "rpa_wrong_key_that_must_not_leak_31337"
    with engine_for(runpod_fake, api_key=wrong_key) as engine:
        with pytest.raises(ProviderError) as caught:
            engine.up(SecretProvider(), {"name": "denied-secret", "value": rpc.wrap_rpc_secret(SECRET_VALUE)})
        log = engine.server_log()
    details = caught.value.details
    assert "runpod:Secret 'denied-secret': create failed: HTTP 401" in details
    known = {"wrong_key": wrong_key, "secret_value": SECRET_VALUE, "api_key": runpod_fake.api_key}
    assert leaks(details + log, **known) == []


def test_the_serialized_provider_carries_no_credential(runpod_fake: FakeRunpod) -> None:
    import base64

    for provider in (SecretProvider(), TemplateProvider(), EndpointProvider(), VolumeProvider()):
        pickled = base64.b64decode(serialize_provider(configured(provider, runpod_fake.api_key)))
        assert runpod_fake.api_key.encode() not in pickled, type(provider).__name__
        assert getattr(provider, "_api_key", None) == runpod_fake.api_key  # it was configured, yet not pickled
