"""Snapshots mirrored to a bucket: moto's S3 server on 127.0.0.1, through real boto3."""

import hashlib
import json

import boto3
import pytest

from inference import env
from inference.worker.core import Worker
from inference.worker.manifest import Manifest, ManifestError, fetch_snapshot
from tests.worker.conftest import free_port

SHA = "1234567890abcdef1234567890abcdef12345678"
BUCKET = "artifacts"
PREFIX = f"models/org/tiny/{SHA}/"


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    # boto3 reads these itself; the worker passes no credentials around.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    client = boto3.client("s3")
    existing = {b["Name"] for b in client.list_buckets()["Buckets"]}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return client


def mirror(client, model_dir, corrupt: str | None = None, repo="org/tiny", revision=SHA) -> str:
    """Upload a snapshot the way the ModelMirror resource lays it out; return the manifest URL."""
    files = []
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        data = path.read_bytes()
        files.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        client.put_object(Bucket=BUCKET, Key=PREFIX + rel, Body=b"tampered" + data if rel == corrupt else data)
    manifest = {"version": 1, "repo": repo, "revision": revision, "files": files}
    client.put_object(Bucket=BUCKET, Key=PREFIX + "manifest.json", Body=json.dumps(manifest).encode())
    return f"s3://{BUCKET}/{PREFIX}manifest.json"


def test_fetch_verifies_and_then_reuses_the_cache(s3, llama_dir, tmp_path):
    url = mirror(s3, llama_dir)
    dest = fetch_snapshot(url, tmp_path, "org/tiny", SHA)
    assert dest == tmp_path / "org/tiny" / SHA
    for path in llama_dir.iterdir():
        assert (dest / path.name).read_bytes() == path.read_bytes()
    assert not list(dest.rglob("*.partial"))
    # The verified copy is reused: with the objects gone only the manifest is read.
    for path in llama_dir.iterdir():
        s3.delete_object(Bucket=BUCKET, Key=PREFIX + path.name)
    assert fetch_snapshot(url, tmp_path, "org/tiny", SHA) == dest


def test_corrupted_object_is_rejected_and_not_kept(s3, llama_dir, tmp_path):
    url = mirror(s3, llama_dir, corrupt="config.json")
    with pytest.raises(ManifestError, match=r"config\.json: downloaded"):
        fetch_snapshot(url, tmp_path)
    dest = tmp_path / "org/tiny" / SHA
    assert not (dest / "config.json").exists() and not (dest / "manifest.json").exists()


def test_same_size_tampering_fails_the_hash(s3, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "config.json").write_text('{"a": 1}')
    url = mirror(s3, source)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "config.json", Body=b'{"a": 2}')
    with pytest.raises(ManifestError, match=r"sha256 \S+ does not match"):
        fetch_snapshot(url, tmp_path / "cache")


def test_manifest_for_another_revision_is_refused(s3, llama_dir, tmp_path):
    url = mirror(s3, llama_dir)
    with pytest.raises(ManifestError, match="pinned to"):
        fetch_snapshot(url, tmp_path, "org/tiny", "f" * 40)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"repo": "org/x", "revision": SHA, "files": [{"path": "../x", "size": 1, "sha256": "0" * 64}]}, "inside the snapshot"),
        ({"repo": "org/x", "revision": SHA, "files": [{"path": "/etc/x", "size": 1, "sha256": "0" * 64}]}, "inside the snapshot"),
        ({"repo": "org/x", "revision": SHA, "files": [{"path": "a", "size": -1, "sha256": "0" * 64}]}, "size"),
        ({"repo": "org/x", "revision": SHA, "files": [{"path": "a", "size": 1, "sha256": "xyz"}]}, "sha256"),
        ({"repo": "org/x", "revision": "main", "files": [{"path": "a", "size": 1, "sha256": "0" * 64}]}, "commit sha"),
        ({"repo": "org/x", "revision": SHA, "files": []}, "non-empty"),
        ({"version": 2, "repo": "org/x", "revision": SHA, "files": []}, "version"),
    ],
)
def test_malformed_manifests_are_rejected(manifest, message):
    with pytest.raises(ManifestError, match=message):
        Manifest.parse(json.dumps(manifest).encode())


def test_worker_serves_a_model_from_the_bucket(s3, llama_dir, tmp_path):
    url = mirror(s3, llama_dir)
    worker = Worker.from_env(
        {
            env.MODEL_TASK: "text-generation",
            env.MODEL_ID: "org/tiny",
            env.MODEL_REVISION: SHA,
            env.MODEL_MANIFEST: url,
            env.HF_HOME: str(tmp_path / "hf"),
            env.DEVICE: "cpu",
        }
    )
    out = worker.predict({"inputs": "the cat", "parameters": {"max_new_tokens": 2}})
    assert isinstance(out["generated_text"], str) and worker.loader == "fast"
    assert (tmp_path / "hf" / "modelstack" / "org/tiny" / SHA / "manifest.json").is_file()
