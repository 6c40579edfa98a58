"""The five seed systems as modelstack stacks: each plans clean and holds what its guide describes.

For every stack in examples/<system>/Pulumi.<system>.yaml: the offline plan exits 0 with no policy
violation (all five are prod stacks, where violations would be mandatory), the program registers
the resources a reader of the seed guide would look for, and the cost estimate lands where the
seed's own figures do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import validate_flat
from components.cost import estimate
from components.offline import ProgramRun, is_secret, load_stack_file, run_program, unwrap

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("hatcat", "hippo", "caption-boundaries", "modomo", "visgate")


def stack_path(system: str) -> Path:
    return REPO_ROOT / "examples" / system / f"Pulumi.{system}.yaml"


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    return {s: run_program(s, stack_file=load_stack_file(s, REPO_ROOT, stack_path(s))) for s in SYSTEMS}


def monthly(system: str) -> float:
    stack_file = load_stack_file(system, REPO_ROOT, stack_path(system))
    config = validate_flat(stack_file.config, stack=system, secret_keys=stack_file.secret_keys, root=REPO_ROOT)
    return estimate(config).total.expected


def only(run: ProgramRun, typ: str):
    found = run.of_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def gcp_resources(run: ProgramRun) -> list[str]:
    return [r.name for r in run.resources if r.type.startswith(("gcp:", "docker:"))]


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.parametrize("system", SYSTEMS)
def test_plan_is_clean_and_prints_its_cost(system):
    result = subprocess.run(
        [sys.executable, "-m", "components.plan", "--stack", system, "--config-file", str(stack_path(system)), "--format", "json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    plan = json.loads(result.stdout)
    assert plan["status"] == "ok"
    assert plan["policies"]["mandatoryViolations"] == plan["policies"]["advisoryViolations"] == 0
    assert plan["budget"]["blocked"] is False
    assert plan["cost"]["total"]["expected"] > 0


def test_hatcat_is_one_modal_t4_container_with_two_pinned_gemmas(runs):
    run = runs["hatcat"]
    assert gcp_resources(run) == []  # Modal only: no Google Cloud at all
    app = only(run, "pulumi-python:dynamic/modal:App")
    assert app.value("sourceFile") == "examples/hatcat/modal_app.py"
    assert (app.value("gpu"), app.value("minContainers"), app.value("maxContainers")) == (["T4"], 0, 1)
    assert app.value("scaledownWindow") == 300  # scale to zero after 5 minutes idle
    assert app.value("warmSchedule") == "*/15 8-18 * * 1-5"
    assert app.value("proxyAuth") is False  # a browser UI: OpenWebUI's own login guards it
    assert app.value("volumes") == {"/data": "hatcat-data", "/models": "hatcat-models"}
    env = app.value("env")
    assert (env["MODELSTACK_MODEL_ID"], env["MODELSTACK_MODEL_REVISION"]) == (
        "google/gemma-3-4b-pt", "cc012e0a6d0787b4adcc0fa2c4da74402494554d")
    assert (env["HATCAT_SECOND_MODEL_ID"], env["HATCAT_SECOND_MODEL_REVISION"]) == (
        "google/gemma-2-2b", "c5ebcd40d208330abc697524c919956e692655cf")
    secret = only(run, "pulumi-python:dynamic/modal:Secret")
    assert is_secret(secret.inputs["values"]) and list(unwrap(secret.inputs["values"])) == ["HF_TOKEN"]
    assert sorted(r.value("repoId") for r in run.of_type("pulumi-python:dynamic/huggingface:Model")) == [
        "google/gemma-2-2b", "google/gemma-3-4b-pt"]
    # the seed's own table, "Medium (3hr/day) ~$55" on a T4 at $0.59/h, plus what its own warm
    # schedule costs and the table leaves out: weekday pings every 15 min, 8:00-18:59 UTC, each
    # holding the container 300 s = 79.75 h/month, less the 3 of 11 hours in use anyway ($34.22)
    assert monthly("hatcat") == pytest.approx(55.33 + 79.75 * (1 - 3 / 11) * 0.59, abs=0.01)


def test_hippo_api_loads_the_pinned_model_from_a_cached_hub_repo(runs):
    run = runs["hippo"]
    service = only(run, "gcp:cloudrunv2/service:Service")
    template = service.value("template")
    container = template["containers"][0]
    env = {e["name"]: e for e in container["envs"]}
    assert env["HF_MODEL_REPO"]["value"] == "hippo-ml/hippo-models"
    pin = only(run, "pulumi-python:dynamic/huggingface:Model")
    assert env["HF_MODEL_REVISION"]["value"] == pin.value("revision") == "5d2b9f0c7e1a4b3c8d6e0f9a2b1c4d7e8f0a3b6c"
    assert env["ALLOWED_ORIGINS"]["value"] == "https://hippo.example.com"
    assert "secretKeyRef" in env["HUGGINGFACE_TOKEN"]["valueSource"]
    assert container["startupProbe"]["httpGet"]["path"] == container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["volumeMounts"] == [{"name": "volume-0", "mountPath": "/app/.hf_cache"}]
    assert template["volumes"][0]["gcs"]["bucket"] == "hippo-prod-hippo-hf-cache"
    assert "@sha256:" in container["image"]


def test_hippo_rolls_back_by_changing_the_pinned_model_in_config():
    stack_file = load_stack_file("hippo", REPO_ROOT, stack_path("hippo"))
    models = json.loads(stack_file.config["modelstack:models"])
    models["hippo"]["source"] = "hf://hippo-ml/hippo-models@" + "1" * 40
    stack_file.config["modelstack:models"] = json.dumps(models)
    run = run_program("hippo", stack_file=stack_file)
    env = {e["name"]: e.get("value") for e in only(run, "gcp:cloudrunv2/service:Service").value("template")["containers"][0]["envs"]}
    assert env["HF_MODEL_REVISION"] == "1" * 40
    # the same pin resource, with a new revision: an in-place update, not a new model
    assert only(run, "pulumi-python:dynamic/huggingface:Model").name == "modelstack-model-hippo-pin"


def test_caption_boundaries_is_a_modal_a10g_batch_function_fed_from_wasabi(runs):
    run = runs["caption-boundaries"]
    assert gcp_resources(run) == []
    assert run.of_type("pulumi-python:dynamic/s3:Bucket") == []  # the production bucket is external: never managed
    app = only(run, "pulumi-python:dynamic/modal:App")
    assert (app.value("name"), app.value("gpu"), app.value("timeout")) == ("boundary-inference", ["A10G"], 900)
    assert app.value("webEndpoints") == []
    env = app.value("env")
    assert env["BOUNDARY_BATCH_SIZE"] == "64"
    assert (env["WASABI_BUCKET"], env["WASABI_ENDPOINT"]) == ("captionacc-prod", "https://s3.us-east-1.wasabisys.com")
    volume = only(run, "pulumi-python:dynamic/modal:Volume")
    assert (volume.value("name"), volume.value("seedBucket"), volume.value("seedPrefix"), volume.value("seedPath")) == (
        "boundary-models", "captionacc-prod", "models/caption_boundaries/", "/checkpoints")
    assert volume.value("seedCredential") == "wasabi"
    secret = only(run, "pulumi-python:dynamic/modal:Secret")
    assert sorted(unwrap(secret.inputs["values"])) == ["SUPABASE_SERVICE_ROLE_KEY", "WASABI_ACCESS_KEY", "WASABI_SECRET_KEY"]
    # the seed's calculator: 36,000 frames at 10 fps, 100 pairs/s on an A10G at $1.10/h ~ $0.11 a video
    stack_file = load_stack_file("caption-boundaries", REPO_ROOT, stack_path("caption-boundaries"))
    config = validate_flat(stack_file.config, stack="caption-boundaries", secret_keys=stack_file.secret_keys, root=REPO_ROOT)
    item = estimate(config).items[0]
    # low: the GPU seconds of 100 videos plus one idle tail a day; per video that is the seed's figure
    assert item.monthly.low / 100 == pytest.approx(0.11, abs=0.01)


def test_modomo_api_queue_bucket_and_gpu_function(runs):
    run = runs["modomo"]
    redis = only(run, "gcp:redis/instance:Instance")
    assert (redis.value("tier"), redis.value("memorySizeGb"), redis.value("authEnabled")) == ("BASIC", 1, True)
    template = only(run, "gcp:cloudrunv2/service:Service").value("template")
    assert template["vpcAccess"]["egress"] == "PRIVATE_RANGES_ONLY"
    env = {e["name"]: e for e in template["containers"][0]["envs"]}
    assert "secretKeyRef" in env["REDIS_URL"]["valueSource"]
    assert env["CDN_DOMAIN"]["value"] == "https://cdn.modomo.app"
    assert env["R2_BUCKET_NAME"]["value"] == "modomo-prod-modomo-results"
    bucket = only(run, "pulumi-python:dynamic/s3:Bucket")
    assert (bucket.value("bucketName"), bucket.value("credential"), bucket.value("versioning")) == (
        "modomo-prod-modomo-results", "r2", True)
    assert bucket.protect is True
    app = only(run, "pulumi-python:dynamic/modal:App")
    assert (app.value("name"), app.value("gpu")) == ("modomo-sd-inference", ["T4"])
    assert app.value("sourceFile") == "examples/modomo/sd_inference.py"
    secret = only(run, "pulumi-python:dynamic/modal:Secret")
    assert sorted(unwrap(secret.inputs["values"])) == ["R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"]
    assert app.value("env")["CDN_DOMAIN"] == "https://cdn.modomo.app"


def test_visgate_api_firestore_and_a_runpod_endpoint_per_model(runs):
    run = runs["visgate"]
    assert only(run, "gcp:firestore/database:Database").value("locationId") == "nam5"
    endpoints = {r.parent.split("::")[-1]: r for r in run.of_type("pulumi-python:dynamic/runpod:Endpoint")}
    assert sorted(endpoints) == [
        "modelstack-endpoint-flux-dev", "modelstack-endpoint-flux-schnell", "modelstack-endpoint-sdxl-turbo"]
    # GPU tiers come from each pinned model, not from a hand-made table
    sizings = sorted(r.value("model") for r in run.of_type("pulumi-python:dynamic/gpu:Sizing"))
    assert sizings == ["black-forest-labs/FLUX.1-dev", "black-forest-labs/FLUX.1-schnell", "stabilityai/sdxl-turbo"]
    templates = run.of_type("pulumi-python:dynamic/runpod:Template")
    assert all("MODELSTACK_CALLBACK_URL" in t.value("env") for t in templates)  # the readiness webhook
    env = {e["name"]: e for e in only(run, "gcp:cloudrunv2/service:Service").value("template")["containers"][0]["envs"]}
    assert env["GATEWAY_RATE_LIMIT_RPS"]["value"] == "1.67"  # 100 requests a minute per key
    assert "secretKeyRef" in env["WORKER_CALLBACK_KEY"]["valueSource"]
    # the gated FLUX.1-dev gets the HF token, as a Runpod secret
    secrets = {s.name for s in run.of_type("pulumi-python:dynamic/runpod:Secret")}
    assert "modelstack-endpoint-flux-dev-secret-hf-token" in secrets
