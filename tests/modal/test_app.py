"""ModalApp: the real `modal` client deploys app files (ours and a user's) against the fake control plane."""

from __future__ import annotations

import textwrap
from pathlib import Path

import modal
import pytest
from grpclib import Status
from modal_proto import api_pb2
from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.providers.modal.app import AppProvider
from components.providers.modal.session import ModalProviderError
from tests.fakes.modal_server import FakeApp, FakeModal
from tests.modal.helpers import configured
from tests.support.dynamic_engine import DynamicEngine

NAME = "modelstack-dev-embedder"
SHA = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
MODEL_ENV = {
    "MODELSTACK_MODEL_KEY": "embedder",
    "MODELSTACK_MODEL_ID": "sentence-transformers/all-MiniLM-L6-v2",
    "MODELSTACK_MODEL_REVISION": SHA,
    "MODELSTACK_MODEL_TASK": "feature-extraction",
    "HF_HOME": "/cache/huggingface",
}


def _client(fake: FakeModal) -> modal.Client:
    return modal.Client.from_credentials(fake.token_id, fake.token_secret)


def _prepare(fake: FakeModal, environment: str = "main") -> str:
    """The secret and cache volume the endpoint's app uses (their own providers create them in a stack)."""
    with _client(fake) as client:
        modal.Secret.objects.create(f"{NAME}-env", {"HF_TOKEN": "hf_abc"}, environment_name=environment, client=client)
        modal.Volume.objects.create(f"{NAME}-cache", environment_name=environment, client=client)
    return fake.state.named_secret(environment, f"{NAME}-env").secret_id


def _inputs(secret_id: str, environment: str = "main", **overrides: object) -> dict:
    inputs = {
        "name": NAME,
        "environment": environment,
        "gpu": ["T4"],
        "minContainers": 0,
        "maxContainers": 1,
        "scaledownWindow": 120,
        "timeout": 600,
        "secrets": [f"{NAME}-env"],
        "volumes": {"/cache": f"{NAME}-cache"},
        "env": MODEL_ENV,
        "webEndpoints": ["Model.web"],
        "triggers": {"secret": secret_id},
    }
    inputs.update(overrides)
    return inputs


def _definitions(fake: FakeModal, app: FakeApp, tag: str) -> list[api_pb2.Function]:
    """The function definition(s) deployed under `tag`: one, or one per GPU of a fallback list."""
    fn = fake.state.functions[app.function_ids[tag]]
    if fn.definition is not None:
        return [fn.definition]
    return [ranked.function for ranked in fn.data.ranked_functions]


def _gpus(definitions: list[api_pb2.Function]) -> list[str]:
    return [d.resources.gpu_config.gpu_type for d in definitions]


def _image_layers(fake: FakeModal, image_id: str) -> tuple[list[str], dict[str, bytes]]:
    """Dockerfile commands and context files of an image and all its base layers, base first."""
    definition = fake.state.images[image_id].definition
    commands: list[str] = []
    context: dict[str, bytes] = {}
    for base in definition.base_images:
        base_commands, base_context = _image_layers(fake, base.image_id)
        commands += base_commands
        context.update(base_context)
    return commands + list(definition.dockerfile_commands), {**context, **{f.filename: f.data for f in definition.context_files}}


def _container_env(fake: FakeModal, definition: api_pb2.Function) -> dict[str, str]:
    env: dict[str, str] = {}
    for secret_id in definition.secret_ids:
        secret = fake.state.secrets[secret_id]
        if not secret.name:  # the app-owned secret Modal makes from `env=`
            env.update(secret.env)
    return env


