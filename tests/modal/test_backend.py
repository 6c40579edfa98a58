"""The Modal backend of GpuEndpoint under Pulumi mocks: what it registers, under whom, and what stays secret."""

from __future__ import annotations

import pulumi
import pytest

from components.config import Model
from components.gpu.endpoint import GpuEndpoint
from components.gpu.modal_backend import ModalOptions, ModalVolumeSpec
from components.offline import is_secret, run_program
from components.providers.modal.app import DEFAULT_SOURCE

EMBEDDER = {
    "source": "hf://sentence-transformers/all-MiniLM-L6-v2",
    "task": "feature-extraction",
    "endpoint": {
        "provider": "modal",
        "gpu": {"type": "T4"},
        "workers": {"min": 0, "max": 1},
        "idleTimeoutSeconds": 120,
        "secretEnv": {"HF_TOKEN": "hfToken"},
    },
}
SHA = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"


def _program(model: Model, secret_env: dict[str, str], gpu_ids: list[str], **extra: object):
    def program() -> None:
        assert model.endpoint is not None
        endpoint = GpuEndpoint(
            "embedder",
            {
                "stack": "dev",
                "environment": "dev",
                "model_key": "embedder",
                "model": model,
                "endpoint": model.endpoint,
                "revision": pulumi.Output.from_input(SHA),
                "gpu_ids": pulumi.Output.from_input(gpu_ids),
                "image": None,
                "env": {"LOG_LEVEL": "info"},
                "secret_env": {k: pulumi.Output.secret(v) for k, v in secret_env.items()},
                "protect": False,
                **extra,  # type: ignore[typeddict-item]
            },
        )
        pulumi.export("url", endpoint.url)

    return program


@pytest.fixture(scope="module")
def run():
    model = Model.model_validate(EMBEDDER)
    return run_program("dev", program=_program(model, {"HF_TOKEN": "hf_supersecret"}, ["T4"]))


def _one(run, typ: str):
    found = [r for r in run.resources if r.type == typ]
    assert len(found) == 1, [r.type for r in run.resources]
    return found[0]


def test_registers_secret_volume_and_app_under_the_endpoint(run):
    endpoint = _one(run, "modelstack:gpu:Endpoint")
    secret = _one(run, "pulumi-python:dynamic/modal:Secret")
    volume = _one(run, "pulumi-python:dynamic/modal:Volume")
    app = _one(run, "pulumi-python:dynamic/modal:App")
    assert {secret.parent, volume.parent, app.parent} == {endpoint.urn}
    assert (secret.name, volume.name, app.name) == ("embedder-secret", "embedder-volume-cache", "embedder-app")

    assert app.value("name") == "modelstack-dev-embedder"
    assert secret.value("name") == "modelstack-dev-embedder-env"
    assert volume.value("name") == "modelstack-dev-embedder-cache"
    # The environment is explicit on every resource, never left to MODAL_ENVIRONMENT.
    assert {r.value("environment") for r in (secret, volume, app)} == {"main"}


