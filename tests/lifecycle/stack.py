"""The stack the whole-lifecycle test deploys, in two versions, and what each fake holds of it.

v1 has one of every dynamic resource the program makes: a Hub pin and GPU sizing per model, the
container disk, an S3 bucket and a mirror of the Runpod model into it, a Runpod secret per secret
variable, a registry credential, a network volume, a template and an endpoint; a Modal secret,
cache volume and app. v2 is the pull request a team would send: the Runpod model moves to a new
commit, the Modal model to another GPU, an env value and the Modal cache volume change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from components.offline import StackFile
from tests.fakes.checkpoints import model_repo
from tests.fakes.hub_server import FakeHub
from tests.fakes.modal_server import FakeModal
from tests.fakes.runpod_server import FakeRunpod
from tests.modal.s3_store import RecordingMoto, client

STACK = "lifecycle"
LM_REPO = "acme/tiny-lm"
EMBED_REPO = "acme/tiny-embed"
BUCKET = "acme-lifecycle-models"
S3_ACCESS_KEY = "FAKELIFECYCLEKEY0001"
S3_SECRET_KEY = "lifecycle-s3-secret-do-not-print"


def publish_models(hub: FakeHub) -> dict[str, str]:
    """Tiny real checkpoints on the fake Hub: two commits of the LM, one of the embedder."""
    hub.add_repo(LM_REPO, pipeline_tag="text-generation")
    hub.add_repo(EMBED_REPO, pipeline_tag="feature-extraction")
    return {
        "lm_v1": hub.commit(LM_REPO, model_repo(seed=1)),
        "lm_v2": hub.commit(LM_REPO, model_repo(seed=2, layers=3)),
        "embed": hub.commit(EMBED_REPO, model_repo(seed=3)),
    }


def config(version: int, shas: Mapping[str, str], s3_url: str, secrets: Mapping[str, str]) -> dict[str, Any]:
    """The stack file's config, as Pulumi.<stack>.yaml would hold it (secrets decrypted)."""
    v2 = version == 2
    lm_endpoint: dict[str, Any] = {
        "provider": "runpod",
        "gpu": {"minVramGb": "auto"},
        "workers": {"min": 0, "max": 1},
        "env": {"LOG_LEVEL": "debug" if v2 else "info"},
        "secretEnv": {"HF_TOKEN": "credentials.hfToken"},
        "runpod": {"networkVolume": {"sizeGb": 20, "dataCenter": "EU-RO-1"}},
    }
    embed_endpoint: dict[str, Any] = {
        "provider": "modal",
        "gpu": {"type": "L4" if v2 else "T4"},
        "workers": {"min": 0, "max": 1},
        "secretEnv": {"HF_TOKEN": "credentials.hfToken"},
        "modal": {"volumes": {"/cache": {"name": "lifecycle-embed-cache-v2"} if v2 else {}}},
    }
    return {
        "gcp:project": "acme-lifecycle",
        "gcp:region": "us-central1",
        "modelstack:environment": "dev",
        "modelstack:credentials": {
            "runpodApiKey": secrets["runpod"],
            "modalTokenId": secrets["modal_id"],
            "modalTokenSecret": secrets["modal_secret"],
            "hfToken": secrets["hf"],
            "s3": {"default": {"accessKeyId": S3_ACCESS_KEY, "secretAccessKey": S3_SECRET_KEY}},
        },
        "modelstack:buckets": {
            "models": {"kind": "s3", "name": BUCKET, "endpoint": s3_url, "region": "us-east-1", "credential": "default"},
        },
        "modelstack:models": {
            "lm": {
                "source": f"hf://{LM_REPO}@{shas['lm_v2' if v2 else 'lm_v1']}",
                "task": "text-generation",
                "mirror": {"bucket": "models"},
                "endpoint": lm_endpoint,
            },
            "embed": {
                "source": f"hf://{EMBED_REPO}@{shas['embed']}",
                "task": "feature-extraction",
                "endpoint": embed_endpoint,
            },
        },
    }


def stack_file(values: Mapping[str, Any]) -> StackFile:
    """What the CLI hands the program: structured values as JSON, the credentials key secret."""
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    return StackFile(stack=STACK, config=encoded, secret_keys={"modelstack:credentials"})


# --------------------------------------------------------------------------------------------
# what each fake holds, without ids and clocks, so two deploys of one config compare equal
# --------------------------------------------------------------------------------------------

_VOLATILE = {"id", "createdAt", "updatedAt", "templateId", "networkVolumeIds", "networkVolumeId", "version"}


def _without(record: Mapping[str, Any], keys: set[str]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in record.items() if k not in keys}


def runpod_holds(fake: FakeRunpod) -> dict[str, Any]:
    with fake._lock:
        volumes = {v["id"]: v["name"] for v in fake.volumes.values()}
        registries = {r["id"]: r["name"] for r in fake.registries.values()}

        def named(record: Mapping[str, Any]) -> dict[str, Any]:
            """Ids an object refers to, as the names of what they refer to."""
            out = _without(record, _VOLATILE | {"networkVolumes", "registry"})
            if "registry" in record:
                out["registry"] = registries.get(record["registry"], record["registry"])
            if "networkVolumes" in record:
                out["volumes"] = sorted(volumes.get(v, f"gone:{v}") for v in record["networkVolumes"])
            return out

        return {
            # The endpoint holds its container settings inline (the template's at the last apply).
            "endpoints": {e["name"]: named(e) for e in fake.endpoints.values()},
            "templates": {t["name"]: named(t) for t in fake.templates.values()},
            "volumes": {v["name"]: _without(v, _VOLATILE) for v in fake.volumes.values()},
            "secrets": sorted(s["name"] for s in fake.secrets.values()),
            "registries": sorted(r["name"] for r in fake.registries.values()),
        }


def modal_holds(fake: FakeModal) -> dict[str, Any]:
    state = fake.state
    with state.lock:
        volumes = {v.volume_id: v.name for v in state.volumes.values()}
        apps = {}
        for (environment, name), app_id in state.deployed.items():
            app = state.apps[app_id]
            functions = state.deployed_functions(app)
            apps[f"{environment}/{name}"] = {
                tag: {
                    "gpu": [(r.gpu_config.gpu_type, r.gpu_config.count) for r in [fn.definition.resources]],
                    "volumes": sorted(volumes.get(m.volume_id, f"gone:{m.volume_id}") for m in fn.definition.volume_mounts),
                    "timeout": fn.definition.timeout_secs,
                }
                for tag, fn in sorted(functions.items())
            }
        return {
            "apps": apps,
            # Named secrets only: each deploy makes an anonymous one its app owns (and drops on stop).
            "secrets": sorted(f"{s.environment}/{s.name}" for s in state.secrets.values() if s.name),
            "volumes": sorted(f"{v.environment}/{v.name}" for v in state.volumes.values()),
        }


def s3_holds(fake: RecordingMoto) -> dict[str, list[str]]:
    s3 = client(fake.url)
    held = {}
    for bucket in s3.list_buckets()["Buckets"]:
        listing = s3.list_objects_v2(Bucket=bucket["Name"])
        held[bucket["Name"]] = sorted(o["Key"] for o in listing.get("Contents", []))
    return held