@pytest.mark.slow
def test_deploys_inference_modal_app_through_the_provider_server(fake_modal, engine: DynamicEngine, worker_requirements):
    secret_id = _prepare(fake_modal)
    provider = AppProvider()

    state = engine.up(provider, _inputs(secret_id))
    app = fake_modal.state.deployed_app("main", NAME)
    assert app is not None and app.state == api_pb2.APP_STATE_DEPLOYED
    assert state.id == app.app_id == state.outputs["appId"]
    assert state.outputs["version"] == app.version == 1
    assert state.outputs["webUrl"] == f"https://fake-workspace--{NAME}-model-web.modal.run"
    assert state.outputs["webUrls"] == {"Model.web": state.outputs["webUrl"]}
    assert fake_modal.unimplemented == []

    # what was deployed is what the stack asked for
    [definition] = _definitions(fake_modal, app, "Model.*")
    assert _gpus([definition]) == ["T4"]
    scaling = definition.autoscaler_settings
    assert (scaling.min_containers, scaling.max_containers, scaling.scaledown_window) == (0, 1, 120)
    assert definition.timeout_secs == 600
    named = {fake_modal.state.secrets[s].name for s in definition.secret_ids} - {""}
    assert named == {f"{NAME}-env"}
    mounts = {m.mount_path: fake_modal.state.volumes[m.volume_id].name for m in definition.volume_mounts}
    assert mounts == {"/cache": f"{NAME}-cache"}
    env = _container_env(fake_modal, definition)
    assert {k: env[k] for k in MODEL_ENV} == MODEL_ENV
    assert env["MODELSTACK_MODAL_APP_NAME"] == NAME
    assert set(definition.method_definitions) == {"ping", "web"}
    assert definition.method_definitions["web"].webhook_config.requires_proxy_auth is True
    # the whole inference package is mounted, so inference.worker is importable in the container
    mounted = {f.filename for m in definition.mount_ids for f in fake_modal.state.mounts[m]}
    assert "/root/inference/modal_app.py" in mounted and "/root/inference/env.py" in mounted
    commands, context = _image_layers(fake_modal, definition.image_id)
    assert any("fastapi" in c for c in commands)
    assert context["/.requirements.txt"] == worker_requirements.read_bytes()
    # deployed with the git commit as its tag
    assert app.deployments[-1].tag == state.outputs["tag"]

    # no-op: same inputs, unchanged source -> no Modal call, no deploy
    fake_modal.reset_calls()
    assert engine.preview(provider, _inputs(secret_id), state).changes is False
    assert engine.up(provider, _inputs(secret_id), state) is state
    assert fake_modal.calls == []

    # update: scaling and an ordered GPU fallback list; same app id, next version
    updated = engine.up(provider, _inputs(secret_id, gpu=["A10G", "T4"], maxContainers=3), state)
    assert updated.id == state.id and updated.outputs["version"] == 2
    definitions = _definitions(fake_modal, app, "Model.*")
    assert _gpus(definitions) == ["A10G", "T4"]
    assert {d.autoscaler_settings.max_containers for d in definitions} == {3}

    # rollback to the first settings
    rolled = engine.up(provider, _inputs(secret_id), updated)
    assert rolled.outputs["version"] == 3
    assert _gpus(_definitions(fake_modal, app, "Model.*")) == ["T4"]

    # refresh after someone ran `modal deploy` by hand: drift, and the next up restores our app
    with _client(fake_modal) as client:
        stray = modal.App(NAME)
        stray.function(serialized=True)(lambda: None)
        stray.deploy(name=NAME, environment_name="main", client=client)
    assert app.version == 4
    refreshed = engine.refresh(provider, rolled)
    assert refreshed is not None and refreshed.outputs["version"] == 4
    assert engine.preview(provider, _inputs(secret_id), refreshed).changes is True
    healed = engine.up(provider, _inputs(secret_id), refreshed)
    assert healed.outputs["version"] == 5 and "Model.*" in app.function_ids

    # refresh after it was stopped by hand: dropped from state
    with _client(fake_modal) as client:
        modal.App.lookup(NAME, environment_name="main", client=client).stop()
    assert engine.refresh(provider, healed) is None

    # delete stops the app; stopping a stopped app is success
    redeployed = engine.up(provider, _inputs(secret_id))
    engine.destroy(provider, redeployed)
    assert fake_modal.state.apps[redeployed.id].state == api_pb2.APP_STATE_STOPPED
    assert fake_modal.state.deployed_app("main", NAME) is None
    engine.destroy(provider, redeployed)


def _web_auth(fake: FakeModal, app: FakeApp) -> tuple[bool, bool]:
    """Whether `Model.web` requires proxy auth: as the fake recorded it, and as the real client reads it back."""
    recorded = {d.method_definitions["web"].webhook_config.requires_proxy_auth for d in _definitions(fake, app, "Model.*")}
    assert len(recorded) == 1
    with _client(fake) as client:
        # the class's service function, looked up as `modal app` tooling does: by id
        web = modal.Function.from_id(app.function_ids["Model.*"], client=client).info(refresh=True).method_details["web"]
    return recorded.pop(), not web.unauthenticated


