"""S3Bucket and ModelMirror through the SDK's own provider server, against moto and the fake Hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from components.providers.mirror import ModelMirrorProvider
from components.providers.s3 import S3BucketProvider
from tests.fakes.checkpoints import model_repo, write_checkpoint
from tests.fakes.hub_server import FakeHub
from tests.s3.conftest import ACCESS_KEY, CREDENTIALS, HF_TOKEN, REGION, SECRET_KEY
from tests.support.dynamic_engine import DynamicEngine, ProviderError

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]
BUCKET = "acme-ml-dev-models"


def test_bucket_and_mirror_lifecycle_through_the_provider_server(hub: FakeHub, s3: Any, endpoint: str, tmp_path: Path) -> None:
    weights = tmp_path / "model.safetensors"
    write_checkpoint(weights, 9 * 2**20)
    hub.add_repo("acme/tiny-lm", pipeline_tag="text-generation")
    sha = hub.commit("acme/tiny-lm", {**model_repo(), "model.safetensors": weights})
    bucket_p, mirror_p = S3BucketProvider(), ModelMirrorProvider()
    bucket_args = {"bucketName": BUCKET, "endpoint": endpoint, "region": REGION, "credential": "default", "versioning": False, "cors": []}
    mirror_args = {
        "bucket": BUCKET, "endpoint": endpoint, "region": REGION, "credential": "default",
        "source": {"kind": "hf", "repoId": "acme/tiny-lm", "sha": sha}, "include": [],
    }  # fmt: skip
    config = {"modelstack:credentials": json.dumps({**CREDENTIALS, "hfToken": HF_TOKEN})}

    with DynamicEngine(config, env={"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1"}) as engine:
        # preview of a new stack: the bucket name and the model's sha are not known yet
        assert engine.preview(bucket_p, {**bucket_args, "bucketName": rpc.UNKNOWN}) is None
        assert engine.preview(mirror_p, {**mirror_args, "bucket": rpc.UNKNOWN, "source": {"kind": "hf", "repoId": "acme/tiny-lm", "sha": rpc.UNKNOWN}}) is None

        bucket = engine.up(bucket_p, bucket_args)
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
        mirror = engine.up(mirror_p, mirror_args)
        prefix = f"models/acme/tiny-lm/{sha}/"
        assert mirror.id == f"s3://{BUCKET}/{prefix}"
        assert mirror.outputs["manifestUri"] == f"s3://{BUCKET}/{prefix}manifest.json"
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "manifest.json")["Body"].read())
        assert manifest["fileCount"] == 4 and manifest["source"]["sha"] == sha

        assert engine.up(mirror_p, mirror_args, mirror) is mirror  # no-op
        assert engine.up(bucket_p, bucket_args, bucket) is bucket

        versioned = engine.up(bucket_p, {**bucket_args, "versioning": True, "expireDays": 14}, bucket)
        assert versioned.id == bucket.id and s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
        bucket = engine.up(bucket_p, bucket_args, versioned)  # rollback
        assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"

        s3.delete_object(Bucket=BUCKET, Key=prefix + "config.json")  # drift
        drifted = engine.refresh(mirror_p, mirror)
        assert drifted is not None and drifted.outputs["intact"] is False
        repaired = engine.up(mirror_p, mirror_args, drifted)
        assert repaired.outputs["intact"] is True and repaired.outputs["copiedFiles"] == 1
        assert s3.head_object(Bucket=BUCKET, Key=prefix + "config.json")["ContentLength"] > 0

        # the bucket still holds the mirror: destroy refuses, and says how to proceed
        with pytest.raises(ProviderError) as refused:
            engine.destroy(bucket_p, bucket)
        assert "not empty" in refused.value.details and "forceDestroy" in refused.value.details

        engine.destroy(mirror_p, repaired)
        engine.destroy(bucket_p, bucket)
        assert s3.list_buckets()["Buckets"] == []

        for state in (bucket, repaired):
            dumped = json.dumps(rpc_free(state.outputs))
            assert SECRET_KEY not in dumped and ACCESS_KEY not in dumped and HF_TOKEN not in dumped
    log = engine.server_log()
    assert SECRET_KEY not in log and HF_TOKEN not in log


def rpc_free(value: Any) -> Any:
    if rpc.is_rpc_secret(value):
        return rpc_free(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: rpc_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rpc_free(v) for v in value]
    return value
