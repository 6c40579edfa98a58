"""A whole stack through preview, up, change, rollback, drift, refresh and destroy, on the fakes.

The real program (`__main__.py`) runs for the stack in `stack.py`; every dynamic resource goes
through the SDK's own provider server to the fake Hub, Runpod, Modal and moto, and state is kept
between steps by `StackEngine` as the engine keeps it. Each step checks what the vendors were
asked (their request logs) and what they hold afterwards.

`MODELSTACK_LIFECYCLE_TABLE=<file>` writes the step -> vendor calls -> holdings table to that file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from components.offline import unwrap
from tests.lifecycle import stack as st
from tests.lifecycle.conftest import HF_TOKEN, Fakes
from tests.support.dynamic_engine import DynamicEngine
from tests.support.stack_engine import StackEngine, key_of

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]

DYNAMIC_TYPES = {
    "huggingface:Model", "gpu:Sizing", "gpu:Disk", "s3:Bucket", "s3:ModelMirror", "runpod:Secret",
    "runpod:RegistryAuth", "runpod:NetworkVolume", "runpod:Template", "runpod:Endpoint", "modal:Secret",
    "modal:Volume", "modal:App",
}  # fmt: skip
ENDPOINT = key_of("pulumi-python:dynamic/runpod:Endpoint", "modelstack-endpoint-lm-endpoint")
TEMPLATE = key_of("pulumi-python:dynamic/runpod:Template", "modelstack-endpoint-lm-template")
NETWORK_VOLUME = key_of("pulumi-python:dynamic/runpod:NetworkVolume", "modelstack-endpoint-lm-volume")
REGISTRY = key_of("pulumi-python:dynamic/runpod:RegistryAuth", "modelstack-endpoint-lm-registry")
HF_SECRET = key_of("pulumi-python:dynamic/runpod:Secret", "modelstack-endpoint-lm-secret-hf-token")
LM_PIN = key_of("pulumi-python:dynamic/huggingface:Model", "modelstack-model-lm-pin")
MIRROR = key_of("pulumi-python:dynamic/s3:ModelMirror", "modelstack-model-lm-mirror")
APP = key_of("pulumi-python:dynamic/modal:App", "modelstack-endpoint-embed-app")
MODAL_VOLUME = key_of("pulumi-python:dynamic/modal:Volume", "modelstack-endpoint-embed-volume-cache")
APP_NAME = "modelstack-lifecycle-embed"
# Ids an in-place update keeps: a rollback must not re-create these.
KEPT_IDS = (ENDPOINT, TEMPLATE, NETWORK_VOLUME, REGISTRY, APP, MODAL_VOLUME)


def vendor_calls(fakes: Fakes) -> dict[str, Counter[str]]:
    """What each vendor was asked since the logs were last reset, by operation."""
    return {
        "hub": Counter(_hub_operation(r.method, r.path) for r in fakes.hub.requests),
        "runpod": Counter(r.operation for r in fakes.runpod.requests),
        "modal": Counter(c.method for c in fakes.modal.calls),
        "s3": Counter(r.operation for r in fakes.s3.requests),
    }


def _hub_operation(method: str, path: str) -> str:
    """`GET api/models/.../tree` style: the Hub API's route, not the repo or file it was for."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[:2] == ["api", "models"]:
        # api/models/<org>/<name>[/<route>/<revision>...]
        return f"{method} api/models" + (f"/{parts[4]}" if len(parts) > 4 else "")
    if "resolve" in parts:
        return f"{method} resolve (file)"
    return f"{method} LFS blob"


def holdings(fakes: Fakes) -> dict[str, Any]:
    return {"runpod": st.runpod_holds(fakes.runpod), "modal": st.modal_holds(fakes.modal), "s3": st.s3_holds(fakes.s3)}


