"""The Runpod backend of GpuEndpoint under Pulumi mocks, with the committed dev and prod stack files.

Until the platform creates GpuEndpoints itself, a small program builds one per Runpod model of each
stack exactly as the platform will (validated config, GPU ids from the catalog) and the test asserts
what registers. `assert_runpod_model` is written to be reused on the whole program's run once the
platform is wired.
"""

from __future__ import annotations

import pulumi
import pytest

from components.config import load_stack_config
from components.gpu.catalog import explicit_gpu_ids
from components.gpu.endpoint import GpuEndpoint
from components.gpu.runpod_backend import excluded_gpu_types
from components.offline import ProgramRun, Registration, is_secret, run_program, unwrap
from inference import env as worker_env
from tests.runpod.support import plain_text

TEMPLATE = "pulumi-python:dynamic/runpod:Template"
ENDPOINT = "pulumi-python:dynamic/runpod:Endpoint"
SECRET = "pulumi-python:dynamic/runpod:Secret"
RANDOM_ID = "random:index/randomId:RandomId"
COMPONENT = "modelstack:gpu:Endpoint"
IMAGE = "us-central1-docker.pkg.dev/acme-ml/modelstack/worker@sha256:" + "c" * 64
REVISION = "741f7c3ce8b383c54771c7003378a50191e9efe9"
HF_TOKEN_VALUE = "hf_not_a_real_token_but_a_secret_one"


def runpod_program() -> None:
    """What the platform does for each Runpod model: one GpuEndpoint from the validated config."""
    config = load_stack_config()
    for key, model in config.modelstack.models.items():
        endpoint = model.endpoint
        if endpoint is None or endpoint.provider != "runpod":
            continue
        # `auto` is sized from the pinned model by the platform (tests/foundation/test_platform_models.py);
        # this backend-only program stands in with 24 GB, the need dev's flux had before it went auto.
        min_vram = 24.0 if endpoint.gpu.min_vram_gb == "auto" else endpoint.gpu.min_vram_gb
        GpuEndpoint(
            key,
            {
                "stack": config.stack,
                "environment": config.environment,
                "model_key": key,
                "model": model,
                "endpoint": endpoint,
                "revision": REVISION,
                "gpu_ids": explicit_gpu_ids("runpod", min_vram, endpoint.gpu.names(), endpoint.gpu.count),
                "image": IMAGE,
                "env": {"HF_HOME": "/tmp/hf"},
                "secret_env": {"HF_TOKEN": pulumi.Output.secret(HF_TOKEN_VALUE)},
                "protect": config.protected,
            },
        )


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {stack: run_program(stack, program=runpod_program) for stack in ("dev", "prod")}


def assert_runpod_model(run: ProgramRun, model_key: str, *, pools: list[str], workers: tuple[int, int],
                        protect: bool) -> None:
    component = run.named(model_key)
    assert component.type == COMPONENT
    children = run.children_of(component)
    by_type: dict[str, list[Registration]] = {}
    for child in children:
        by_type.setdefault(child.type, []).append(child)
    assert sorted(by_type) == sorted([RANDOM_ID, SECRET, TEMPLATE, ENDPOINT])
    assert len(by_type[TEMPLATE]) == len(by_type[ENDPOINT]) == len(by_type[SECRET]) == 1
    assert all(child.protect is protect for child in children)

    template, endpoint, secret = by_type[TEMPLATE][0], by_type[ENDPOINT][0], by_type[SECRET][0]
    env = template.value("env")
    assert env[worker_env.MODEL_KEY] == model_key
    assert env[worker_env.MODEL_ID] == "black-forest-labs/FLUX.1-schnell"
    assert env[worker_env.MODEL_REVISION] == REVISION
    assert env[worker_env.MODEL_TASK] == "text-to-image"
    assert env["HF_HOME"] == "/tmp/hf"
    assert "HF_TOKEN" in env  # a {{ RUNPOD_SECRET_<name> }} reference, unknown until the secret exists
    assert template.value("image") == IMAGE

    assert endpoint.value("gpuPools") == pools
    assert endpoint.value("excludedGpuTypes") == []
    assert (endpoint.value("workersMin"), endpoint.value("workersMax")) == workers
    assert endpoint.value("flashboot") == "FLASHBOOT"
    assert endpoint.value("scalerType") == "QUEUE_DELAY"

    # The secret value is registered only as a secret, and nowhere else in plain text.
    assert is_secret(secret.inputs["value"]) and unwrap(secret.inputs["value"]) == HF_TOKEN_VALUE
    assert "valueHash" in secret.additional_secret_outputs
    rotation = next(r for r in by_type[RANDOM_ID] if r.name.endswith("-rotation"))
    assert is_secret(rotation.inputs["keepers"])
    for registration in run.resources:
        assert HF_TOKEN_VALUE not in plain_text(registration), registration.name


