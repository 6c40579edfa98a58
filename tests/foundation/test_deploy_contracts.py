"""Issue 12: configs that planned green and would have failed, or done nothing, at deploy time.

One bad config per item, each with its exact message (the closing note of issue 12 lists them).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from components.config import ConfigError, validate
from components.config import cron as cron_schedule
from components.config.appfile import read_app_file
from components.offline import StackFile, run_program
from inference import contract
from inference.gateway.settings import ConfigError as GatewayConfigError
from inference.gateway.settings import Settings as GatewaySettings
from inference.worker.settings import Settings as WorkerSettings
from inference.worker.settings import SettingsError
from tests.foundation.configs import VALID, check, mutated
from tests.support.deployed_mocks import DeployedMocks

EP = "modelstack:models.flux.endpoint"


def problems(change) -> list[str]:
    with pytest.raises(ConfigError) as info:
        check(mutated(change))
    return info.value.problems


def modal_flux(**extra: Any):
    def change(raw: dict[str, Any]) -> None:
        raw["models"]["flux"]["endpoint"] = {"provider": "modal", "gpu": {"type": "T4"}, **extra}

    return change


# ------------------------------------------------------------------ (1) keys a provider ignores


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("flashboot", True, f"{EP}.flashboot: Runpod only; Modal endpoints have no FlashBoot; for fast starts keep "
         "containers warm (workers.min, workers.buffer, modal.warmSchedule) or snapshot memory in your app file "
         "(@app.cls(enable_memory_snapshot=True)); remove it"),
        ("scaling", {"type": "requestCount", "value": 2}, f"{EP}.scaling: Runpod only; Modal scales containers between "
         "workers.min and workers.max by itself (workers.buffer keeps extra ones warm); remove it"),
        ("dataCenters", ["EU-RO-1"], f"{EP}.dataCenters: Runpod only; a Modal app picks its region in its app file "
         "(@app.function(region=...)); remove it"),
        ("image", "images/worker", f"{EP}.image: Runpod only; a Modal endpoint's image is built by its app file "
         "(modal.appFile); remove it"),
    ],
)
def test_runpod_only_keys_on_a_modal_endpoint_name_the_provider(key, value, message):
    assert problems(modal_flux(**{key: value})) == [message]


def test_defaults_of_runpod_only_keys_are_fine_on_modal():
    config = check(mutated(modal_flux()))
    endpoint = config.modelstack.models["flux"].endpoint
    assert endpoint is not None and endpoint.flashboot is True and endpoint.image == "images/worker"


def test_buffer_workers_on_runpod_are_modal_only():
    def change(raw):
        raw["models"]["flux"]["endpoint"]["workers"]["buffer"] = 1

    assert problems(change) == [
        f"{EP}.workers.buffer: Modal only; Runpod has no buffer workers; workers.min keeps workers always on; "
        "raise workers.min or remove it"
    ]


# ------------------------------------------------------------------ (2) vendor limits: cron


@pytest.mark.parametrize(
    ("schedule", "why"),
    [
        ("*/15 8-25 * * 1-5", "hour 25 is out of range 0-23"),
        ("*/15 8-18 * *", "it has 4 fields, not 5"),
        ("*/0 * * * *", "minute step '0' in '*/0' must be a whole number of at least 1"),
        ("0 18-8 * * *", "hour range '18-8' runs backwards; write it low-high"),
        ("0 9 * * MON-FRY", "day-of-week 'FRY' is not a number or a name such as SUN"),
        ("0 9 * 13 *", "month 13 is out of range 1-12"),
        ("0 9 31 2 *", "day-of-month '31' never occurs in month '2', so it never runs"),
        ("0,,30 9 * * *", "minute '0,,30' has an empty list item"),
    ],
)
def test_an_invalid_warm_schedule_names_the_field(schedule, why):
    found = problems(modal_flux(modal={"warmSchedule": schedule}))
    assert found == [
        f"{EP}.modal.warmSchedule: {schedule!r} is not a valid cron schedule ({why}); fields are minute hour "
        "day-of-month month day-of-week, in UTC, e.g. '*/15 8-18 * * 1-5'"
    ]


@pytest.mark.parametrize("schedule", ["*/15 8-18 * * 1-5", "0 9 * * MON-FRI", "5/15 * 1,15 jan,Jul sun", "0 0 * * 7", "30 6 * * *"])
def test_valid_warm_schedules_pass(schedule):
    check(mutated(modal_flux(modal={"warmSchedule": schedule})))


def test_cron_expansion_matches_the_calendar():
    weekdays = cron_schedule.parse("*/15 8-18 * * 1-5")
    assert cron_schedule.active_days_per_year(weekdays) == 261  # 2025 has 261 weekdays
    # 44 firings a weekday, each keeping a container 300 s (the gaps are 900 s): 3 h 40 min a day
    assert cron_schedule.covered_hours_per_year(weekdays, 300) == pytest.approx(261 * 44 * 5 / 60)
    # windows longer than the gaps merge: one container all 11 hours (plus the last tail)
    assert cron_schedule.covered_hours_per_year(weekdays, 3600) == pytest.approx(261 * (10.75 + 1.0))
    # both day fields restricted: either matches (Vixie cron), Sunday as 7 too
    either = cron_schedule.parse("0 0 1 * 7")
    assert cron_schedule.active_days_per_year(either) == 12 + 52 - 1  # 1 June 2025 is a Sunday


# ------------------------------------------------------------------ (3) runtime contracts


GATEWAY = "modelstack:services.gateway"


def test_the_stacks_gateway_without_api_keys_does_not_plan():
    def change(raw):
        raw["services"]["gateway"]["secretEnv"] = {}

    assert problems(change) == [
        f"{GATEWAY}.secretEnv: runs the stack's gateway image (images/gateway); the gateway does not start without "
        "GATEWAY_API_KEYS (it authenticates every request with these keys); declare a secret "
        "(modelstack:secrets.gatewayApiKeys: {version: 1}), set it with pulumi config set --secret --path "
        "secrets.gatewayApiKeys.value <value>, and map it here: GATEWAY_API_KEYS: gatewayApiKeys"
    ]


def test_routing_runpod_models_needs_the_runpod_key():
    def change(raw):
        raw["services"]["gateway"]["models"] = ["flux"]

    assert problems(change) == [
        f"{GATEWAY}.secretEnv: runs the stack's gateway image (images/gateway) and routes to Runpod model(s) flux; "
        "the gateway does not start without RUNPOD_API_KEY (it calls Runpod's job API for provider runpod models "
        "with it); declare a secret (modelstack:secrets.runpodApiKey: {version: 1}), set it with pulumi config set "
        "--secret --path secrets.runpodApiKey.value <value>, and map it here: RUNPOD_API_KEY: runpodApiKey"
    ]


def test_the_config_check_and_the_gateway_read_the_same_list():
    """What the plan demands is what the gateway's own settings code refuses to start without."""
    routes = '{"flux": {"provider": "runpod", "url": "https://api.runpod.ai/v2/abc"}}'
    with pytest.raises(GatewayConfigError) as info:
        GatewaySettings.from_env({contract.SERVICE_MODELS: routes})
    for needed in contract.GATEWAY_REQUIRED:
        assert f"{needed.var}: required; {needed.why}" in str(info.value)
    settings = GatewaySettings.from_env(
        {contract.SERVICE_MODELS: routes, "GATEWAY_API_KEYS": "ci:" + "k" * 32, "RUNPOD_API_KEY": "rp-key-value"}
    )
    assert settings.models["flux"].provider == "runpod"


