"""Lifecycle of the Runpod resources against the fake API, driven as `pulumi up/refresh/destroy` would.

create -> no-op (zero API calls) -> update in place (same ids) -> roll back to the first inputs ->
replace -> refresh after out-of-band drift -> destroy, asserting the fake's state at every step.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.providers.http import ApiError
from components.providers.runpod import EndpointProvider, SecretProvider, TemplateProvider, VolumeProvider
from components.providers.runpod.secret import reference
from tests.fakes.runpod_server import FakeRunpod
from tests.runpod.support import IMAGE_V1, IMAGE_V2, CheckFailedError, Driver, State, configured, leaks

SECRET_V1 = "hf_first_token_value_0001"
SECRET_V2 = "hf_second_token_value_0002"
NAME = "modelstack-dev-flux-a1b2c3"


class Stack:
    """One model's Runpod resources, wired the way the backend wires them."""

    def __init__(self, fake: FakeRunpod):
        self.fake = fake
        self.secrets = Driver(configured(SecretProvider(), fake.api_key))
        self.volumes = Driver(configured(VolumeProvider(), fake.api_key))
        self.templates = Driver(configured(TemplateProvider(), fake.api_key))
        self.endpoints = Driver(configured(EndpointProvider(), fake.api_key))

    @staticmethod
    def secret(value: str = SECRET_V1, name: str = f"{NAME}-hf-token-0a0b0c") -> dict[str, Any]:
        return {"name": name, "value": value}

    @staticmethod
    def volume(size: int = 20, data_center: str = "EU-RO-1") -> dict[str, Any]:
        return {"name": f"{NAME}-cache", "sizeGb": size, "dataCenterId": data_center}

    @staticmethod
    def template(secret: State, image: str = IMAGE_V1) -> dict[str, Any]:
        return {
            "name": NAME,
            "image": image,
            "containerDiskGb": 50,
            "env": {"MODELSTACK_MODEL_KEY": "flux", "HF_TOKEN": secret.outputs["reference"]},
        }

    @staticmethod
    def endpoint(template: State, volume: State | None = None, workers_max: int = 2, **extra: Any) -> dict[str, Any]:
        return {
            "name": NAME,
            "templateId": template.id,
            "templateRevision": template.outputs["revision"],
            "gpuPools": ["ADA_24", "AMPERE_48"],
            "workersMin": 0,
            "workersMax": workers_max,
            "idleTimeoutSeconds": 60,
            "executionTimeoutSeconds": 300,
            "flashboot": "FLASHBOOT",
            "networkVolumeIds": [volume.id] if volume else [],
            **extra,
        }


@pytest.fixture
def stack(runpod_fake: FakeRunpod, waits: list[float]) -> Stack:
    return Stack(runpod_fake)