def test_dev_registers_the_runpod_resources_for_flux(runs: dict[str, ProgramRun]) -> None:
    # 24 GB (see runpod_program): every pool with at least 24 GB, cheapest first.
    assert_runpod_model(runs["dev"], "flux", workers=(0, 2), protect=False, pools=[
        "AMPERE_24", "ADA_24", "AMPERE_48", "ADA_32_PRO", "ADA_48_PRO", "AMPERE_80", "ADA_80_PRO", "HOPPER_141"])
    endpoint = runs["dev"].named("flux-endpoint")
    assert endpoint.value("idleTimeoutSeconds") == 60
    assert endpoint.value("executionTimeoutSeconds") == 300


def test_prod_registers_protected_runpod_resources(runs: dict[str, ProgramRun]) -> None:
    assert_runpod_model(runs["prod"], "flux", pools=["ADA_24", "AMPERE_48"], workers=(1, 5), protect=True)
    endpoint = runs["prod"].named("flux-endpoint")
    assert endpoint.value("idleTimeoutSeconds") == 300
    assert endpoint.value("scalerValue") == 4


def test_only_runpod_models_get_runpod_resources(runs: dict[str, ProgramRun]) -> None:
    # dev's `embedder` runs on Modal: nothing of it reaches this backend.
    assert [r.name for r in runs["dev"].of_type(COMPONENT)] == ["flux"]


def test_names_are_unique_per_stack_and_share_one_suffix(runs: dict[str, ProgramRun]) -> None:
    run = runs["dev"]
    ident = run.named("flux-id")
    assert ident.type == RANDOM_ID and ident.value("byteLength") == 8
    # Under mocks the random suffix is not known yet, as in a first `pulumi preview`.
    assert type(run.named("flux-template").inputs["name"]).__name__ == "Unknown"


def test_component_outputs_are_registered(runs: dict[str, ProgramRun]) -> None:
    component = runs["prod"].named("flux")
    assert set(component.registered_outputs) == {"provider", "endpointId", "url", "version"}
    assert component.registered_outputs["provider"] == "runpod"


def test_naming_single_cards_excludes_the_rest_of_their_pool() -> None:
    assert excluded_gpu_types(["NVIDIA L4"]) == ["NVIDIA RTX A5000", "NVIDIA GeForce RTX 3090"]
    assert excluded_gpu_types(["ADA_24", "AMPERE_48"]) == []
    assert excluded_gpu_types(["nvidia l40s", "NVIDIA L40"]) == ["NVIDIA RTX 6000 Ada Generation"]
    # A pool named outright keeps every card even if one of its cards is named too.
    assert excluded_gpu_types(["AMPERE_24", "NVIDIA L4"]) == []


def test_a_runpod_model_needs_an_image() -> None:
    def program() -> None:
        config = load_stack_config()
        model = config.modelstack.models["flux"]
        GpuEndpoint("flux", {
            "stack": "dev", "environment": "dev", "model_key": "flux", "model": model,
            "endpoint": model.endpoint, "revision": REVISION, "gpu_ids": ["ADA_24"], "image": None,
            "env": {}, "secret_env": {}, "protect": False,
        })

    with pytest.raises(ValueError, match=r"models\.flux\.endpoint: Runpod runs a container image"):
        run_program("dev", program=program)
