"""How the platform wires models, GPU endpoints, mirrors and the gateway together (dev and prod)."""

from __future__ import annotations

import json

import pytest

from components.offline import ProgramRun, is_secret, run_program, unwrap
from inference import env as worker_env
from tests.support.deployed_mocks import DeployedMocks

HF_MODEL = "pulumi-python:dynamic/huggingface:Model"
SIZING = "pulumi-python:dynamic/gpu:Sizing"
MIRROR = "pulumi-python:dynamic/s3:ModelMirror"
S3_BUCKET = "pulumi-python:dynamic/s3:Bucket"
RUNPOD_TEMPLATE = "pulumi-python:dynamic/runpod:Template"
RUNPOD_ENDPOINT = "pulumi-python:dynamic/runpod:Endpoint"
RUNPOD_SECRET = "pulumi-python:dynamic/runpod:Secret"
RUNPOD_REGISTRY = "pulumi-python:dynamic/runpod:RegistryAuth"
MODAL_APP = "pulumi-python:dynamic/modal:App"
MODAL_SECRET = "pulumi-python:dynamic/modal:Secret"
CALLBACK = "https://gateway-dev-123456789012.us-central1.run.app/internal/ready"


def child(run: ProgramRun, parent_name: str, typ: str):
    parent = run.named(parent_name)
    found = [r for r in run.children_of(parent) if r.type == typ]
    assert len(found) == 1, (parent_name, typ, [r.name for r in found])
    return found[0]


def gateway_env(run: ProgramRun) -> dict:
    service = run.named("modelstack-service-gateway-service")
    return {e["name"]: e for e in service.value("template")["containers"][0]["envs"]}


def test_every_model_is_pinned_and_sized_from_itself(dev_run):
    pins = {r.value("repoId"): r for r in dev_run.of_type(HF_MODEL)}
    assert set(pins) == {"black-forest-labs/FLUX.1-schnell", "sentence-transformers/all-MiniLM-L6-v2"}
    flux = pins["black-forest-labs/FLUX.1-schnell"]
    assert (flux.value("revision"), flux.value("task")) == ("main", "text-to-image")
    assert dev_run.by_urn(flux.parent).type == "modelstack:models:Model"
    # minVramGb: auto -> the GPU choice is made from the pinned model's estimated need
    sizing = child(dev_run, "modelstack-model-flux", SIZING)
    assert (sizing.value("provider"), sizing.value("model")) == ("runpod", "black-forest-labs/FLUX.1-schnell")
    # an explicit GPU needs no sizing resource
    assert [r for r in dev_run.of_type(SIZING)] == [sizing]


def test_flux_is_mirrored_into_the_r2_bucket(dev_run):
    bucket = dev_run.named("modelstack-bucket-models-bucket")
    assert bucket.type == S3_BUCKET
    assert (bucket.value("bucketName"), bucket.value("credential")) == ("acme-ml-dev-dev-models", "r2")
    assert bucket.value("forceDestroy") is True
    mirror = child(dev_run, "modelstack-model-flux", MIRROR)
    assert mirror.value("bucket") == "acme-ml-dev-dev-models"
    assert mirror.value("source")["repoId"] == "black-forest-labs/FLUX.1-schnell"
    assert bucket.urn in mirror.depends_on
    # the worker is told where the manifest is and gets read access as secrets, never plaintext
    template = dev_run.named("modelstack-endpoint-flux-template")
    env = template.value("env")
    assert env["AWS_ENDPOINT_URL"] == "https://8f3c2a1b9d7e4f60a5b1c2d3e4f5a6b7.r2.cloudflarestorage.com"
    assert worker_env.MODEL_MANIFEST in env
    secrets = {s.name: s for s in dev_run.of_type(RUNPOD_SECRET)}
    for var in ("aws-access-key-id", "aws-secret-access-key"):
        assert is_secret(secrets[f"modelstack-endpoint-flux-secret-{var}"].inputs["value"])
    assert "AWS_ACCESS_KEY_ID" in env and "AWS_SECRET_ACCESS_KEY" in env  # as {{ RUNPOD_SECRET_... }} references


def test_runpod_endpoint_for_flux(dev_run):
    endpoint = dev_run.named("modelstack-endpoint-flux-endpoint")
    assert endpoint.type == RUNPOD_ENDPOINT
    assert (endpoint.value("workersMin"), endpoint.value("workersMax"), endpoint.value("idleTimeoutSeconds")) == (0, 2, 60)
    assert endpoint.value("executionTimeoutSeconds") == 300
    template = dev_run.named("modelstack-endpoint-flux-template")
    # the worker image is built into the stack's registry and pulled by digest with a read-only key
    worker_image = dev_run.named("modelstack-image-worker-image")
    assert template.value("image") == worker_image.outputs["repoDigest"]
    registry = child(dev_run, "modelstack-endpoint-flux", RUNPOD_REGISTRY)
    assert registry.value("username") == "_json_key_base64"
    assert is_secret(registry.inputs["password"])
    pull = dev_run.named("modelstack-registry-pull-reader")
    assert pull.value("role") == "roles/artifactregistry.reader"
    env = template.value("env")
    assert env[worker_env.CALLBACK_URL] == CALLBACK
    assert env[worker_env.MODEL_KEY] == "flux"


