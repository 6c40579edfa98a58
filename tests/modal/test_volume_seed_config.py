"""A Modal volume seeded from one of the stack's S3 buckets: config validation, and what the program
registers for it under mocks (the bucket key resolved to the bucket's name, store and credential)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import ConfigError
from components.offline import REPO_ROOT, load_stack_file, run_program
from tests.foundation.configs import check, mutated

VOLUME = "pulumi-python:dynamic/modal:Volume"
WASABI = {
    "kind": "s3",
    "endpoint": "https://s3.us-east-1.wasabisys.com",
    "region": "us-east-1",
    "credential": "wasabi",
    "name": "captionacc-prod",
}
WASABI_KEYS = {"accessKeyId": "WASABIACCESSKEYSEED01", "secretAccessKey": "wasabi-secret-key-seed-never-shown"}
PATH = "modelstack:models.boundaries.endpoint.modal.volumes./models"


def _boundaries(volume: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": "hf://google/vit-base-patch16-224",
        "task": "custom",
        "endpoint": {
            "provider": "modal",
            "gpu": {"type": "A10G"},
            "env": {"MODELSTACK_CUSTOM_CLASS": "boundaries.model:Boundaries"},  # task custom on our worker
            "modal": {"volumes": {"/models": volume}},
        },
    }


def _with(volume: dict[str, Any], **buckets: Any) -> dict[str, Any]:
    def change(raw: dict[str, Any]) -> None:
        raw["credentials"]["s3"] = {"wasabi": dict(WASABI_KEYS)}
        raw["buckets"] = {**raw["buckets"], "wasabi": WASABI, **buckets}
        raw["models"]["boundaries"] = _boundaries(volume)

    return mutated(change)


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        check(raw)
    return info.value.problems


def test_a_bucket_seed_names_a_bucket_key():
    config = check(_with({"seedBucket": "wasabi", "seedPrefix": "models/caption_boundaries/", "seedPath": "/checkpoints"}))
    endpoint = config.modelstack.models["boundaries"].endpoint
    assert endpoint is not None and endpoint.modal is not None
    volume = endpoint.modal.volumes["/models"]
    assert (volume.seed_bucket, volume.seed_prefix, volume.seed_path, volume.seed_dir) == (
        "wasabi", "models/caption_boundaries/", "/checkpoints", None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("volume", "problem"),
    [
        ({"seedBucket": "nope"}, f"{PATH}.seedBucket: 'nope' is not a kind: s3 bucket of this stack (s3 buckets: wasabi); declare it under modelstack:buckets"),
        ({"seedBucket": "artifacts"}, f"{PATH}.seedBucket: 'artifacts' is not a kind: s3 bucket of this stack (s3 buckets: wasabi); declare it under modelstack:buckets"),
        ({"seedBucket": "wasabi", "seedDir": "inference"}, f"{PATH}.seedBucket: cannot be combined with seedDir; seed the volume from a bucket or from a directory of this repository, not both"),
        ({"seedPrefix": "models/"}, f"{PATH}.seedPrefix: only applies with seedBucket; add seedBucket or remove seedPrefix"),
        ({"seedBucket": "wasabi", "seedPrefix": "/models/x/"}, f"{PATH}.seedPrefix: object keys do not start with '/'; write 'models/x/'"),
        ({"seedBucket": "wasabi", "seedBuckett": "x"}, f"{PATH}.seedBuckett: unknown key; remove it or fix its spelling (allowed: name, seedDir, seedBucket, seedPrefix, seedPath, modelCache)"),
    ],
)
def test_a_wrong_bucket_seed_is_one_exact_problem(volume: dict[str, Any], problem: str):
    assert _problems(_with(volume)) == [problem]


def test_the_seed_buckets_credential_must_be_set():
    raw = _with({"seedBucket": "wasabi"})
    del raw["credentials"]["s3"]
    assert _problems(raw) == [
        "modelstack:buckets.wasabi.credential: S3 credential 'wasabi' is not set; set credentials.s3.wasabi.accessKeyId "
        "and .secretAccessKey with pulumi config set --secret --path (or export MODELSTACK_S3_WASABI_ACCESS_KEY_ID and "
        "MODELSTACK_S3_WASABI_SECRET_ACCESS_KEY)"
    ]


# --------------------------------------------------------------------------------------------
# the whole program under mocks


def _stack_file(tmp_path: Path) -> Any:
    """Pulumi.dev.yaml plus the caption-boundaries service: a Wasabi bucket seeding its model volume,
    and a second volume seeded from the whole of the dev stack's own R2 bucket (name derived)."""
    data = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    config = data["config"]
    config["modelstack:buckets"]["wasabi"] = WASABI
    boundaries = _boundaries({"seedBucket": "wasabi", "seedPrefix": "models/caption_boundaries/", "seedPath": "/checkpoints"})
    boundaries["endpoint"]["modal"]["volumes"]["/weights"] = {"seedBucket": "models"}
    config["modelstack:models"]["boundaries"] = boundaries
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    stack_file = load_stack_file("dev", path=path)
    # As `pulumi config set --secret --path credentials.s3.wasabi...` would hold them.
    credentials = json.loads(stack_file.config["modelstack:credentials"])
    credentials["s3"]["wasabi"] = dict(WASABI_KEYS)
    stack_file.config["modelstack:credentials"] = json.dumps(credentials)
    assert "modelstack:credentials" in stack_file.secret_keys
    return stack_file


def test_the_program_registers_volumes_seeded_from_the_resolved_buckets(tmp_path: Path):
    run = run_program("dev", stack_file=_stack_file(tmp_path))
    volumes = {r.name: r for r in run.of_type(VOLUME) if r.name.startswith("modelstack-endpoint-boundaries-")}
    assert set(volumes) == {"modelstack-endpoint-boundaries-volume-models", "modelstack-endpoint-boundaries-volume-weights"}

    models = volumes["modelstack-endpoint-boundaries-volume-models"]
    assert {k: models.value(k) for k in ("seedBucket", "seedEndpoint", "seedRegion", "seedCredential", "seedPrefix", "seedPath", "seedDir")} == {
        "seedBucket": "captionacc-prod",
        "seedEndpoint": "https://s3.us-east-1.wasabisys.com",
        "seedRegion": "us-east-1",
        "seedCredential": "wasabi",
        "seedPrefix": "models/caption_boundaries/",
        "seedPath": "/checkpoints",
        "seedDir": "",
    }
    weights = volumes["modelstack-endpoint-boundaries-volume-weights"]
    assert (weights.value("seedBucket"), weights.value("seedCredential"), weights.value("seedRegion"), weights.value("seedPrefix")) == (
        "acme-ml-dev-dev-models", "r2", "auto", "",
    )  # fmt: skip
    assert weights.value("seedEndpoint").endswith(".r2.cloudflarestorage.com")

    # The volume names the credential; its keys reach no resource at all.
    for r in run.resources:
        for secret in WASABI_KEYS.values():
            assert secret not in repr(r.inputs), r.name
    # Volumes without a seed are registered as before: no bucket fields set.
    cache = run.named("modelstack-endpoint-embedder-volume-cache")
    assert {cache.value(k) for k in ("seedBucket", "seedEndpoint", "seedRegion", "seedCredential", "seedPrefix")} == {""}