def test_model_web_requires_proxy_auth_unless_the_stack_turns_it_off(fake_modal, worker_requirements):
    secret_id = _prepare(fake_modal)
    provider = configured(AppProvider(), fake_modal)
    checked = provider.check({}, _inputs(secret_id))
    assert checked.inputs["proxyAuth"] is True  # filled in explicitly, so the diff is stable
    outs = provider.create(checked.inputs).outs
    app = fake_modal.state.deployed_app("main", NAME)
    assert _web_auth(fake_modal, app) == (True, True)
    assert _container_env(fake_modal, _definitions(fake_modal, app, "Model.*")[0])["MODELSTACK_MODAL_PROXY_AUTH"] == "true"

    # proxyAuth: false is a redeploy in place (same app, same URL) that makes the endpoint public
    public = provider.check({}, _inputs(secret_id, proxyAuth=False)).inputs
    diff = provider.diff(outs["appId"], outs, public)
    assert diff.changes is True and diff.replaces == []
    updated = provider.update(outs["appId"], outs, public).outs
    assert (updated["appId"], updated["version"], updated["webUrl"]) == (outs["appId"], 2, outs["webUrl"])
    assert _web_auth(fake_modal, app) == (False, False)

    # and back: the rollback restores proxy auth
    provider.update(outs["appId"], updated, checked.inputs)
    assert _web_auth(fake_modal, app) == (True, True)


def test_state_from_before_proxy_auth_redeploys_with_it_on(fake_modal):
    """Apps deployed before the input existed are public; the first up after the upgrade closes them."""
    provider = configured(AppProvider(), fake_modal)
    news = provider.check({}, _inputs("st-1")).inputs
    olds = {k: v for k, v in news.items() if k != "proxyAuth"}
    diff = provider.diff("ap-x", olds, news)
    assert diff.changes is True and diff.replaces == []
    assert provider.diff("ap-x", {**olds, "proxyAuth": True}, news).changes is False


def test_a_recreated_secret_redeploys_but_tag_and_strategy_do_not(fake_modal):
    provider = configured(AppProvider(), fake_modal)
    olds = {**_inputs("st-1"), "sourceHash": "sha256:x", "tag": "abc", "strategy": "rolling"}
    news = {**olds, "tag": "def", "strategy": "recreate"}
    assert provider.diff("ap-x", olds, news).changes is False
    assert provider.diff("ap-x", olds, {**olds, "triggers": {"secret": "st-2"}}).changes is True
    diff = provider.diff("ap-x", olds, {**olds, "name": "other"})
    assert diff.replaces == ["name"] and diff.delete_before_replace is False


USER_APP = '''
"""A user's own app file, as HatCat or caption-boundaries would bring it."""
import modal

from inference.modal_settings import ModalSettings

settings = ModalSettings.from_env()
app = modal.App(settings.app_name)
# A loose file is mounted on its own; what else it imports must be added to the image.
image = modal.Image.debian_slim(python_version="3.11").pip_install("fastapi>=0.115,<1").add_local_python_source("inference")

@app.function(
    image=image,
    gpu=settings.gpu_arg,
    secrets=[modal.Secret.from_name(n, environment_name=settings.environment) for n in settings.secrets],
    volumes={p: modal.Volume.from_name(n, environment_name=settings.environment) for p, n in settings.volumes.items()},
    scaledown_window=settings.scaledown_window,
    env=settings.container_env(),
)
@modal.asgi_app()
def ui():
    from fastapi import FastAPI
    return FastAPI()

if settings.warm_schedule:
    @app.function(image=image, schedule=modal.Cron(settings.warm_schedule))
    def keep_warm():
        pass
'''


