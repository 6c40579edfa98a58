"""The seed systems' own Modal app files (examples/) deploy with the real `modal` client against the
fake control plane, with the settings their stack files give them."""

from __future__ import annotations

import modal
import pytest

from components.offline import load_stack_file, run_program, unwrap
from components.providers.modal.app import AppProvider
from tests.modal.helpers import configured
from tests.modal.test_app import _client, _container_env, _definitions, _gpus
from tests.support.dynamic_engine import REPO_ROOT


def registered_app_inputs(system: str) -> dict:
    """The ModalApp inputs the stack registers, with what only a deploy knows filled in."""
    stack_file = load_stack_file(system, REPO_ROOT, REPO_ROOT / "examples" / system / f"Pulumi.{system}.yaml")
    run = run_program(system, stack_file=stack_file)
    [app] = run.of_type("pulumi-python:dynamic/modal:App")
    inputs = {k: unwrap(v) for k, v in app.inputs.items() if k not in ("__provider", "triggers")}
    inputs = {k: v for k, v in inputs.items() if v is not None and type(v).__name__ != "Unknown"}
    inputs["env"] = {k: v for k, v in inputs["env"].items() if isinstance(v, str)}
    return inputs


def prepare(fake, inputs: dict) -> None:
    """The secret and volumes the app mounts; their own providers create them in a stack."""
    with _client(fake) as client:
        for name in inputs.get("secrets", []):
            modal.Secret.objects.create(name, {"PLACEHOLDER": "x"}, environment_name=inputs["environment"], client=client)
        for name in inputs.get("volumes", {}).values():
            modal.Volume.objects.create(name, environment_name=inputs["environment"], client=client)


def deploy(fake, inputs: dict) -> dict:
    provider = configured(AppProvider(), fake)
    checked = provider.check({}, inputs)
    assert checked.failures == []
    return provider.create(checked.inputs).outs


@pytest.mark.slow
def test_hatcat_app_file_deploys_one_class_with_its_ui_and_a_warm_schedule(fake_modal):
    inputs = registered_app_inputs("hatcat")
    prepare(fake_modal, inputs)
    outs = deploy(fake_modal, inputs)
    app = fake_modal.state.deployed_app("main", "hatcat")
    assert set(app.function_ids) == {"HatCat.*", "keep_warm"}
    assert outs["webUrls"] == {"HatCat.ui": "https://fake-workspace--hatcat-hatcat-ui.modal.run"}
    [definition] = _definitions(fake_modal, app, "HatCat.*")
    assert _gpus([definition]) == ["T4"]
    assert definition.startup_timeout_secs == 1200  # `start` downloads three snapshots: not the call timeout
    assert {m.mount_path for m in definition.volume_mounts} == {"/models", "/data"}
    env = _container_env(fake_modal, definition)
    assert env["MODELSTACK_MODEL_GEMMA2_REVISION"] == "c5ebcd40d208330abc697524c919956e692655cf"
    assert env["HF_HOME"] == "/models/huggingface"  # the model cache volume, where it is mounted
    assert _definitions(fake_modal, app, "keep_warm")[0].schedule.cron.cron_string == "*/15 8-18 * * 1-5"
    # the stack file makes the browser UI public; the file follows the setting, so flipping it guards the UI
    assert definition.method_definitions["ui"].webhook_config.requires_proxy_auth is False
    provider = configured(AppProvider(), fake_modal)
    guarded = provider.update(outs["appId"], outs, provider.check({}, {**inputs, "proxyAuth": True}).inputs).outs
    assert guarded["webUrls"] == outs["webUrls"]
    [definition] = _definitions(fake_modal, app, "HatCat.*")
    assert definition.method_definitions["ui"].webhook_config.requires_proxy_auth is True


@pytest.mark.slow
def test_caption_boundaries_batch_function_deploys_on_an_a10g(fake_modal):
    inputs = registered_app_inputs("caption-boundaries")
    prepare(fake_modal, inputs)
    outs = deploy(fake_modal, inputs)
    app = fake_modal.state.deployed_app("main", "boundary-inference")
    assert set(app.function_ids) == {"run_boundary_inference_batch"}
    assert outs["webUrls"] == {}
    [definition] = _definitions(fake_modal, app, "run_boundary_inference_batch")
    assert _gpus([definition]) == ["A10G"]
    assert definition.timeout_secs == 900
    assert definition.startup_timeout_secs == 1200
    assert _container_env(fake_modal, definition)["BOUNDARY_BATCH_SIZE"] == "64"
    # the project's own secret names, which its code looks up
    assert {s for s in inputs["secrets"]} == {"wasabi-credentials", "supabase-credentials"}


@pytest.mark.slow
def test_modomo_function_deploys_under_the_name_its_api_looks_up(fake_modal):
    inputs = registered_app_inputs("modomo")
    prepare(fake_modal, inputs)
    deploy(fake_modal, inputs)
    app = fake_modal.state.deployed_app("main", "modomo-sd-inference")
    [definition] = _definitions(fake_modal, app, "transform")
    assert _gpus([definition]) == ["T4"]
    assert definition.startup_timeout_secs == 1200
    assert _container_env(fake_modal, definition)["MODELSTACK_MODEL_SD15_ID"] == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    with _client(fake_modal) as client:
        function = modal.Function.from_name("modomo-sd-inference", "transform", environment_name="main")
        function.hydrate(client=client)
        assert function.object_id == app.function_ids["transform"]