def test_create_noop_update_rollback_replace_refresh_destroy(stack: Stack, runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    # ---- create
    secret = stack.secrets.up(stack.secret())
    volume = stack.volumes.up(stack.volume())
    template = stack.templates.up(stack.template(secret))
    endpoint = stack.endpoints.up(stack.endpoint(template, volume))
    assert fake.object_counts() == {"templates": 1, "endpoints": 1, "volumes": 1, "secrets": 1, "registries": 0}
    live = fake.endpoints[endpoint.id]
    assert live["image"] == IMAGE_V1
    assert live["env"]["HF_TOKEN"] == reference(f"{NAME}-hf-token-0a0b0c")  # a reference, never the value
    assert fake.secrets[secret.id]["value"] == SECRET_V1
    assert live["flashboot"] == "FLASHBOOT" and live["workers"] == {"min": 0, "max": 2, "idleTimeout": 60}
    assert live["gpu"]["pools"] == ["ADA_24", "AMPERE_48"] and live["timeout"] == 300_000
    assert live["networkVolumes"] == [volume.id]
    assert endpoint.outputs["url"] == f"https://api.runpod.ai/v2/{endpoint.id}"
    assert endpoint.outputs["endpointId"] == endpoint.id and endpoint.outputs["version"] == "1"
    first = {"secret": secret, "volume": volume, "template": template, "endpoint": endpoint}

    # ---- no-op: identical inputs, no change, and not a single API call
    fake.reset_log()
    assert stack.secrets.up(stack.secret(), secret).history == ["same"]
    assert stack.volumes.up(stack.volume(), volume).history == ["same"]
    assert stack.templates.up(stack.template(secret), template).history == ["same"]
    assert stack.endpoints.up(stack.endpoint(template, volume), endpoint).history == ["same"]
    assert fake.requests == []

    # ---- update workers and image in place
    fake.reset_log()
    template2 = stack.templates.up(stack.template(secret, image=IMAGE_V2), template)
    endpoint2 = stack.endpoints.up(stack.endpoint(template2, volume, workers_max=4), endpoint)
    assert (template2.history, endpoint2.history) == (["update"], ["update"])
    assert (template2.id, endpoint2.id) == (template.id, endpoint.id)
    assert template2.outputs["revision"] != template.outputs["revision"]
    assert fake.endpoints[endpoint.id]["image"] == IMAGE_V2
    assert fake.endpoints[endpoint.id]["workers"]["max"] == 4
    assert endpoint2.outputs["version"] == "2"
    # PATCH carries only what changed.
    assert set(fake.calls("updateTemplate")[0].body) == {"image"}
    assert set(fake.calls("updateEndpoint")[0].body) == {"workers", "templateId"}

    # ---- roll back to the first inputs: same objects, old values
    template3 = stack.templates.up(stack.template(secret), template2)
    endpoint3 = stack.endpoints.up(stack.endpoint(template3, volume), endpoint2)
    assert (template3.id, endpoint3.id) == (template.id, endpoint.id)
    assert fake.endpoints[endpoint.id]["image"] == IMAGE_V1
    assert fake.endpoints[endpoint.id]["workers"]["max"] == 2
    assert template3.outputs == first["template"].outputs
    assert {k: v for k, v in endpoint3.outputs.items() if k != "version"} == \
        {k: v for k, v in first["endpoint"].outputs.items() if k != "version"}
    assert endpoint3.outputs["version"] == "3"

    # ---- a change the API cannot make in place: the endpoint type
    lb = stack.endpoint(template3, volume, scalerType="REQUEST_COUNT", scalerValue=2, type="LOAD_BALANCER")
    diff = stack.endpoints.diff(lb, endpoint3)
    assert diff.replaces == ["type"] and diff.delete_before_replace is True  # same unique name
    endpoint4 = stack.endpoints.up(lb, endpoint3)
    assert endpoint4.history == ["replace"] and endpoint4.id != endpoint.id
    assert list(fake.endpoints) == [endpoint4.id]
    assert fake.endpoints[endpoint4.id]["type"] == "LOAD_BALANCER"
    assert endpoint4.outputs["url"] == f"https://{endpoint4.id}.api.runpod.ai"

    # ---- drift made in the console shows up on refresh, one GET per resource, and is corrected
    fake.endpoints[endpoint4.id]["workers"]["max"] = 9
    fake.endpoints[endpoint4.id]["image"] = "docker.io/someone/else:latest"
    fake.templates[template3.id]["env"]["EXTRA"] = "added by hand"
    fake.reset_log()
    refreshed = {
        "secret": stack.secrets.refresh(secret),
        "volume": stack.volumes.refresh(volume),
        "template": stack.templates.refresh(template3),
        "endpoint": stack.endpoints.refresh(endpoint4),
    }
    assert sorted(r.operation for r in fake.requests) == sorted(
        ["myself", "getNetworkVolume", "getTemplate", "getEndpoint"])
    drifted_endpoint, drifted_template = refreshed["endpoint"], refreshed["template"]
    assert drifted_endpoint is not None and drifted_template is not None
    assert drifted_endpoint.outputs["workersMax"] == 9
    assert drifted_endpoint.outputs["image"] == "docker.io/someone/else:latest"
    assert drifted_endpoint.outputs["templateRevision"].startswith("drifted-")
    assert drifted_template.outputs["env"]["EXTRA"] == "added by hand"

    template5 = stack.templates.up(stack.template(secret), drifted_template)
    assert template5.history == ["update"] and "EXTRA" not in fake.templates[template3.id]["env"]
    endpoint5 = stack.endpoints.up(lb, drifted_endpoint)
    assert endpoint5.history == ["update"] and endpoint5.id == endpoint4.id
    assert fake.endpoints[endpoint4.id]["workers"]["max"] == 2
    assert fake.endpoints[endpoint4.id]["image"] == IMAGE_V1  # the template re-applied
    assert stack.endpoints.up(lb, endpoint5).history == ["same"]

    # ---- deleted out of band: refresh drops it
    del fake.secrets[secret.id]
    assert stack.secrets.refresh(secret) is None

    # ---- destroy, dependents first; nothing is left behind
    stack.endpoints.destroy(endpoint5)
    stack.templates.destroy(template5)
    stack.volumes.destroy(volume)
    stack.secrets.destroy(secret)  # already gone: still a success
    assert fake.object_counts() == {"templates": 0, "endpoints": 0, "volumes": 0, "secrets": 0, "registries": 0}


def test_a_rotated_secret_gets_a_new_name_and_the_endpoint_rolls_over(stack: Stack, runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    secret = stack.secrets.up(stack.secret())
    template = stack.templates.up(stack.template(secret))
    endpoint = stack.endpoints.up(stack.endpoint(template))

    # Same name, new value: Runpod cannot update a secret and names are unique, so delete first.
    diff = stack.secrets.diff(stack.secret(SECRET_V2), secret)
    assert diff.replaces == ["value"] and diff.delete_before_replace is True

    # The backend gives a new value a new name instead: create first, switch over, then delete.
    new_inputs = stack.secret(SECRET_V2, name=f"{NAME}-hf-token-9f8e7d")
    diff = stack.secrets.diff(new_inputs, secret)
    assert set(diff.replaces) == {"name", "value"} and diff.delete_before_replace is False
    fake.reset_log()
    rotated = stack.secrets.up(new_inputs, secret)
    assert [r.operation for r in fake.requests] == ["myself", "secretCreate", "secretDelete"]
    template2 = stack.templates.up(stack.template(rotated), template)
    endpoint2 = stack.endpoints.up(stack.endpoint(template2), endpoint)
    assert endpoint2.id == endpoint.id and endpoint2.outputs["version"] == "2"
    assert fake.endpoints[endpoint.id]["env"]["HF_TOKEN"] == reference(f"{NAME}-hf-token-9f8e7d")
    assert [s["value"] for s in fake.secrets.values()] == [SECRET_V2]

    # The stored hash follows the value, never the value itself.
    assert rotated.outputs["valueHash"] != secret.outputs["valueHash"]
    assert leaks(repr([rotated.outputs, secret.outputs]), first=SECRET_V1, second=SECRET_V2) == []
    assert stack.secrets.up(new_inputs, rotated).history == ["same"]


def test_volume_grows_in_place_never_shrinks_and_moves_by_replacement(
    stack: Stack, runpod_fake: FakeRunpod, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = runpod_fake
    volume = stack.volumes.up(stack.volume(20))
    grown = stack.volumes.up(stack.volume(50), volume)
    assert grown.history == ["update"] and grown.id == volume.id and fake.volumes[volume.id]["size"] == 50

    with pytest.raises(CheckFailedError, match="sizeGb: can only grow: the volume has 50 GB and cannot shrink to 30 GB"):
        stack.volumes.up(stack.volume(30), grown)
    assert fake.volumes[volume.id]["size"] == 50

    # Grown in the console beyond the config: refresh reports it and update refuses to shrink.
    fake.volumes[volume.id]["size"] = 80
    refreshed = stack.volumes.refresh(grown)
    assert refreshed is not None and refreshed.outputs["sizeGb"] == 80
    with pytest.raises(ApiError, match=r"NetworkVolume '.*-cache' \(id .*\): update failed: the volume now has 80 GB"):
        stack.volumes.up(stack.volume(50), refreshed)

    moved = stack.volumes.up(stack.volume(80, data_center="US-KS-2"), refreshed)
    assert moved.history == ["replace"] and moved.id != volume.id
    assert [v["dataCenter"] for v in fake.volumes.values()] == ["US-KS-2"]

    # Attached to an endpoint, the volume is "in use" and delete waits, bounded, for it to be released.
    template = stack.templates.up(stack.template(stack.secrets.up(stack.secret())))
    endpoint = stack.endpoints.up(stack.endpoint(template, moved))
    monkeypatch.setenv("MODELSTACK_IN_USE_TIMEOUT_SECONDS", "0.2")
    with pytest.raises(ApiError, match=r"delete failed: still in use after 0.2s: .* in use by endpoint"):
        stack.volumes.destroy(moved)
    stack.endpoints.destroy(endpoint)
    stack.volumes.destroy(moved)
    assert fake.volumes == {}


def test_create_adopts_what_an_earlier_failed_run_left_behind(stack: Stack, runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    secret = stack.secrets.up(stack.secret())
    # An earlier `pulumi up` created these, then died before Pulumi recorded them in state.
    orphan_template = fake.apply("createTemplate", {"name": NAME, "image": IMAGE_V2, "serverless": True})
    template = stack.templates.up(stack.template(secret))
    assert template.id == orphan_template["id"] and len(fake.templates) == 1
    assert fake.templates[template.id]["image"] == IMAGE_V1  # brought in line with the inputs

    orphan_endpoint = fake.apply("createEndpoint", {
        "name": NAME, "type": "QUEUE", "templateId": template.id, "gpu": {"pools": ["ADA_24"]},
        "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4}})
    endpoint = stack.endpoints.up(stack.endpoint(template, workers_max=3))
    assert endpoint.id == orphan_endpoint["id"] and len(fake.endpoints) == 1
    live = fake.endpoints[endpoint.id]
    assert live["workers"]["max"] == 3 and live["gpu"]["pools"] == ["ADA_24", "AMPERE_48"]
    assert live["flashboot"] == "FLASHBOOT"

    # A secret's value cannot be read back, so a leftover of the same name is replaced, not trusted.
    fresh = stack.secrets.up(stack.secret(SECRET_V2))
    assert fresh.id != secret.id and [s["value"] for s in fake.secrets.values()] == [SECRET_V2]


def test_check_reports_every_problem_offline(stack: Stack, runpod_fake: FakeRunpod) -> None:
    provider = stack.endpoints.provider
    result = provider.check({}, {"name": "", "workersMin": 3, "workersMax": 1.5, "flashboot": "TURBO",
                                 "gpuPools": [], "bogus": 1})
    reasons = {f.property: f.reason for f in result.failures}
    assert reasons["bogus"].startswith("unknown input 'bogus'")
    assert reasons["name"] == "must not be empty"
    assert reasons["workersMax"] == "must be a whole number, not 1.5"
    assert reasons["flashboot"].startswith("must be one of OFF, FLASHBOOT, PRIORITY_FLASHBOOT")
    assert reasons["gpuPools"] == "must list at least 1"

    result = provider.check({}, {"name": "x", "image": "img", "templateId": "t1", "gpuPools": ["ADA_24"],
                                 "workersMin": 3, "workersMax": 1})
    reasons = {f.property: f.reason for f in result.failures}
    assert "cannot be combined with templateId" in reasons["image"]
    assert reasons["workersMax"] == "must be >= workersMin (3); raise workersMax or lower workersMin"
    assert runpod_fake.requests == []  # check never touches the network


def test_flashboot_is_always_sent_explicitly(stack: Stack, runpod_fake: FakeRunpod) -> None:
    secret = stack.secrets.up(stack.secret())
    template = stack.templates.up(stack.template(secret))
    inputs = stack.endpoint(template)
    del inputs["flashboot"]
    stack.endpoints.up(inputs)
    assert runpod_fake.calls("createEndpoint")[0].body["flashboot"] == "OFF"


def test_inline_endpoint_without_a_template_and_cpu_to_gpu_replaces(stack: Stack, runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    inline = {"name": "inline-endpoint", "image": IMAGE_V1, "env": {"A": "1"}, "cpu": [{"id": "cpu5c", "vcpuCount": 4}],
              "workersMax": 1}
    endpoint = stack.endpoints.up(inline)
    assert fake.endpoints[endpoint.id]["cpu"][0]["vcpuCount"] == 4 and "gpu" not in fake.endpoints[endpoint.id]
    updated = stack.endpoints.up({**inline, "env": {"A": "2"}}, endpoint)
    assert updated.history == ["update"] and fake.endpoints[endpoint.id]["env"] == {"A": "2"}
    assert set(fake.calls("updateEndpoint")[-1].body) == {"env"}

    as_gpu = {k: v for k, v in inline.items() if k != "cpu"} | {"gpuPools": ["AMPERE_16"]}
    diff = stack.endpoints.diff(as_gpu, updated)
    assert diff.replaces == ["gpuPools"]
    moved = stack.endpoints.up(as_gpu, updated)
    assert moved.history == ["replace"] and list(fake.endpoints) == [moved.id]
    assert fake.endpoints[moved.id]["gpu"]["pools"] == ["AMPERE_16"]


def test_pools_and_excluded_types_are_sent_together(stack: Stack, runpod_fake: FakeRunpod) -> None:
    fake = runpod_fake
    secret = stack.secrets.up(stack.secret())
    template = stack.templates.up(stack.template(secret))
    pinned = stack.endpoint(template, gpuPools=["AMPERE_24"], excludedGpuTypes=["NVIDIA RTX A5000"])
    endpoint = stack.endpoints.up(pinned)
    # Only the GPU count changes, yet the PATCH restates pools and exclusions: a PATCH with pools but
    # without excludedTypes would silently widen the selection.
    updated = stack.endpoints.up({**pinned, "gpuCount": 2}, endpoint)
    assert fake.calls("updateEndpoint")[-1].body["gpu"] == {
        "pools": ["AMPERE_24"], "count": 2, "excludedTypes": ["NVIDIA RTX A5000"]}
    assert fake.endpoints[updated.id]["gpu"]["excludedTypes"] == ["NVIDIA RTX A5000"]


def test_preview_with_unknown_pools_is_an_update_not_a_replacement(stack: Stack, runpod_fake: FakeRunpod) -> None:
    from pulumi.output import Unknown

    secret = stack.secrets.up(stack.secret())
    template = stack.templates.up(stack.template(secret))
    endpoint = stack.endpoints.up(stack.endpoint(template))
    runpod_fake.reset_log()
    diff = stack.endpoints.diff({**stack.endpoint(template), "gpuPools": Unknown()}, endpoint)
    assert diff.changes is True and diff.replaces == []
    diff = stack.endpoints.diff({**stack.endpoint(template), "templateRevision": Unknown()}, endpoint)
    assert diff.changes is True and diff.replaces == []
    assert runpod_fake.requests == []