def _user_app(tmp_path: Path, body: str = USER_APP) -> Path:
    path = tmp_path / "hatcat_app.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_users_own_app_file_with_volumes_secrets_and_a_warm_schedule(fake_modal, tmp_path):
    with _client(fake_modal) as client:
        for name in ("huggingface", "wasabi-credentials"):
            modal.Secret.objects.create(name, {"HF_TOKEN" if name == "huggingface" else "WASABI_SECRET_KEY": "x"},
                                        environment_name="dev", client=client)
        for name in ("hatcat-models", "hatcat-data"):
            modal.Volume.objects.create(name, environment_name="dev", client=client)
    source = _user_app(tmp_path)
    provider = configured(AppProvider(), fake_modal)
    checked = provider.check({}, {
        "name": "hatcat", "environment": "dev", "sourceFile": str(source), "gpu": ["T4", "A10G"],
        "scaledownWindow": 300, "secrets": ["huggingface", "wasabi-credentials"],
        "volumes": {"/models": "hatcat-models", "/data": "hatcat-data"},
        "warmSchedule": "*/15 8-18 * * 1-5", "webEndpoints": ["ui"], "tag": "v1.2.3",
    })
    assert checked.failures == []
    outs = provider.create(checked.inputs).outs
    assert outs["webUrls"] == {"ui": "https://fake-workspace-dev--hatcat-ui.modal.run"}
    app = fake_modal.state.deployed_app("dev", "hatcat")
    assert set(app.function_ids) == {"ui", "keep_warm"}
    assert app.deployments[-1].tag == "v1.2.3"
    definitions = _definitions(fake_modal, app, "ui")
    assert _gpus(definitions) == ["T4", "A10G"]
    ui = definitions[0]
    assert {m.mount_path: fake_modal.state.volumes[m.volume_id].name for m in ui.volume_mounts} == {
        "/models": "hatcat-models", "/data": "hatcat-data",
    }
    assert {fake_modal.state.secrets[s].name for s in ui.secret_ids} - {""} == {"huggingface", "wasabi-credentials"}
    [warm] = _definitions(fake_modal, app, "keep_warm")
    assert warm.schedule.cron.cron_string == "*/15 8-18 * * 1-5"
    # a loose file (no package) is mounted on its own, next to what its image adds
    mounted = {f.filename for m in ui.mount_ids for f in fake_modal.state.mounts[m]}
    assert "/root/hatcat_app.py" in mounted and "/root/inference/modal_settings.py" in mounted

    # the source is part of the diff: an edit redeploys, an unchanged file does not
    assert provider.diff(outs["appId"], outs, provider.check({}, checked.inputs).inputs).changes is False
    source.write_text(source.read_text() + "\n# tweak\n")
    rechecked = provider.check({}, checked.inputs).inputs
    assert rechecked["sourceHash"] != outs["sourceHash"]
    assert provider.diff(outs["appId"], outs, rechecked).changes is True
    assert provider.update(outs["appId"], outs, rechecked).outs["version"] == 2


def test_apps_in_one_stack_do_not_share_module_state(fake_modal, worker_requirements):
    """Each deploy imports the app file in its own process: the second app gets its own settings."""
    provider = configured(AppProvider(), fake_modal)
    apps = {"modelstack-dev-a": ("T4", ""), "modelstack-dev-b": ("H100", "0 9 * * 1-5")}
    for name, (gpu, warm) in apps.items():
        provider.create(provider.check({}, {"name": name, "environment": "main", "gpu": [gpu], "warmSchedule": warm}).inputs)
    for name, (gpu, warm) in apps.items():
        app = fake_modal.state.deployed_app("main", name)
        [definition] = _definitions(fake_modal, app, "Model.*")
        assert _gpus([definition]) == [gpu]
        assert _container_env(fake_modal, definition)["MODELSTACK_MODAL_APP_NAME"] == name
        # our app file's optional warm schedule: a scheduled function only where asked for
        if warm:
            assert _definitions(fake_modal, app, "keep_warm")[0].schedule.cron.cron_string == warm
        else:
            assert set(app.function_ids) == {"Model.*"}


def test_environment_is_explicit_end_to_end(fake_modal, worker_requirements, monkeypatch):
    secret_id = _prepare(fake_modal, environment="dev")
    monkeypatch.setenv("MODAL_ENVIRONMENT", "prod")  # must not matter anywhere
    provider = configured(AppProvider(), fake_modal)
    outs = provider.create(provider.check({}, _inputs(secret_id, environment="dev")).inputs).outs
    assert fake_modal.state.deployed_app("dev", NAME) is not None
    assert fake_modal.state.deployed_app("prod", NAME) is None
    assert outs["webUrl"] == f"https://fake-workspace-dev--{NAME}-model-web.modal.run"
    envs = {
        c.request.environment_name
        for c in fake_modal.calls
        if c.method in ("AppGetByDeploymentName", "AppCreate", "SecretGetOrCreate", "VolumeGetOrCreate", "FunctionGet", "ClassGet")
        and c.request.environment_name  # the app-owned env secret is scoped by app id instead
    }
    assert envs == {"dev"}
    assert "environment" in {f.property for f in provider.check({}, {"name": NAME}).failures}


