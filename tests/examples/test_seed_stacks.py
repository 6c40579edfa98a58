"""The five seed systems as modelstack stacks: each plans clean and holds what its guide describes.

This file: every stack plans clean, and the Modal-only systems (HatCat, caption boundaries) register
what their guides deploy. test_seed_gcp_stacks.py: Hippo, Modomo and Visgate.

For every stack in examples/<system>/Pulumi.<system>.yaml: the offline plan exits 0 with no policy
violation (all five are prod stacks, where violations would be mandatory), the program registers
the resources a reader of the seed guide would look for, and the cost estimate lands where the
seed's own figures do.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.config import validate_flat
from components.cost import estimate
from components.offline import ProgramRun, is_secret, load_stack_file, run_program, unwrap

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = ("hatcat", "hippo", "caption-boundaries", "modomo", "visgate", "visgate-static")
# visgate-static is Visgate's optional second part: the preconfigured models behind our gateway.
FOLDER = {"visgate-static": "visgate"}


def stack_path(system: str) -> Path:
    return REPO_ROOT / "examples" / FOLDER.get(system, system) / f"Pulumi.{system}.yaml"


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


def edited(system: str, section: str, change) -> ProgramRun:
    """Run `system` with `change(value)` applied to its `modelstack:<section>` value."""
    stack_file = load_stack_file(system, REPO_ROOT, stack_path(system))
    value = json.loads(stack_file.config[f"modelstack:{section}"])
    change(value)
    stack_file.config[f"modelstack:{section}"] = json.dumps(value)
    return run_program(system, stack_file=stack_file)


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


APP = "pulumi-python:dynamic/modal:App"
SECRET = "pulumi-python:dynamic/modal:Secret"
HF_MODEL = "pulumi-python:dynamic/huggingface:Model"


def test_hatcat_is_one_app_serving_three_pinned_models_from_its_cache_volume(runs):
    run = runs["hatcat"]
    assert gcp_resources(run) == []  # Modal only: no Google Cloud at all
    app = only(run, APP)
    assert app.parent.endswith("modelstack:gpu:App::modelstack-app-hatcat")  # the app form, no primary model
    assert (app.value("name"), app.value("sourceFile")) == ("hatcat", "examples/hatcat/modal_app.py")
    assert (app.value("gpu"), app.value("minContainers"), app.value("maxContainers")) == (["T4"], 0, 1)
    assert app.value("scaledownWindow") == 300  # scale to zero after 5 minutes idle
    assert app.value("warmSchedule") == "*/15 8-18 * * 1-5"
    assert app.value("proxyAuth") is False  # a browser UI: OpenWebUI's own login guards it
    assert app.value("volumes") == {"/data": "hatcat-data", "/models": "hatcat-models"}
    env = app.value("env")
    pins = {r.value("repoId"): r.value("revision") for r in run.of_type(HF_MODEL)}
    assert sorted(pins) == ["HatCatFTW/lens-gemma-3-4b-first-light-v1", "google/gemma-2-2b", "google/gemma-3-4b-pt"]
    # every model's repo and pinned sha reach the app, one variable each and together as JSON
    listed = json.loads(env["MODELSTACK_APP_MODELS"])
    assert list(listed) == ["gemma3", "gemma2", "lens"]
    for key, var in (("gemma3", "GEMMA3"), ("gemma2", "GEMMA2"), ("lens", "LENS")):
        repo = env[f"MODELSTACK_MODEL_{var}_ID"]
        assert env[f"MODELSTACK_MODEL_{var}_REVISION"] == listed[key]["revision"] == pins[repo]
        assert listed[key]["id"] == repo
    assert env["HF_HOME"] == "/models/huggingface"  # the cache volume caches, though not mounted at /cache
    # HatCat's own code at a commit, not a branch
    assert env["HATCAT_GIT_URL"] == "https://github.com/p0ss/HatCat.git"
    assert re.fullmatch(r"[0-9a-f]{40}", env["HATCAT_REF"])
    secret = only(run, SECRET)
    assert is_secret(secret.inputs["values"]) and list(unwrap(secret.inputs["values"])) == ["HF_TOKEN"]
    # the seed's own table, "Medium (3hr/day) ~$55" on a T4 at $0.59/h, plus what its own warm
    # schedule costs and the table leaves out: weekday pings every 15 min, 8:00-18:59 UTC, each
    # holding the container 300 s = 79.75 h/month, less the 3 of 11 hours in use anyway ($34.22)
    assert monthly("hatcat") == pytest.approx(55.33 + 79.75 * (1 - 3 / 11) * 0.59, abs=0.01)


def test_the_model_cache_is_whichever_volume_is_marked_wherever_it_is_mounted():
    def unmark(apps):
        apps["hatcat"]["modal"]["volumes"]["/models"]["modelCache"] = False

    assert "HF_HOME" not in only(edited("hatcat", "apps", unmark), APP).value("env")

    def move(apps):
        volumes = apps["hatcat"]["modal"]["volumes"]
        volumes["/root/.cache/huggingface"] = volumes.pop("/models")  # where HatCat's own file mounts it
    env = only(edited("hatcat", "apps", move), APP).value("env")
    assert env["HF_HOME"] == "/root/.cache/huggingface/huggingface"


def test_the_hatcat_app_file_refuses_a_branch_for_its_code():
    source = (REPO_ROOT / "examples" / "hatcat" / "modal_app.py").read_text()
    assert "HATCAT_REF must be a 40-character commit sha" in source
    result = subprocess.run(
        [sys.executable, "-c", "import examples.hatcat.modal_app"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**_clean_env(), "MODELSTACK_MODAL_APP_NAME": "hatcat", "MODELSTACK_MODAL_ENV": json.dumps({"HATCAT_REF": "main"})},
    )
    assert result.returncode != 0 and "HATCAT_REF must be a 40-character commit sha of HatCat, not 'main'" in result.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("MODELSTACK_")} | {"PYTHONPATH": str(REPO_ROOT)}


def test_caption_boundaries_keeps_its_two_named_secrets_its_checkpoint_and_its_app_name(runs):
    run = runs["caption-boundaries"]
    assert gcp_resources(run) == []
    assert run.of_type("pulumi-python:dynamic/s3:Bucket") == []  # the production bucket is external: never managed
    app = only(run, APP)
    # the name Prefect's flow calls run_boundary_inference_batch in
    assert (app.value("name"), app.value("gpu"), app.value("timeout")) == ("boundary-inference", ["A10G"], 900)
    assert app.value("webEndpoints") == []
    # the guide's two secrets, under their own names and with their own keys, both attached
    secrets = {unwrap(s.inputs["name"]): s for s in run.of_type(SECRET)}
    assert sorted(secrets) == ["supabase-credentials", "wasabi-credentials"]
    assert sorted(app.value("secrets")) == ["supabase-credentials", "wasabi-credentials"]
    wasabi = unwrap(secrets["wasabi-credentials"].inputs["values"])
    assert sorted(wasabi) == ["WASABI_ACCESS_KEY", "WASABI_BUCKET", "WASABI_ENDPOINT", "WASABI_REGION", "WASABI_SECRET_KEY"]
    assert (wasabi["WASABI_BUCKET"], wasabi["WASABI_ENDPOINT"]) == ("captionacc-prod", "https://s3.us-east-1.wasabisys.com")
    assert sorted(unwrap(secrets["supabase-credentials"].inputs["values"])) == [
        "SUPABASE_SCHEMA", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_URL"]
    assert all(is_secret(s.inputs["values"]) for s in secrets.values())
    # the checkpoint comes from the guide's bucket into /models/checkpoints, where the service reads it
    volume = only(run, "pulumi-python:dynamic/modal:Volume")
    assert (volume.value("name"), volume.value("seedBucket"), volume.value("seedPrefix"), volume.value("seedPath")) == (
        "boundary-models", "captionacc-prod", "models/caption_boundaries/", "/checkpoints")
    assert volume.value("seedCredential") == "wasabi"
    env = app.value("env")
    assert json.loads(env["MODELSTACK_APP_MODELS"])["boundaries"]["id"] == "s3://captionacc-prod/models/caption_boundaries/"
    assert env["BOUNDARY_CHECKPOINT_DIR"] == "/models/checkpoints" and "HF_HOME" not in env  # not a Hub cache
    # the seed's calculator: 36,000 frames at 10 fps, 100 pairs/s on an A10G at $1.10/h ~ $0.11 a video
    stack_file = load_stack_file("caption-boundaries", REPO_ROOT, stack_path("caption-boundaries"))
    config = validate_flat(stack_file.config, stack="caption-boundaries", secret_keys=stack_file.secret_keys, root=REPO_ROOT)
    item = estimate(config).items[0]
    assert item.kind == "app"
    # low: the GPU seconds of 100 videos plus one idle tail a day; per video that is the seed's figure
    assert item.monthly.low / 100 == pytest.approx(0.11, abs=0.01)