class Table:
    """The note's table: step -> vendor calls -> what each fake holds."""

    def __init__(self) -> None:
        self.rows: list[str] = ["| step | vendor calls | Runpod holds | Modal holds | S3 holds |", "|---|---|---|---|---|"]

    def add(self, step: str, fakes: Fakes) -> None:
        calls = vendor_calls(fakes)
        said = "; ".join(
            f"{vendor}: " + ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(ops.items()))
            for vendor, ops in calls.items() if ops
        ) or "none"  # fmt: skip
        held = holdings(fakes)
        runpod = held["runpod"]
        modal = held["modal"]
        rp = (f"{len(runpod['endpoints'])} endpoint, {len(runpod['templates'])} template, {len(runpod['volumes'])} volume, "
              f"{len(runpod['secrets'])} secrets, {len(runpod['registries'])} registry auth")
        apps = ", ".join(
            f"{name} {tag} ({fn['gpu'][0][0] or 'no GPU'}; volumes: {', '.join(fn['volumes']) or 'none'})"
            for name, fns in modal["apps"].items() for tag, fn in fns.items()
        )  # fmt: skip
        md = f"apps: {apps or 'none'}; {len(modal['secrets'])} secret, {len(modal['volumes'])} volume"
        s3 = ", ".join(f"{bucket}: {len(keys)} objects" for bucket, keys in held["s3"].items()) or "none"
        self.rows.append(f"| {step} | {said} | {rp} | {md} | {s3} |")
        fakes.reset_logs()

    def write(self) -> None:
        target = os.environ.get("MODELSTACK_LIFECYCLE_TABLE")
        if target:
            Path(target).write_text("\n".join(self.rows) + "\n")