def test_a_gateway_image_from_a_registry_is_not_ours_to_check():
    def change(raw):
        raw["services"]["gateway"] = {"image": "ghcr.io/acme/api@sha256:" + "a" * 64}

    check(mutated(change))


def test_routing_a_modal_model_without_a_web_endpoint_gives_the_gateway_no_url():
    def change(raw):
        raw["models"]["batch"] = {
            "source": "hf://org/batch",
            "endpoint": {"provider": "modal", "gpu": {"type": "T4"}, "modal": {"webEndpoints": []}},
        }
        raw["services"]["gateway"]["models"] = ["batch"]

    assert problems(change) == [
        f"{GATEWAY}.models: routes to Modal model batch, whose app has no web endpoint "
        "(models.batch.endpoint.modal.webEndpoints is empty), so MODELSTACK_MODELS gives the gateway no URL for it "
        "and the gateway does not start; name its web endpoint in webEndpoints or stop routing to it"
    ]


def test_task_custom_on_our_worker_needs_the_custom_class():
    def change(raw):
        raw["models"]["flux"]["task"] = "custom"

    message = (
        f"{EP}.env: serves task custom on the stack's worker (images/worker), which does not start without "
        "MODELSTACK_CUSTOM_CLASS (it loads task custom from your module:Class); set env: "
        "{MODELSTACK_CUSTOM_CLASS: <module.path:ClassName>} with a module the worker can import, or serve the "
        "model with your own image or app file"
    )
    assert problems(change) == [message]
    # the worker's own settings refuse the same environment, for the same declared reason
    with pytest.raises(SettingsError) as info:
        WorkerSettings.from_env({contract.MODEL_TASK: "custom"})
    assert "MODELSTACK_CUSTOM_CLASS is required for task custom: it loads task custom from your module:Class" in str(info.value)