def test_a_failed_build_names_the_app_and_leaves_nothing_deployed(fake_modal, worker_requirements):
    secret_id = _prepare(fake_modal)
    fake_modal.image_build_failure = "ERROR: No matching distribution found for torch==99"
    provider = configured(AppProvider(), fake_modal)
    with pytest.raises(ModalProviderError) as info:
        provider.create(provider.check({}, _inputs(secret_id)).inputs)
    message = str(info.value)
    assert message.startswith(f"modal App '{NAME}' (environment 'main'): create failed: ImageBuildError")
    assert "No matching distribution found for torch==99" in message
    assert fake_modal.state.deployed_app("main", NAME) is None
    # the half-made app was disconnected, which stops an app still initializing
    assert {a.state for a in fake_modal.state.apps.values()} == {api_pb2.APP_STATE_STOPPED}


def test_bad_token_on_deploy(fake_modal, worker_requirements):
    provider = configured(AppProvider(), fake_modal, modalTokenSecret="as-wrong-deploy-secret")
    with pytest.raises(ModalProviderError) as info:
        provider.create(provider.check({}, _inputs("st-x")).inputs)
    assert "create failed: Modal rejected the token" in str(info.value)
    assert "as-wrong-deploy-secret" not in str(info.value)


@pytest.mark.slow
def test_a_transient_fault_during_deploy_is_retried_once(fake_modal, worker_requirements):
    secret_id = _prepare(fake_modal)
    # 5 UNAVAILABLE answers outlast the client's 3 retries in the first deploy process; the
    # provider runs the deploy once more, which succeeds.
    fake_modal.inject("AppPublish", Status.UNAVAILABLE, times=5)
    provider = configured(AppProvider(), fake_modal)
    outs = provider.create(provider.check({}, _inputs(secret_id)).inputs).outs
    assert [c.status for c in fake_modal.calls_to("AppPublish")] == ["UNAVAILABLE"] * 5 + ["OK"]
    assert outs["version"] == 1

    fake_modal.inject("AppPublish", Status.UNAVAILABLE, times=1000)
    with pytest.raises(ModalProviderError, match=r"update failed: ServiceError: .*\(after 2 attempts\)"):
        provider.update(outs["appId"], outs, {**outs, "maxContainers": 2})


def test_check_reports_problems_offline(tmp_path):
    failures = AppProvider().check({}, {
        "name": "x", "environment": "main", "sourceFile": str(tmp_path / "missing.py"),
        "minContainers": 3, "maxContainers": 1, "strategy": "yolo", "volumes": {"data": "v"}, "tag": "bad tag!",
        "proxyAuth": "yes",
    }).failures
    assert {f.property for f in failures} == {"sourceFile", "maxContainers", "strategy", "volumes.data", "tag", "proxyAuth"}


def test_preview_tolerates_unknown_inputs(fake_modal, engine: DynamicEngine):
    provider = AppProvider()
    pending = {**_inputs(rpc.UNKNOWN), "secrets": [rpc.UNKNOWN], "volumes": {"/cache": rpc.UNKNOWN}}
    assert engine.preview(provider, pending) is None  # would create; Check passed
    olds = {**_inputs("st-1"), "sourceHash": "sha256:x"}
    diff = configured(AppProvider(), fake_modal).diff("ap-x", olds, {**olds, "triggers": {"secret": Unknown()}})
    assert diff.changes is True and diff.replaces == []
    assert fake_modal.calls == []


def test_a_user_file_with_deprecated_modal_parameters_fails_with_modals_message(fake_modal, tmp_path):
    """Seed guides still say keep_warm; modal 1.6 refuses it, and the error must say so plainly."""
    source = _user_app(tmp_path, """
        import modal
        app = modal.App("old-style")

        @app.function(keep_warm=1)
        def f():
            pass
    """)
    provider = configured(AppProvider(), fake_modal)
    with pytest.raises(ModalProviderError) as info:
        provider.create(provider.check({}, {"name": "old-style", "environment": "main", "sourceFile": str(source)}).inputs)
    assert "create failed: DeprecationError" in str(info.value)
    assert "'keep_warm' parameter has been renamed to 'min_containers'" in str(info.value)
    assert fake_modal.calls == []  # it failed at import, before talking to Modal