def _modal_cli(fakes: Fakes, *args: str, cwd: Path) -> None:
    """`modal ...` as a person runs it in a shell, against the fake."""
    env = {**os.environ, **fakes.env(), "MODAL_TOKEN_ID": fakes.modal.token_id, "MODAL_TOKEN_SECRET": fakes.modal.token_secret}
    done = subprocess.run([sys.executable, "-m", "modal", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def _ids(engine: StackEngine) -> dict[str, str]:
    return {key: engine.state[key].id for key in KEPT_IDS}


def test_a_whole_stack_previews_applies_rolls_back_corrects_drift_and_destroys(fakes: Fakes, tmp_path: Path) -> None:
    shas = st.publish_models(fakes.hub)
    secrets = {"runpod": fakes.runpod.api_key, "modal_id": fakes.modal.token_id, "modal_secret": fakes.modal.token_secret, "hf": HF_TOKEN}
    v1 = st.stack_file(st.config(1, shas, fakes.s3.url, secrets))
    v2 = st.stack_file(st.config(2, shas, fakes.s3.url, secrets))
    table = Table()

    with DynamicEngine(v1.config, env=fakes.env()) as provider_server:
        stack = StackEngine(provider_server)

        # -- up v1: one of every dynamic resource, each on its vendor ----------------------------
        made = stack.up(v1)
        assert {k.split("::")[0] for k in made.created} >= DYNAMIC_TYPES
        assert {e.type.removeprefix("pulumi-python:dynamic/") for e in stack.state.values() if e.dynamic} == DYNAMIC_TYPES
        v1_holds, v1_ids = holdings(fakes), _ids(stack)
        runpod = v1_holds["runpod"]
        (endpoint,) = runpod["endpoints"].values()
        (template_name,) = runpod["templates"]
        (volume_name,) = runpod["volumes"]
        assert endpoint["image"] == runpod["templates"][template_name]["image"] and endpoint["volumes"] == [volume_name]
        assert endpoint["registry"] == runpod["registries"][0]
        assert runpod["volumes"][volume_name]["dataCenter"] == "EU-RO-1" and endpoint["dataCenterIds"] == ["EU-RO-1"]
        assert len(runpod["secrets"]) == 3 and len(runpod["registries"]) == 1  # HF token, S3 key pair
        assert runpod["templates"][template_name]["env"]["LOG_LEVEL"] == "info"
        assert v1_holds["modal"]["apps"][f"main/{APP_NAME}"]["Model.*"]["gpu"] == [("T4", 1)]
        assert v1_holds["modal"]["apps"][f"main/{APP_NAME}"]["Model.*"]["volumes"] == [f"{APP_NAME}-cache"]
        prefix = f"models/{st.LM_REPO}/{shas['lm_v1']}/"
        assert f"{prefix}manifest.json" in v1_holds["s3"][st.BUCKET]
        table.add("`up` v1 (new stack)", fakes)

        # -- a preview of the same config: nothing to do, and no vendor is asked anything --------
        same = stack.preview(v1)
        assert same.count == 0, (same.created, same.updated, same.replaced, same.deleted)
        assert all(not ops for ops in vendor_calls(fakes).values()), vendor_calls(fakes)
        table.add("`preview` v1 again", fakes)

        # -- the pull request's preview shows each change, still without a vendor call ----------
        planned = stack.preview(v2)
        assert set(planned.updated) == {LM_PIN, TEMPLATE, APP, MODAL_VOLUME}, planned.updated
        assert "gpu" in planned.updated[APP] and planned.updated[MODAL_VOLUME] == ["name"]
        assert all(not ops for ops in vendor_calls(fakes).values())
        table.add("`preview` v2", fakes)

        # -- up v2 ------------------------------------------------------------------------------
        moved = stack.up(v2)
        assert moved.replaced == [MIRROR] and not moved.created and not moved.deleted
        assert {LM_PIN, TEMPLATE, ENDPOINT, APP, MODAL_VOLUME} <= set(moved.updated)
        v2_holds = holdings(fakes)
        v2_template = v2_holds["runpod"]["templates"][template_name]
        assert v2_template["env"]["LOG_LEVEL"] == "debug"
        assert shas["lm_v2"] in json.dumps(v2_template["env"])
        assert v2_holds["modal"]["apps"][f"main/{APP_NAME}"]["Model.*"] == {
            **v1_holds["modal"]["apps"][f"main/{APP_NAME}"]["Model.*"], "gpu": [("L4", 1)], "volumes": ["lifecycle-embed-cache-v2"],
        }  # fmt: skip
        # the mirror of the new commit replaced the old one's objects
        assert all(key.startswith(f"models/{st.LM_REPO}/{shas['lm_v2']}/") for key in v2_holds["s3"][st.BUCKET])
        assert _ids(stack) == v1_ids
        table.add("`up` v2 (model commit, GPU, env, volume)", fakes)

        # -- rollback: up v1 again restores what v1 made, in place where the APIs allow ----------
        stack.up(v1)
        assert holdings(fakes) == v1_holds
        assert _ids(stack) == v1_ids
        table.add("`up` v1 again (rollback)", fakes)

        # -- drift behind the stack's back --------------------------------------------------------
        with fakes.runpod._lock:  # endpoint edited in the console
            live = fakes.runpod.endpoints[stack.state[ENDPOINT].id]
            live["workers"] = {**live["workers"], "max": 4}
            # an object deleted in the console
            del fakes.runpod.secrets[stack.state[HF_SECRET].id]
        st.client(fakes.s3.url).delete_object(Bucket=st.BUCKET, Key=f"{prefix}config.json")
        hand_app = tmp_path / "hand.py"  # the app redeployed by hand from a laptop
        hand_app.write_text("import modal\n\napp = modal.App()\n\n\n@app.function()\ndef hello() -> str:\n    return 'hi'\n")
        _modal_cli(fakes, "deploy", str(hand_app), "--name", APP_NAME, "--env", "main", cwd=tmp_path)
        fakes.reset_logs()

        drift = stack.refresh()
        assert drift.gone == [HF_SECRET]
        assert set(drift.changed) == {ENDPOINT, MIRROR, APP}, drift.changed
        assert "workersMax" in drift.changed[ENDPOINT] and "intact" in drift.changed[MIRROR]
        assert {"version", "sourceHash"} <= set(drift.changed[APP])
        table.add("drift, then `refresh`", fakes)

        corrected = stack.up(v1)
        assert corrected.created == [HF_SECRET] and {ENDPOINT, MIRROR, APP} <= set(corrected.updated)
        assert holdings(fakes) == v1_holds
        assert stack.refresh().count == 0
        table.add("`up` after refresh (corrects it)", fakes)

        # -- the app stopped in the dashboard: refresh drops it, up deploys it again ------------
        _modal_cli(fakes, "app", "stop", APP_NAME, "--env", "main", "--yes", cwd=tmp_path)
        fakes.reset_logs()
        stopped = stack.refresh()
        assert stopped.gone == [APP] and not stopped.changed
        restarted = stack.up(v1)
        assert restarted.created == [APP] and restarted.count == 1
        assert holdings(fakes) == v1_holds
        table.add("app stopped, `refresh`, `up`", fakes)

        # -- nothing in state or the provider's log holds a secret's value ------------------------
        dumped = json.dumps({k: unwrap(e.outputs) | unwrap(e.inputs) for k, e in stack.state.items() if not _is_secret_holder(e.type)}, default=str)
        for value in (*secrets.values(), st.S3_SECRET_KEY):
            assert value not in dumped and value not in provider_server.server_log()

        # -- destroy leaves nothing on any vendor ---------------------------------------------------
        stack.destroy()
        assert stack.state == {}
        held = holdings(fakes)
        assert held == {
            "runpod": {"endpoints": {}, "templates": {}, "volumes": {}, "secrets": [], "registries": []},
            "modal": {"apps": {}, "secrets": [], "volumes": []},
            "s3": {},
        }
        assert fakes.modal.state.secrets == {}
        table.add("`destroy`", fakes)
    table.write()


def _is_secret_holder(typ: str) -> bool:
    """Secret resources hold the value as a secret output, as the engine stores it (encrypted)."""
    return typ.endswith(("runpod:Secret", "modal:Secret", "runpod:RegistryAuth"))
