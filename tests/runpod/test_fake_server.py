"""The fake Runpod API is strict where the real one is, and the official `runpod` client works with it."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.runpod_server import FakeRunpod, Fault
from tests.runpod.support import leaks


def api(fake: FakeRunpod, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {key or fake.api_key}"}, timeout=10)


def test_requests_that_break_the_openapi_document_are_rejected_and_recorded(runpod_fake: FakeRunpod) -> None:
    with api(runpod_fake) as client:
        response = client.post("/v2/serverless", json={"name": "x", "image": "img", "type": "QUEUE",
                                                       "gpu": {"pools": ["ADA_24"]}, "bogus": 1,
                                                       "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4}})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert "bogus" in response.json()["errors"][0]
        assert client.post("/v2/network-volumes", json={"name": "v", "size": 5, "dataCenter": "EU-RO-1"}).status_code == 422
    assert len(runpod_fake.violations) == 2 and runpod_fake.object_counts()["endpoints"] == 0
    runpod_fake.violations.clear()  # expected here; any other test fails on them


def test_rules_beyond_the_schema_are_enforced(runpod_fake: FakeRunpod) -> None:
    with api(runpod_fake) as client:
        base = {"name": "e", "image": "img", "type": "QUEUE", "scaling": {"type": "QUEUE_DELAY", "queueDelay": 4}}
        unknown_pool = client.post("/v2/serverless", json={**base, "gpu": {"pools": ["NOT_A_POOL"]}})
        assert unknown_pool.status_code == 400 and "unknown GPU pool" in unknown_pool.json()["detail"]
        stray = client.post("/v2/serverless", json={**base, "gpu": {"pools": ["ADA_24"], "excludedTypes": ["NVIDIA L4"]}})
        assert stray.status_code == 400 and "not GPU types in the selected pools" in stray.json()["detail"]
        both = client.post("/v2/serverless", json={**base, "gpu": {"pools": ["ADA_24"]},
                                                   "cpu": [{"id": "cpu5c", "vcpuCount": 2}]})
        assert both.status_code == 400

        assert client.post("/v2/templates", json={"name": "t", "image": "img"}).status_code == 201
        duplicate = client.post("/v2/templates", json={"name": "t", "image": "img2"})
        assert duplicate.status_code == 400 and "must be unique" in duplicate.json()["detail"]

        volume = client.post("/v2/network-volumes", json={"name": "v", "size": 50, "dataCenter": "EU-RO-1"}).json()
        shrink = client.patch(f"/v2/network-volumes/{volume['id']}", json={"size": 20})
        assert shrink.status_code == 400 and "cannot be reduced" in shrink.json()["detail"]

        endpoint = client.post("/v2/serverless", json={**base, "gpu": {"pools": ["AMPERE_24"],
                                                                        "excludedTypes": ["NVIDIA L4"]},
                                                       "networkVolumes": [volume["id"]]}).json()
        in_use = client.delete(f"/v2/network-volumes/{volume['id']}")
        assert in_use.status_code == 400 and "in use" in in_use.json()["detail"]
        # A PATCH naming pools without exclusions replaces the selection: the exclusion is gone.
        patched = client.patch(f"/v2/serverless/{endpoint['id']}", json={"gpu": {"pools": ["AMPERE_24"]}}).json()
        assert patched["gpu"]["excludedTypes"] == []
        releases = client.get(f"/v2/serverless/{endpoint['id']}/releases").json()
        assert releases["endpointVersion"] == 2 and releases["releases"][0]["diff"] == [
            {"field": "gpu.excludedTypes", "old": ["NVIDIA L4"], "new": []}]
        family = client.patch(f"/v2/serverless/{endpoint['id']}", json={"cpu": [{"id": "cpu5c", "vcpuCount": 2}]})
        assert family.status_code == 400


def test_authentication_is_required(runpod_fake: FakeRunpod) -> None:
    with api(runpod_fake, key="rpa_not_the_key") as client:
        response = client.get("/v2/templates")
    assert response.status_code == 401 and response.json()["title"] == "Unauthorized"


def test_the_catalog_serves_the_pools_of_the_shared_gpu_catalog(runpod_fake: FakeRunpod) -> None:
    from components.gpu.catalog import catalog_for

    with api(runpod_fake) as client:
        gpus = client.get("/v2/catalog/gpus").json()["gpus"]
    assert {g["pool"] for g in gpus} == {g.id for g in catalog_for("runpod").gpus}
    assert next(g for g in gpus if g["id"] == "NVIDIA GeForce RTX 4090")["pool"] == "ADA_24"


def test_graphql_is_validated_against_the_schema(runpod_fake: FakeRunpod) -> None:
    with api(runpod_fake) as client:
        wrong = client.post("/graphql", json={"query": "mutation { createSecret(input: {name: \"a\", value: \"b\"}) { id } }"})
    assert wrong.status_code == 400 and "Cannot query field 'createSecret'" in wrong.json()["errors"][0]["message"]
    assert runpod_fake.secrets == {}
    runpod_fake.violations.clear()


def test_faults_fire_once_per_injection(runpod_fake: FakeRunpod) -> None:
    runpod_fake.inject("listTemplates", Fault.rate_limited(retry_after=3), times=2)
    with api(runpod_fake) as client:
        statuses = [client.get("/v2/templates").status_code for _ in range(3)]
        retry_after = runpod_fake.calls("listTemplates")[0]
    assert statuses == [429, 429, 200] and retry_after.fault == "rate_limited"


def test_the_official_runpod_client_talks_to_the_fake(runpod_fake: FakeRunpod) -> None:
    """runpod.api.graphql is what the vendor SDK uses for every management call."""
    from runpod import error
    from runpod.api.graphql import run_graphql_query  # honours RUNPOD_API_BASE_URL, set by the fixture

    value = "sdk_secret_value_123456"
    created = run_graphql_query(
        'mutation { secretCreate(input: {name: "sdk-secret", value: "' + value + '"}) { id name description } }',
        api_key=runpod_fake.api_key,
    )["data"]["secretCreate"]
    assert created["name"] == "sdk-secret" and created["description"] is None
    listed = run_graphql_query("query { myself { secrets { id name } } }", api_key=runpod_fake.api_key)
    assert listed["data"]["myself"]["secrets"] == [{"id": created["id"], "name": "sdk-secret"}]
    assert leaks(str(listed), value=value) == []  # write-only upstream, write-only here

    with pytest.raises(error.QueryError, match="already exists"):
        run_graphql_query('mutation { secretCreate(input: {name: "sdk-secret", value: "x"}) { id } }',
                          api_key=runpod_fake.api_key)
    with pytest.raises(error.AuthenticationError):
        run_graphql_query("query { myself { secrets { id } } }", api_key="rpa_wrong")
    run_graphql_query(f'mutation {{ secretDelete(id: "{created["id"]}") }}', api_key=runpod_fake.api_key)
    assert runpod_fake.secrets == {}


def test_registry_credentials_are_write_only_and_follow_the_spec_on_delete(runpod_fake: FakeRunpod) -> None:
    password = "registry-password-never-returned"
    with api(runpod_fake) as client:
        created = client.post("/v2/registries", json={"name": "gar", "username": "_json_key", "password": password})
        assert created.status_code == 201 and set(created.json()) == {"id", "name"}
        registry_id = created.json()["id"]
        shown = [client.get(f"/v2/registries/{registry_id}").text, client.get("/v2/registries").text]
        assert leaks(" ".join(shown), password=password) == [] and "_json_key" not in " ".join(shown)
        duplicate = client.post("/v2/registries", json={"name": "gar", "username": "u", "password": "p"})
        assert duplicate.status_code == 400 and "already exists" in duplicate.json()["detail"]
        missing = client.post("/v2/registries", json={"name": "gar2", "username": "u"})
        assert missing.status_code == 422  # the schema requires the password

        unknown = client.post("/v2/templates", json={"name": "t0", "image": "img", "registry": "nope"})
        assert unknown.status_code == 400 and "not found" in unknown.json()["detail"]
        template = client.post("/v2/templates", json={"name": "t", "image": "img", "registry": registry_id}).json()
        assert template["registry"] == registry_id

        # A pod pulling with it blocks the delete ("in use"); a template does not, and loses the reference.
        pod = runpod_fake.start_pod(registry_id)
        in_use = client.delete(f"/v2/registries/{registry_id}")
        assert in_use.status_code == 400 and "in use by pod" in in_use.json()["detail"]
        runpod_fake.stop_pod(pod)
        assert client.delete(f"/v2/registries/{registry_id}").status_code == 204
        assert client.get(f"/v2/templates/{template['id']}").json()["registry"] is None
        assert client.get(f"/v2/registries/{registry_id}").status_code == 404
        assert client.delete(f"/v2/registries/{registry_id}").status_code == 404
    assert len(runpod_fake.violations) == 1 and "password" in runpod_fake.violations[0]
    runpod_fake.violations.clear()  # the one expected above; any other fails the test
