"""The dev stack under Pulumi mocks pins its models, sizes a GPU with `auto` and mirrors one model.

`wire_model_supply` is the wiring the platform needs (the lead moves it into components/platform.py):
one HuggingFaceModel per model, a GpuSizing where `minVramGb: auto`, an S3Bucket per `kind: s3`
bucket and a ModelMirror per model with a `mirror:` option. The stack file is the committed
Pulumi.dev.yaml with flux switched to `auto` and an R2 bucket added.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.config import S3Bucket as S3BucketConfig
from components.config import StackConfig, load_stack_config, physical_bucket_name
from components.gpu.sizing import GpuSizing
from components.offline import REPO_ROOT, SECRET_PLACEHOLDER, load_stack_file, run_program
from components.providers.huggingface import HuggingFaceModel
from components.providers.mirror import ModelMirror, hub_source
from components.providers.s3 import S3Bucket

MODEL = "pulumi-python:dynamic/huggingface:Model"
SIZING = "pulumi-python:dynamic/gpu:Sizing"
BUCKET = "pulumi-python:dynamic/s3:Bucket"
MIRROR = "pulumi-python:dynamic/s3:ModelMirror"


def wire_model_supply(config: StackConfig, mirrors: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What Platform would do for models and S3 buckets; `mirrors` stands in for `models.<key>.mirror`."""
    cfg = config.modelstack
    buckets: dict[str, S3Bucket] = {}
    for key, spec in cfg.buckets.items():
        if isinstance(spec, S3BucketConfig):
            force = spec.force_destroy if spec.force_destroy is not None else not config.protected
            buckets[key] = S3Bucket(
                f"modelstack-bucket-{key}",
                {
                    "bucket_name": physical_bucket_name(config.project, config.stack, key, spec),
                    "endpoint": spec.endpoint,
                    "region": spec.region,
                    "credential": spec.credential,
                    "versioning": spec.versioning,
                    "expire_days": spec.expire_days,
                    "cors": spec.cors,
                    "force_destroy": force,
                },
                opts=pulumi.ResourceOptions(protect=config.protected),
            )
    models, gpu_ids, mirrored = {}, {}, {}
    for key, model in cfg.models.items():
        pinned = HuggingFaceModel(f"modelstack-model-{key}", {"source": model.source, "task": model.task})
        models[key] = pinned
        endpoint = model.endpoint
        if endpoint is not None and endpoint.gpu.min_vram_gb == "auto":
            sizing = GpuSizing(
                f"modelstack-model-{key}-gpus",
                {
                    "provider": endpoint.provider,
                    "need_gb": pinned.vram_gb,
                    "count": endpoint.gpu.count,
                    "model": pinned.repo_id,
                    "basis": pinned.vram_basis,
                },
                opts=pulumi.ResourceOptions(parent=pinned),
            )
            gpu_ids[key] = sizing.gpu_ids
        if key in mirrors:
            bucket_key = mirrors[key]["bucket"]
            spec = cfg.buckets[bucket_key]
            assert isinstance(spec, S3BucketConfig)
            mirrored[key] = ModelMirror(
                f"modelstack-model-{key}-mirror",
                {
                    "bucket": buckets[bucket_key].bucket_name,
                    "endpoint": spec.endpoint,
                    "region": spec.region,
                    "credential": spec.credential,
                    "source": hub_source(pinned),
                    "include": list(mirrors[key].get("include", [])),
                },
                opts=pulumi.ResourceOptions(parent=pinned),
            )
    pulumi.export("models", {k: m.pinned_source for k, m in models.items()})
    pulumi.export("modelMirrors", {k: m.manifest_uri for k, m in mirrored.items()})
    return {"models": models, "gpu_ids": gpu_ids, "mirrors": mirrored, "buckets": buckets}


def dev_with_auto_and_r2(tmp_path: Path) -> Path:
    data = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    config = data["config"]
    config["modelstack:models"]["flux"]["endpoint"]["gpu"] = {"minVramGb": "auto"}
    config["modelstack:buckets"]["models"] = {
        "kind": "s3",
        "endpoint": "https://acct.r2.cloudflarestorage.com",
        "credential": "r2",
        "expireDays": 365,
    }
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_dev_stack_pins_sizes_and_mirrors_under_mocks(tmp_path: Path) -> None:
    stack_file = load_stack_file("dev", path=dev_with_auto_and_r2(tmp_path))
    assert "credentials.s3.r2" in stack_file.placeholders  # never committed, filled for the plan
    run = run_program(
        "dev",
        stack_file=stack_file,
        program=lambda: wire_model_supply(load_stack_config(), {"flux": {"bucket": "models", "include": ["*.json", "*.safetensors"]}}),
    )

    models = {r.name: r for r in run.of_type(MODEL)}
    assert set(models) == {"modelstack-model-flux", "modelstack-model-embedder"}
    flux = models["modelstack-model-flux"]
    assert flux.value("source") == "hf://black-forest-labs/FLUX.1-schnell"
    assert (flux.value("repoId"), flux.value("revision"), flux.value("task")) == (
        "black-forest-labs/FLUX.1-schnell", "main", "text-to-image",
    )  # fmt: skip
    assert models["modelstack-model-embedder"].value("task") == "feature-extraction"

    # auto sizing hangs off the model it sizes and waits for its pinned need
    (sizing,) = run.of_type(SIZING)
    assert sizing.name == "modelstack-model-flux-gpus" and sizing.parent == flux.urn
    assert (sizing.value("provider"), sizing.value("count"), sizing.value("model")) == ("runpod", 1, "black-forest-labs/FLUX.1-schnell")
    assert flux.urn in sizing.depends_on
    # the embedder names its GPU (type: T4): no sizing resource for it

    (bucket,) = run.of_type(BUCKET)
    assert bucket.value("bucketName") == "acme-ml-dev-dev-models"  # <gcp project>-<stack>-<key>
    assert (bucket.value("endpoint"), bucket.value("credential"), bucket.value("expireDays")) == (
        "https://acct.r2.cloudflarestorage.com", "r2", 365,
    )  # fmt: skip
    assert bucket.value("forceDestroy") is True and bucket.protect is False  # dev

    (mirror,) = run.of_type(MIRROR)
    assert mirror.parent == flux.urn
    assert {bucket.urn, flux.urn} <= set(mirror.depends_on)
    assert mirror.value("bucket") == "acme-ml-dev-dev-models"  # <gcp project>-<stack>-<key>
    assert mirror.value("include") == ["*.json", "*.safetensors"]
    source = mirror.value("source")
    assert (source["kind"], source["repoId"]) == ("hf", "black-forest-labs/FLUX.1-schnell")

    # credentials are named, never carried: no registration holds a key or a token
    for registration in run.resources:
        if registration.type in (MODEL, SIZING, BUCKET, MIRROR):
            flat = repr({k: v for k, v in registration.inputs.items() if k != "__provider"})
            assert SECRET_PLACEHOLDER not in flat
            assert not {"accessKeyId", "secretAccessKey", "hfToken", "token"} & set(registration.inputs)
    assert set(run.outputs["models"].value) == {"flux", "embedder"}