APP_FILE = '''
import modal
app = modal.App("x")

@app.cls()
class Api:
    @modal.asgi_app()
    def web(self): ...

    @modal.method()
    def ping(self): ...

@app.function()
@modal.fastapi_endpoint(method="POST")
def predict(body): ...

def helper(): ...

if True:
    @app.function(schedule=modal.Cron("* * * * *"))
    def keep_warm(): ...
'''


@pytest.mark.parametrize(
    ("entries", "problem"),
    [
        (["Api.web", "predict"], None),
        (None, "'Model.web': examples/own_app.py defines no class Model (classes: Api)"),  # the default
        (["Api.ui"], "'Api.ui': class Api in examples/own_app.py has no method ui (methods: ping, web)"),
        (["Api.ping"], "'Api.ping': Api.ping in examples/own_app.py has no web decorator (modal.asgi_app, "
         "modal.wsgi_app, modal.web_server or modal.fastapi_endpoint), so it has no URL"),
        (["serve"], "'serve': examples/own_app.py defines no function serve (functions: helper, keep_warm, predict)"),
        (["keep_warm"], "'keep_warm': function keep_warm in examples/own_app.py has no web decorator "
         "(modal.asgi_app, modal.wsgi_app, modal.web_server or modal.fastapi_endpoint), so it has no URL"),
    ],
)
def test_web_endpoints_are_checked_against_the_app_files_source(tmp_path, monkeypatch, entries, problem):
    root = tmp_path
    (root / "examples").mkdir()
    # the file would fail if it ran: the check reads it, never imports it
    (root / "examples" / "own_app.py").write_text("raise SystemExit('user code ran at plan time')\n" + APP_FILE)
    for build in ("images/gateway", "images/worker"):
        (root / build).mkdir(parents=True)
        (root / build / "Dockerfile").write_text("FROM scratch\n")
    modal: dict[str, Any] = {"appFile": "examples/own_app.py", "proxyAuth": False}
    if entries is not None:
        modal["webEndpoints"] = entries
    raw = mutated(modal_flux(modal=modal))
    def run():
        return validate(raw, project="acme-ml-dev", region="us-central1", stack="dev",
                        secret_keys={"modelstack:credentials", "modelstack:secrets"}, environ={}, root=root)

    if problem is None:
        run()
        return
    with pytest.raises(ConfigError) as info:
        run()
    fix = "; name the app's web endpoints here (Class.method or function), or webEndpoints: [] for an app without a web URL"
    assert info.value.problems == [f"{EP}.modal.webEndpoints: {problem}{fix}"]


def test_an_app_file_that_is_not_python_is_reported_with_its_line(tmp_path):
    bad = tmp_path / "app.py"
    bad.write_text("class Model:\n    def web(self)\n")
    with pytest.raises(SyntaxError):
        read_app_file(bad)


def test_every_seed_app_file_defines_its_web_endpoints():
    for path, entries in (("examples/hatcat/modal_app.py", ["HatCat.ui"]), ("inference/modal_app.py", ["Model.web"])):
        app = read_app_file(Path(__file__).resolve().parents[2] / path)
        cls, method = entries[0].split(".")
        assert app.classes[cls][method] is True


# ------------------------------------------------------------------ (4) a new bucket that seeds


def _seeded_stack(external: bool) -> StackFile:
    raw = copy.deepcopy(VALID)
    raw["credentials"]["s3"] = {"wasabi": {"accessKeyId": "WASABIKEYTEST", "secretAccessKey": "wasabi-secret-test"}}
    bucket: dict[str, Any] = {"kind": "s3", "endpoint": "https://s3.us-east-1.wasabisys.com", "credential": "wasabi"}
    if external:
        bucket.update(external=True, name="captionacc-prod")
    raw["buckets"]["captionacc-prod"] = bucket
    raw["models"]["ckpt"] = {
        "source": "s3://captionacc-prod/models/boundaries/",
        "task": "custom",
        "endpoint": {
            "provider": "modal",
            "gpu": {"type": "A10G"},
            "env": {"MODELSTACK_CUSTOM_CLASS": "boundaries.model:Boundaries"},
            "modal": {"volumes": {"/models": {"seedBucket": "captionacc-prod"}}},
        },
    }
    return stack_file(raw)