def test_modal_endpoint_for_the_embedder(dev_run):
    app = child(dev_run, "modelstack-endpoint-embedder", MODAL_APP)
    assert (app.value("name"), app.value("environment")) == ("modelstack-dev-embedder", "main")
    assert app.value("gpu") == ["T4"]
    assert (app.value("minContainers"), app.value("maxContainers"), app.value("scaledownWindow")) == (0, 1, 120)
    assert app.value("proxyAuth") is True  # not public: callers need the workspace proxy token
    env = app.value("env")
    assert env[worker_env.MODEL_ID] == "sentence-transformers/all-MiniLM-L6-v2"
    assert env[worker_env.CALLBACK_URL] == CALLBACK
    # the callback key reaches the container only inside a Modal secret
    secret = child(dev_run, "modelstack-endpoint-embedder", MODAL_SECRET)
    assert is_secret(secret.inputs["values"])
    assert set(unwrap(secret.inputs["values"])) == {worker_env.CALLBACK_SECRET}


@pytest.fixture(scope="module")
def deployed_dev() -> ProgramRun:
    """The dev program as `pulumi up` runs it, with invented deploy-time outputs (endpoint URLs)."""
    return run_program("dev", preview=False, mocks=DeployedMocks)


def test_gateway_routes_to_every_endpoint_and_takes_callbacks(dev_run, deployed_dev):
    routes = json.loads(gateway_env(deployed_dev)["MODELSTACK_MODELS"]["value"])
    flux_url = deployed_dev.named("modelstack-endpoint-flux-endpoint").outputs["url"]
    embedder_url = deployed_dev.named("modelstack-endpoint-embedder-app").outputs["webUrl"]
    assert routes == {
        "embedder": {"provider": "modal", "timeoutSeconds": 600, "url": embedder_url},
        "flux": {"provider": "runpod", "timeoutSeconds": 300, "url": flux_url},
    }
    env = gateway_env(dev_run)
    # the gateway verifies callbacks with the same Secret Manager secret the workers sign with
    ref = env["WORKER_CALLBACK_KEY"]["valueSource"]["secretKeyRef"]
    assert ref["secret"] == "dev-workercallbackkey"
    # and the service keeps CPU between requests to drive async jobs
    service = dev_run.named("modelstack-service-gateway-service")
    assert service.value("template")["containers"][0]["resources"]["cpuIdle"] is False


def test_stack_outputs_name_endpoints_and_models(dev_run):
    endpoints = dev_run.outputs["endpoints"].value
    assert {k: v["provider"] for k, v in endpoints.items()} == {"embedder": "modal", "flux": "runpod"}
    assert dev_run.outputs["models"].value["flux"]["repo"] == "black-forest-labs/FLUX.1-schnell"


def test_prod_pins_its_model_and_protects_its_endpoint(prod_run):
    pin = prod_run.named("modelstack-model-flux-pin")
    assert pin.value("revision") == "741f7c3ce8b383c54771c7003378a50191e9efe9"
    assert pin.protect is True
    template = prod_run.named("modelstack-endpoint-flux-template")
    assert template.value("env")[worker_env.MODEL_REVISION] == "741f7c3ce8b383c54771c7003378a50191e9efe9"
    endpoint = prod_run.named("modelstack-endpoint-flux-endpoint")
    assert endpoint.value("gpuPools") == ["ADA_24", "AMPERE_48"]
    assert (endpoint.value("workersMin"), endpoint.value("workersMax")) == (1, 5)
    assert endpoint.protect is True
    assert prod_run.outputs["models"].value["flux"]["sha"] == "741f7c3ce8b383c54771c7003378a50191e9efe9"


def test_a_runpod_network_volume_holds_the_workers_cache_in_its_data_center():
    """runpod.networkVolume: one volume per endpoint, mounted by every worker at /runpod-volume, with
    the Hugging Face cache on it, so the endpoint runs in the volume's data center only."""
    from components.offline import load_stack_file

    stack = load_stack_file("dev")
    models = json.loads(stack.config["modelstack:models"])
    models["flux"]["endpoint"]["runpod"] = {"networkVolume": {"sizeGb": 80, "dataCenter": "EU-RO-1"}}
    stack.config["modelstack:models"] = json.dumps(models)
    run = run_program("dev", stack_file=stack, preview=False, mocks=DeployedMocks)

    volume = run.named("modelstack-endpoint-flux-volume")
    assert volume.type == "pulumi-python:dynamic/runpod:NetworkVolume"
    assert (volume.value("sizeGb"), volume.value("dataCenterId")) == (80, "EU-RO-1")
    endpoint = run.named("modelstack-endpoint-flux-endpoint")
    assert endpoint.value("networkVolumeIds") == [volume.outputs["volumeId"]]
    assert endpoint.value("dataCenterIds") == ["EU-RO-1"]
    assert run.named("modelstack-endpoint-flux-template").value("env")[worker_env.HF_HOME] == "/runpod-volume/huggingface"
    # the disk check sizes the volume, not the container disk, for the snapshot
    disk = run.named("modelstack-model-flux-disk")
    assert disk.value("volumeGb") == 80
    assert disk.value("volumeWhere") == "modelstack:models.flux.endpoint.runpod.networkVolume.sizeGb"
    # without the setting there is no volume, and the worker caches on its own disk
    assert not dev_run_types(run_program("dev")) & {"pulumi-python:dynamic/runpod:NetworkVolume"}


def dev_run_types(run: ProgramRun) -> set[str]:
    return {r.type for r in run.resources}