def test_app_carries_the_endpoint_settings(run):
    app = _one(run, "pulumi-python:dynamic/modal:App")
    assert app.value("sourceFile") == DEFAULT_SOURCE
    assert app.value("gpu") == ["T4"]
    assert (app.value("minContainers"), app.value("maxContainers"), app.value("bufferContainers")) == (0, 1, 0)
    assert app.value("scaledownWindow") == 120
    assert app.value("timeout") == 600
    assert app.value("secrets") == ["modelstack-dev-embedder-env"]
    assert app.value("volumes") == {"/cache": "modelstack-dev-embedder-cache"}
    assert app.value("webEndpoints") == ["Model.web"]
    assert app.value("proxyAuth") is True  # the default: not public
    env = app.value("env")
    assert env["MODELSTACK_MODEL_ID"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert env["MODELSTACK_MODEL_REVISION"] == SHA
    assert env["MODELSTACK_MODEL_TASK"] == "feature-extraction"
    assert env["HF_HOME"] == "/cache/huggingface"
    assert env["LOG_LEVEL"] == "info"
    assert env["MODELSTACK_ENDPOINT_ID"] == "modelstack-dev-embedder"
    # A re-created secret has a new id, which must redeploy the app.
    assert "secret" in app.value("triggers")


def test_secret_values_stay_wrapped_secrets(run):
    secret = _one(run, "pulumi-python:dynamic/modal:Secret")
    assert is_secret(secret.inputs["values"])
    assert set(secret.additional_secret_outputs) == {"values", "salt", "valuesHash"}
    assert secret.value("values") == {"HF_TOKEN": "hf_supersecret"}
    for r in run.resources:
        if r.type != "pulumi-python:dynamic/modal:Secret":
            assert "hf_supersecret" not in repr(r.inputs), r.type


def test_no_secret_resource_without_secret_env_and_gpu_fallback_with_count():
    spec = {**EMBEDDER, "endpoint": {**EMBEDDER["endpoint"], "secretEnv": {}, "gpu": {"types": ["L4", "A10G"], "count": 2}}}
    model = Model.model_validate(spec)
    run = run_program("dev", program=_program(model, {}, ["L4", "A10G"], modal=ModalOptions(environment="dev")))
    assert not [r for r in run.resources if r.type == "pulumi-python:dynamic/modal:Secret"]
    app = _one(run, "pulumi-python:dynamic/modal:App")
    assert app.value("gpu") == ["L4:2", "A10G:2"]
    assert app.value("secrets") == []
    assert app.value("environment") == "dev"


def _dev_modal_endpoints() -> None:
    """What platform.py is to do for each `provider: modal` model of the running stack's config."""
    from components.config import load_stack_config
    from components.gpu.catalog import explicit_gpu_ids

    config = load_stack_config()
    for key, model in config.modelstack.models.items():
        endpoint = model.endpoint
        if endpoint is None or endpoint.provider != "modal":
            continue
        vram = endpoint.gpu.min_vram_gb if isinstance(endpoint.gpu.min_vram_gb, float) else None
        gpu_ids = explicit_gpu_ids("modal", vram, endpoint.gpu.names(), endpoint.gpu.count)
        secrets = config.modelstack.secrets
        GpuEndpoint(
            f"model-{key}",
            {
                "stack": config.stack,
                "environment": config.environment,
                "model_key": key,
                "model": model,
                "endpoint": endpoint,
                "revision": pulumi.Output.from_input(model.revision),
                "gpu_ids": gpu_ids,
                "image": None,
                "env": dict(endpoint.env),
                "secret_env": {
                    var: pulumi.Output.secret(secrets[name].value.get_secret_value())
                    for var, name in endpoint.secret_env.items()
                },
                "protect": config.protected,
            },
        )


def test_the_dev_stacks_modal_model_registers_its_modal_resources():
    """Pulumi.dev.yaml's `embedder` (provider modal, T4, 0-1 workers, 120s idle) through the backend."""
    run = run_program("dev", program=_dev_modal_endpoints)
    endpoint = _one(run, "modelstack:gpu:Endpoint")
    assert endpoint.name == "model-embedder"
    app = _one(run, "pulumi-python:dynamic/modal:App")
    volume = _one(run, "pulumi-python:dynamic/modal:Volume")
    assert {app.parent, volume.parent} == {endpoint.urn}
    assert app.value("name") == "modelstack-dev-embedder"
    assert app.value("environment") == "main"
    assert app.value("gpu") == ["T4"]
    assert (app.value("minContainers"), app.value("maxContainers"), app.value("scaledownWindow")) == (0, 1, 120)
    assert app.value("env")["MODELSTACK_MODEL_ID"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_a_users_own_app_file_hatcat_style():
    """HatCat: its own app file, two volumes (one seeded), an existing HF secret, a UI endpoint, warm hours."""
    spec = {**EMBEDDER, "source": "hf://google/gemma-3-4b-pt",
            "endpoint": {**EMBEDDER["endpoint"], "secretEnv": {}, "gpu": {"types": ["T4", "A10G"]}, "idleTimeoutSeconds": 300}}
    model = Model.model_validate(spec)
    modal_opts = ModalOptions(
        app_file="scripts/deploy/modal_app.py",
        include=("requirements.txt",),
        web_endpoints=("ui",),
        volumes={"/models": ModalVolumeSpec(name="hatcat-models"), "/data": ModalVolumeSpec(seed_dir="data/seed", seed_path="/seed")},
        secrets=("huggingface",),
        warm_schedule="*/15 8-18 * * 1-5",
        proxy_auth=False,  # a browser UI with its own login cannot send Modal-Key headers
    )
    run = run_program("dev", program=_program(model, {}, ["T4", "A10G"], modal=modal_opts))
    endpoint = _one(run, "modelstack:gpu:Endpoint")
    volumes = {r.name: r for r in run.resources if r.type == "pulumi-python:dynamic/modal:Volume"}
    assert set(volumes) == {"embedder-volume-models", "embedder-volume-data"}
    assert {r.parent for r in volumes.values()} == {endpoint.urn}
    assert volumes["embedder-volume-models"].value("name") == "hatcat-models"
    assert volumes["embedder-volume-data"].value("name") == "modelstack-dev-embedder-data"
    assert (volumes["embedder-volume-data"].value("seedDir"), volumes["embedder-volume-data"].value("seedPath")) == ("data/seed", "/seed")
    app = _one(run, "pulumi-python:dynamic/modal:App")
    assert app.value("sourceFile") == "scripts/deploy/modal_app.py"
    assert app.value("include") == ["requirements.txt"]
    assert app.value("volumes") == {"/data": "modelstack-dev-embedder-data", "/models": "hatcat-models"}
    assert app.value("secrets") == ["huggingface"]
    assert app.value("webEndpoints") == ["ui"]
    assert app.value("warmSchedule") == "*/15 8-18 * * 1-5"
    assert app.value("proxyAuth") is False
    assert app.value("gpu") == ["T4", "A10G"]
    assert "HF_HOME" not in app.value("env")  # no /cache volume: the app decides where its cache lives


def test_the_dev_stack_itself_registers_the_embedder_on_modal(dev_run):
    apps = [r for r in dev_run.resources if r.type == "pulumi-python:dynamic/modal:App"]
    assert [a.value("name") for a in apps] == ["modelstack-dev-embedder"]


def test_the_marked_model_cache_gets_hf_home_and_named_secrets_keep_their_names():
    """The single-model form too: HF_HOME follows the volume marked as the model cache, wherever it is
    mounted, and a named secret is created under exactly its name, attached and redeploying the app."""
    model = Model.model_validate({**EMBEDDER, "endpoint": {**EMBEDDER["endpoint"], "secretEnv": {}}})
    modal_opts = ModalOptions(
        app_file="scripts/deploy/modal_app.py",
        volumes={"/models": ModalVolumeSpec(name="m", model_cache=True), "/cache": ModalVolumeSpec(model_cache=False)},
        named_secrets={"wasabi-credentials": {"WASABI_BUCKET": "b", "WASABI_SECRET_KEY": pulumi.Output.secret("s3cret")}},
    )
    run = run_program("dev", program=_program(model, {}, ["T4"], modal=modal_opts))
    app = _one(run, "pulumi-python:dynamic/modal:App")
    assert app.value("env")["HF_HOME"] == "/models/huggingface"
    [secret] = [r for r in run.resources if r.type == "pulumi-python:dynamic/modal:Secret"]
    assert secret.value("name") == "wasabi-credentials" and is_secret(secret.inputs["values"])
    assert app.value("secrets") == ["wasabi-credentials"]
    # each volume's id too: a re-created volume redeploys the app, as a re-created secret does
    assert set(app.inputs["triggers"]) == {"secret:wasabi-credentials", "volume:/models", "volume:/cache"}