def stack_file(raw: dict[str, Any]) -> StackFile:
    """A config as the CLI hands it to the program: full keys, structured values as JSON."""
    config = {f"modelstack:{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in raw.items()}
    config.update({"gcp:project": "acme-ml-dev", "gcp:region": "us-central1"})
    return StackFile(stack="dev", config=config, secret_keys={"modelstack:credentials", "modelstack:secrets"})


def test_a_new_bucket_that_seeds_a_volume_or_a_model_warns_and_says_how_to_point_at_one():
    run = run_program("dev", stack_file=_seeded_stack(external=False))
    fix = "to read a bucket that already exists, point at it: modelstack:buckets.captionacc-prod: {name: <existing bucket name>, external: true}"
    assert run.warnings == [
        "modelstack:models.ckpt.source: bucket 'captionacc-prod' is created by this stack "
        f"(acme-ml-dev-dev-captionacc-prod), so it is empty on the first deploy and the worker finds no checkpoint in it; {fix}",
        "modelstack:models.ckpt.endpoint.modal.volumes./models.seedBucket: bucket 'captionacc-prod' is created by this "
        "stack (acme-ml-dev-dev-captionacc-prod), so it is empty on the first deploy and the volume at /models is "
        f"seeded with nothing; {fix}",
    ]
    assert run_program("dev", stack_file=_seeded_stack(external=True)).warnings == []


def test_a_modal_only_stacks_bucket_needs_a_name():
    raw = {
        "credentials": {"modalTokenId": "ak-test", "modalTokenSecret": "as-test",
                        "s3": {"r2": {"accessKeyId": "R2KEYTEST", "secretAccessKey": "r2-secret-test"}}},
        "buckets": {"results": {"kind": "s3", "endpoint": "https://acct.r2.cloudflarestorage.com", "credential": "r2"}},
    }
    with pytest.raises(ConfigError) as info:
        check(raw, project=None, region=None)
    assert info.value.problems == [
        "modelstack:buckets.results.name: is required in a stack without a valid gcp:project (the default is "
        "<project>-<stack>-<key>); set name: to the bucket's name"
    ]


# ------------------------------------------------------------------ the worker gets its task


def test_a_runpod_model_without_task_gets_the_effective_task():
    # the worker refuses to start without MODELSTACK_MODEL_TASK; without `task:` it is the pin's
    # effective task (the Hub's pipeline tag), which these mocks report as "custom"
    run = run_program("dev", stack_file=stack_file(copy.deepcopy(VALID)), preview=False, mocks=DeployedMocks)
    template = run.named("modelstack-endpoint-flux-template")
    assert template.value("env")[contract.MODEL_TASK] == "custom"


def test_the_plan_reports_the_programs_warnings_in_every_format(tmp_path):
    from components.plan import build_plan, render

    stack = tmp_path / "Pulumi.seed.yaml"
    stack.write_text(
        "config:\n"
        "  modelstack:environment: dev\n"
        "  modelstack:buckets:\n"
        "    captionacc-prod: {kind: s3, name: acme-captionacc-prod, endpoint: 'https://s3.us-east-1.wasabisys.com', credential: wasabi}\n"
        "  modelstack:models:\n"
        "    boundaries:\n"
        "      source: hf://org/boundaries@0123456789abcdef0123456789abcdef01234567\n"
        "      endpoint:\n"
        "        provider: modal\n"
        "        gpu: {type: A10G}\n"
        "        modal:\n"
        "          appFile: examples/caption-boundaries/service.py\n"
        "          webEndpoints: []\n"
        "          volumes: {/models: {seedBucket: captionacc-prod}}\n"
    )
    plan = build_plan("seed", Path(__file__).resolve().parents[2], stack)
    assert (plan.status, plan.exit_code) == ("warning", 0)
    assert len(plan.warnings) == 1 and plan.warnings[0].startswith(
        "modelstack:models.boundaries.endpoint.modal.volumes./models.seedBucket: bucket 'captionacc-prod' is created "
        "by this stack (acme-captionacc-prod)"
    )
    assert f"warning: {plan.warnings[0]}" in render(plan, "text", 0)
    assert "> ⚠️ modelstack:models.boundaries.endpoint.modal.volumes./models.seedBucket" in render(plan, "markdown", 60_000)
    assert json.loads(render(plan, "json", 0))["warnings"] == plan.warnings
