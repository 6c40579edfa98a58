"""The seed systems that run on Google Cloud (Hippo, Modomo, Visgate) hold what their guides deploy,
with the run-time guards their guides ask for: JSON health checks, WebSocket settings, billing budgets."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError, validate_flat
from components.offline import ProgramRun, is_secret, load_stack_file, run_program, unwrap
from tests.examples.test_seed_stacks import REPO_ROOT, SYSTEMS, edited, monthly, only, stack_path
from tests.support.deployed_mocks import DeployedMocks

SERVICE = "gcp:cloudrunv2/service:Service"
UPTIME = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    systems = ("hippo", "modomo", "visgate", "visgate-static")
    assert set(systems) <= set(SYSTEMS)
    return {s: run_program(s, stack_file=load_stack_file(s, REPO_ROOT, stack_path(s))) for s in systems}


def container(run: ProgramRun) -> dict:
    return only(run, SERVICE).value("template")["containers"][0]


def envs(run: ProgramRun) -> dict:
    return {e["name"]: e for e in container(run)["envs"]}


def validate(system: str, section: str, change) -> None:
    stack_file = load_stack_file(system, REPO_ROOT, stack_path(system))
    value = json.loads(stack_file.config[f"modelstack:{section}"])
    change(value)
    stack_file.config[f"modelstack:{section}"] = json.dumps(value)
    validate_flat(stack_file.config, stack=system, secret_keys=stack_file.secret_keys, root=REPO_ROOT)


# ---------------------------------------------------------------------------------------------- Hippo


def test_hippo_checks_network_loaded_from_outside_because_its_probe_only_sees_the_status(runs):
    run = runs["hippo"]
    probes = container(run)
    assert probes["startupProbe"]["httpGet"]["path"] == probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    [check] = run.of_type(UPTIME)
    assert check.value("httpCheck")["path"] == "/healthz" and check.value("httpCheck")["useSsl"] is True
    [matcher] = check.value("contentMatchers")
    assert matcher["matcher"] == "MATCHES_JSON_PATH"
    assert matcher["jsonPathMatcher"] == {"jsonPath": "$.network_loaded", "jsonMatcher": "EXACT_MATCH"}
    assert matcher["content"] == "true"
    service = only(run, SERVICE)
    assert check.value("monitoredResource")["labels"]["host"] == service.outputs["uri"].split("://")[1]
    # a failing check pages someone
    [policy] = run.of_type(POLICY)
    [channel] = run.of_type(CHANNEL)
    assert channel.value("labels") == {"email_address": "oncall@hippo.example.com"}
    assert len(policy.value("notificationChannels")) == 1
    assert "monitoring.googleapis.com" in {r.value("service") for r in run.of_type("gcp:projects/service:Service")}


def test_hippo_is_given_the_name_it_loads_by_and_not_a_revision_it_would_ignore(runs):
    env = envs(runs["hippo"])
    assert env["HF_MODEL_REPO"]["value"] == "hippo-ml/hippo-models"
    assert env["DEFAULT_MODEL"]["value"] == "mnist-relu-100"
    assert "HF_MODEL_REVISION" not in env  # Hippo never reads it; the stack file says what pinning means
    assert "secretKeyRef" in env["HUGGINGFACE_TOKEN"]["valueSource"]
    assert container(runs["hippo"])["volumeMounts"] == [{"name": "volume-0", "mountPath": "/app/.hf_cache"}]
    text = stack_path("hippo").read_text()
    assert "What pinning means for Hippo" in text and "by file name" in text


def test_hippo_rolls_back_by_the_model_name_it_loads():
    def older(services):
        services["api"]["env"]["DEFAULT_MODEL"] = "mnist-relu-100-20251101T120000"

    assert envs(edited("hippo", "services", older))["DEFAULT_MODEL"]["value"] == "mnist-relu-100-20251101T120000"


# --------------------------------------------------------------------------------------------- Modomo


def test_modomo_websocket_keeps_its_instance_and_outlives_900_seconds(runs):
    template = only(runs["modomo"], SERVICE).value("template")
    assert template["sessionAffinity"] is True
    assert template["timeout"] == "3600s"
    assert template["vpcAccess"]["egress"] == "PRIVATE_RANGES_ONLY"
    env = envs(runs["modomo"])
    assert "secretKeyRef" in env["REDIS_URL"]["valueSource"]
    assert "secretKeyRef" in env["API_SECRET_KEY"]["valueSource"]  # the API authenticates its users with it


def test_a_request_timeout_past_cloud_runs_maximum_is_refused_naming_the_key():
    def too_long(services):
        services["api"]["timeoutSeconds"] = 3601

    with pytest.raises(ConfigError) as failure:
        validate("modomo", "services", too_long)
    [problem] = failure.value.problems
    assert problem.startswith("modelstack:services.api.timeoutSeconds:") and "3600" in problem


def test_modomo_health_is_checked_field_by_field_and_alerts(runs):
    run = runs["modomo"]
    checks = {c.value("contentMatchers")[0]["jsonPathMatcher"]["jsonPath"]: c for c in run.of_type(UPTIME)}
    assert sorted(checks) == ["$.services.redis", "$.status"]
    status = checks["$.status"].value("contentMatchers")[0]
    assert status["jsonPathMatcher"]["jsonMatcher"] == "REGEX_MATCH" and status["content"] == '^"?healthy"?$'
    assert all(c.value("httpCheck")["path"] == "/health" and c.value("period") == "60s" for c in checks.values())
    [policy] = run.of_type(POLICY)
    assert len(policy.value("conditions")) == 2 and policy.value("combiner") == "OR"


def test_modomo_spend_is_watched_by_a_billing_budget_on_its_project(runs):
    run = runs["modomo"]
    [budget] = run.of_type("gcp:billing/budget:Budget")
    assert budget.value("billingAccount") == "01A2B3-C4D5E6-F7A8B9"
    assert budget.value("amount")["specifiedAmount"] == {"currencyCode": "USD", "units": "150"}
    assert [r["thresholdPercent"] for r in budget.value("thresholdRules")] == [0.5, 0.9, 1.0]
    assert budget.value("budgetFilter")["projects"] == ["projects/123456789012"]  # this project only
    assert budget.value("allUpdatesRule")["disableDefaultIamRecipients"] is False
    assert len(budget.value("allUpdatesRule")["monitoringNotificationChannels"]) == 1
    apis = {r.value("service") for r in run.of_type("gcp:projects/service:Service")}
    assert {"billingbudgets.googleapis.com", "monitoring.googleapis.com"} <= apis


def test_modomo_function_uses_its_pinned_models_the_seeds_secret_and_a_cache(runs):
    run = runs["modomo"]
    app = only(run, "pulumi-python:dynamic/modal:App")
    assert (app.value("name"), app.value("gpu")) == ("modomo-sd-inference", ["T4"])
    env = app.value("env")
    assert env["MODELSTACK_MODEL_SD15_REVISION"] == "451f4fe16113bff5a5d2269ed5ad43b0592e9a14"
    assert env["MODELSTACK_MODEL_CONTROLNET_DEPTH_ID"] == "lllyasviel/sd-controlnet-depth"
    assert env["HF_HOME"] == "/cache/huggingface"
    [secret] = run.of_type("pulumi-python:dynamic/modal:Secret")
    assert unwrap(secret.inputs["name"]) == "modomo-r2-credentials" and is_secret(secret.inputs["values"])
    assert sorted(unwrap(secret.inputs["values"])) == [
        "CDN_DOMAIN", "R2_ACCESS_KEY_ID", "R2_BUCKET_NAME", "R2_ENDPOINT_URL", "R2_SECRET_ACCESS_KEY"]
    bucket = only(run, "pulumi-python:dynamic/s3:Bucket")
    assert (bucket.value("bucketName"), bucket.protect) == ("modomo-prod-modomo-results", True)
    # 101.40 at Tier 1 rates; the API runs in europe-west2, a Tier 2 region (1.4x): +$21.02 for its always-on instance
    assert monthly("modomo") == pytest.approx(101.40 + 21.02, abs=1)


# -------------------------------------------------------------------------------------------- Visgate


def test_visgate_is_its_own_deploy_api_with_firestore_and_a_template_it_starts_endpoints_from():
    run = run_program("visgate", stack_file=load_stack_file("visgate", REPO_ROOT, stack_path("visgate")),
                      preview=False, mocks=DeployedMocks)
    service = only(run, SERVICE)
    image = container(run)["image"]
    assert image.startswith("us-central1-docker.pkg.dev/visgate/visgate/deploy-api@sha256:")  # Visgate's own image
    env = envs(run)
    template = only(run, "pulumi-python:dynamic/runpod:Template")
    assert env["RUNPOD_TEMPLATE_ID"]["value"] == template.outputs["templateId"]
    assert env["DOCKER_IMAGE"]["value"] == template.value("image")
    assert env["GCP_PROJECT_ID"]["value"] == "visgate"
    assert env["INTERNAL_WEBHOOK_BASE_URL"]["value"] == "https://api-visgate-123456789012.us-central1.run.app"
    assert env["INTERNAL_WEBHOOK_SECRET"]["valueSource"]["secretKeyRef"]["secret"] == "visgate-internalwebhooksecret"
    assert service.value("name") == "api-visgate"
    # the template: the worker image built from images/worker and pushed, no endpoint of its own
    assert template.value("name") == "visgate-inference" and template.value("containerDiskGb") == 25
    assert template.value("env") == {"MODELSTACK_MODEL_TASK": "text-to-image"}
    assert run.of_type("pulumi-python:dynamic/runpod:Endpoint") == []
    [build] = run.of_type("docker:index/image:Image")
    assert build.value("build")["dockerfile"].endswith("images/worker/Dockerfile")
    assert template.value("image").split("@")[0].endswith("/worker")
    # Firestore: the (default) database the API opens, which the API's account may use
    database = only(run, "gcp:firestore/database:Database")
    assert (database.value("name"), database.value("locationId")) == ("(default)", "nam5")
    assert env["FIRESTORE_DATABASE"]["value"] == "(default)"
    [check] = run.of_type(UPTIME)
    assert check.value("httpCheck")["path"] == "/readiness" and check.value("contentMatchers") is None


def test_visgate_static_keeps_the_preconfigured_models_behind_our_gateway(runs):
    run = runs["visgate-static"]
    assert only(run, "gcp:firestore/database:Database").value("locationId") == "nam5"
    endpoints = {r.parent.split("::")[-1]: r for r in run.of_type("pulumi-python:dynamic/runpod:Endpoint")}
    assert sorted(endpoints) == [
        "modelstack-endpoint-flux-dev", "modelstack-endpoint-flux-schnell", "modelstack-endpoint-sdxl-turbo"]
    sizings = sorted(r.value("model") for r in run.of_type("pulumi-python:dynamic/gpu:Sizing"))
    assert sizings == ["black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell", "stabilityai/sdxl-turbo"]
    templates = run.of_type("pulumi-python:dynamic/runpod:Template")
    assert all("MODELSTACK_CALLBACK_URL" in t.value("env") for t in templates)
    env = envs(run)
    assert env["GATEWAY_RATE_LIMIT_RPS"]["value"] == "1.67"
    assert "secretKeyRef" in env["WORKER_CALLBACK_KEY"]["valueSource"]
    secrets = {s.name for s in run.of_type("pulumi-python:dynamic/runpod:Secret")}
    assert "modelstack-endpoint-flux-dev-secret-hf-token" in secrets
