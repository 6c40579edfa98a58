"""`plan --state <pulumi stack export>`: what a deployed stack pinned lets the offline plan decide."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.plan import build_plan
from components.review.state import StateError, load_state
from tests.fakes.checkpoints import model_repo
from tests.fakes.hub_server import FakeHub
from tests.hub.test_disk_sizing import FLUX_FILES

REPO_ROOT = Path(__file__).resolve().parents[2]
VISGATE = REPO_ROOT / "examples" / "visgate" / "Pulumi.visgate-static.yaml"  # the three preconfigured models
SCHNELL_SHA = "741f7c3ce8b383c54771c7003378a50191e9efe9"
MAIN_SHA = "0123456789abcdef0123456789abcdef01234567"


def export(tmp_path: Path, *pins: dict[str, Any]) -> Path:
    """A `pulumi stack export` document holding these HuggingFaceModel resources (and a secret)."""
    resources = [
        {
            "urn": f"urn:pulumi:prod::modelstack::modelstack:index:Platform$modelstack:models:Model$"
            f"pulumi-python:dynamic/huggingface:Model::modelstack-model-{pin['key']}-pin",
            "type": "pulumi-python:dynamic/huggingface:Model",
            "inputs": {"repoId": pin["repoId"], "revision": pin["revision"]},
            "outputs": {k: v for k, v in pin.items() if k != "key"},
        }
        for pin in pins
    ]
    resources.append({"urn": "urn:pulumi:prod::modelstack::gcp:secretmanager/secretVersion:SecretVersion::s",
                      "type": "gcp:secretmanager/secretVersion:SecretVersion",
                      "outputs": {"secretData": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "AAAA"}}})
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 3, "deployment": {"manifest": {}, "resources": resources}}))
    return path


def schnell(**extra: Any) -> dict[str, Any]:
    return {"key": "flux-schnell", "repoId": "black-forest-labs/FLUX.1-schnell", "revision": SCHNELL_SHA, "sha": SCHNELL_SHA,
            "pins": {SCHNELL_SHA: SCHNELL_SHA}, "files": FLUX_FILES, "vramGb": 43.4, "effectiveTask": "text-to-image", **extra}


def test_an_auto_sized_gpu_is_priced_by_the_pinned_models_need(tmp_path):
    without = build_plan("visgate-static", REPO_ROOT, VISGATE)
    known = build_plan("visgate-static", REPO_ROOT, VISGATE, state=export(tmp_path, schnell()))
    before, after = (p.cost.item("endpoint", "flux-schnell") for p in (without, known))  # type: ignore[union-attr]
    assert (before.details["gpu"]["expected"], before.details["gpuKnown"]) == ("AMPERE_16", False)
    assert (after.details["gpu"]["expected"], after.details["gpuKnown"]) == ("AMPERE_48", True)  # 43.4 GB needs a 48 GB card
    assert after.monthly.expected > before.monthly.expected
    # the models the state does not hold are still priced as a floor
    assert known.cost.item("endpoint", "flux-dev").details["gpuKnown"] is False  # type: ignore[union-attr]
    assert known.status == "ok"


def test_a_runpod_disk_set_too_small_for_the_pinned_snapshot_fails_the_plan(tmp_path):
    data = yaml.safe_load(VISGATE.read_text())
    data["config"]["modelstack:models"]["flux-schnell"]["endpoint"]["runpod"] = {"containerDiskGb": 50}
    stack = tmp_path / "Pulumi.visgate-static.yaml"
    stack.write_text(yaml.safe_dump(data))
    plan = build_plan("visgate-static", REPO_ROOT, stack, state=export(tmp_path, schnell()))
    assert (plan.status, plan.exit_code) == ("invalid", 1)
    assert plan.errors == [
        "modelstack:models.flux-schnell.endpoint.runpod.containerDiskGb: 50 GB cannot hold the pinned snapshot "
        "(53.9 GB that the worker downloads for black-forest-labs/FLUX.1-schnell; 70 GB with headroom); raise it "
        "to at least 70, or remove it to size the disk from the model"
    ]
    # a pin of another commit says nothing about this one's files
    other = schnell(sha="f" * 40, revision="f" * 40, pins={"f" * 40: "f" * 40})
    assert build_plan("visgate-static", REPO_ROOT, stack, state=export(tmp_path, other)).errors == []


def test_a_runpod_network_volume_too_small_for_the_pinned_snapshot_fails_the_plan(tmp_path):
    """The cache is on the volume, so the volume must hold the snapshot; the container disk need not."""
    data = yaml.safe_load(VISGATE.read_text())
    endpoint = data["config"]["modelstack:models"]["flux-schnell"]["endpoint"]
    endpoint["runpod"] = {"networkVolume": {"sizeGb": 20, "dataCenter": "EU-RO-1"}, "containerDiskGb": 30}
    endpoint.pop("dataCenters", None)
    stack = tmp_path / "Pulumi.visgate-static.yaml"
    stack.write_text(yaml.safe_dump(data))
    plan = build_plan("visgate-static", REPO_ROOT, stack, state=export(tmp_path, schnell()))
    assert (plan.status, plan.exit_code) == ("invalid", 1)
    assert plan.errors == [
        "modelstack:models.flux-schnell.endpoint.runpod.networkVolume.sizeGb: 20 GB cannot hold the pinned snapshot "
        "(53.9 GB that the worker downloads for black-forest-labs/FLUX.1-schnell into the volume's Hugging Face "
        "cache; 65 GB with headroom); raise it to at least 65 (a network volume can grow later, never shrink)"
    ]
    endpoint["runpod"]["networkVolume"]["sizeGb"] = 65
    stack.write_text(yaml.safe_dump(data))
    assert build_plan("visgate-static", REPO_ROOT, stack, state=export(tmp_path, schnell())).errors == []


def test_a_large_snapshot_on_a_modal_app_file_without_a_cache_volume_warns(tmp_path):
    # The dev stack's Modal embedder, its cache volume removed: the snapshot must fit the container's disk.
    data = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    data["config"]["modelstack:models"]["embedder"]["endpoint"]["modal"] = {"volumes": {}}
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(yaml.safe_dump(data))
    sha = "cc012e0a6d0787b4adcc0fa2c4da74402494554d"
    files = [{"path": f"model-{i:05d}-of-00012.safetensors", "size": 10 * 2**30} for i in range(12)]
    # dev's source asks for main; the state's pin records the commit main resolved to
    state = export(tmp_path, {"key": "embedder", "repoId": "sentence-transformers/all-MiniLM-L6-v2", "revision": "main",
                              "sha": sha, "pins": {"main": sha}, "files": files, "vramGb": 14.0,
                              "effectiveTask": "feature-extraction"})
    plan = build_plan("dev", REPO_ROOT, stack, state=state)
    assert plan.status == "warning"
    assert plan.warnings == [
        "modelstack:models.embedder.endpoint: the pinned snapshot of sentence-transformers/all-MiniLM-L6-v2 is 120.0 GB "
        "(149 GB with headroom), more than the 100 GB of disk Modal guarantees a container; unless your app file keeps "
        "the Hugging Face cache on a volume (as the default app file does at /cache), set ephemeral_disk= in it"
    ]


def test_the_pin_policy_names_the_sha_the_state_pins(tmp_path):
    state = export(tmp_path, {"key": "flux", "repoId": "black-forest-labs/FLUX.1-schnell", "revision": "main",
                              "sha": MAIN_SHA, "pins": {"main": MAIN_SHA}, "files": [], "vramGb": 43.4})
    plan = build_plan("dev", REPO_ROOT, state=state)
    messages = [v.message for v in plan.policy.violations if v.policy == "models-pinned-to-a-commit"]  # type: ignore[union-attr]
    assert (
        "modelstack-model-flux-pin loads revision 'main' (revision), not a 40-character commit sha, so the model can "
        "change under a running deploy; pin it with source: hf://black-forest-labs/FLUX.1-schnell@"
        f"{MAIN_SHA} (the commit this stack's state pins for it)"
    ) in messages
    # the embedder is not in that state: the command that finds its sha instead
    assert any("modelstack-model-embedder-pin" in m and "model_info('sentence-transformers/all-MiniLM-L6-v2'" in m for m in messages)


@pytest.mark.subprocess
def test_the_command_the_policy_prints_finds_the_sha(tmp_path, monkeypatch):
    hub = FakeHub({}).start()
    try:
        hub.add_repo("org/tiny")
        sha = hub.commit("org/tiny", model_repo(seed=3))
        plan = build_plan("dev", REPO_ROOT)
        message = next(v.message for v in plan.policy.violations if v.name == "modelstack-model-flux-pin")  # type: ignore[union-attr]
        command = re.search(r'python -c "(.+?)" \(', message)
        assert command is not None, message
        code = command.group(1).replace("black-forest-labs/FLUX.1-schnell", "org/tiny")
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp_path)}
        env.pop("HF_TOKEN", None)
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == sha
    finally:
        hub.stop()


def test_a_file_that_is_not_an_export_is_a_usage_error(tmp_path):
    bad = tmp_path / "state.json"
    bad.write_text(json.dumps({"resources": []}))
    with pytest.raises(StateError, match="is not a `pulumi stack export` file"):
        load_state(bad)
    from components.plan import main

    assert main(["--stack", "dev", "--state", str(bad)]) == 2
