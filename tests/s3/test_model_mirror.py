"""ModelMirror: fake Hub (or a source bucket) -> moto, through the real clients.

The weight file is 20 MiB, above the 8 MiB multipart threshold, so every copy of it is a real
multipart upload streamed from the HTTP download.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.providers import mirror_copy
from components.providers.mirror import ModelMirrorProvider, bucket_source
from tests.fakes.checkpoints import model_repo, write_checkpoint
from tests.fakes.hub_server import FakeHub
from tests.fakes.provider_config import configured
from tests.s3.conftest import CREDENTIALS, HF_TOKEN, REGION, SECRET_KEY

BUCKET = "acme-ml-dev-models"
REPO = "acme/tiny-lm"
WEIGHTS_MIB = 20


def provider(token: str | None = HF_TOKEN) -> ModelMirrorProvider:
    return configured(ModelMirrorProvider(), {**CREDENTIALS, **({"hfToken": token} if token else {})})


def inputs(endpoint: str, source: dict[str, Any], include: list[str] | None = None) -> dict[str, Any]:
    result = ModelMirrorProvider().check(
        {}, {"bucket": BUCKET, "endpoint": endpoint, "region": REGION, "credential": "default", "source": source, "include": include}
    )
    assert result.failures == []
    return result.inputs


@pytest.fixture
def snapshot(hub: FakeHub, s3: Any, tmp_path: Path) -> dict[str, Any]:
    s3.create_bucket(Bucket=BUCKET)
    weights = tmp_path / "model.safetensors"
    write_checkpoint(weights, WEIGHTS_MIB * 2**20, tensor_bytes=4 * 2**20)
    tree: dict[str, bytes | Path] = {**model_repo(), "model.safetensors": weights}
    hub.add_repo(REPO, pipeline_tag="text-generation", access={HF_TOKEN})
    sha = hub.commit(REPO, tree)
    contents = {p: (v.read_bytes() if isinstance(v, Path) else v) for p, v in tree.items()}
    return {"sha": sha, "contents": contents, "prefix": f"models/{REPO}/{sha}/"}


def hub_source(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "hf", "repoId": REPO, "sha": snapshot["sha"]}


def read_manifest(s3: Any, prefix: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "manifest.json")["Body"].read())


def assert_mirror_matches(s3: Any, prefix: str, contents: dict[str, bytes]) -> dict[str, Any]:
    """Download every file back and recompute its sha256: the manifest must be right about all of them."""
    manifest = read_manifest(s3, prefix)
    assert [e["path"] for e in manifest["files"]] == sorted(contents)
    for entry in manifest["files"]:
        body = s3.get_object(Bucket=BUCKET, Key=prefix + entry["path"])["Body"].read()
        assert body == contents[entry["path"]]
        assert entry["sha256"] == hashlib.sha256(body).hexdigest() == hashlib.sha256(contents[entry["path"]]).hexdigest()
        assert entry["size"] == len(body)
    assert manifest["totalBytes"] == sum(len(b) for b in contents.values())
    assert manifest["fileCount"] == len(contents)
    return manifest


def test_mirror_copies_the_pinned_snapshot_with_a_verified_manifest(hub: FakeHub, s3: Any, endpoint: str, snapshot: dict) -> None:
    p = provider()
    created = p.create(inputs(endpoint, hub_source(snapshot)))
    prefix = snapshot["prefix"]
    outs = created.outs
    assert created.id == f"s3://{BUCKET}/{prefix}"
    assert outs["manifestUri"] == f"s3://{BUCKET}/{prefix}manifest.json"
    assert (outs["copiedFiles"], outs["skippedFiles"], outs["intact"]) == (len(snapshot["contents"]), 0, True)

    manifest = assert_mirror_matches(s3, prefix, snapshot["contents"])
    assert manifest["source"] == {"kind": "hf", "repoId": REPO, "sha": snapshot["sha"]}
    raw = s3.get_object(Bucket=BUCKET, Key=prefix + "manifest.json")["Body"].read()
    assert outs["manifestSha256"] == hashlib.sha256(raw).hexdigest()
    # the weights went up as a multipart upload (ETag "<md5>-<parts>"), streamed, not in one PUT
    etag = s3.head_object(Bucket=BUCKET, Key=prefix + "model.safetensors")["ETag"]
    assert etag.strip('"').endswith(f"-{-(-WEIGHTS_MIB // 8)}")
    # the token went to the Hub, never to the CDN that served the weights
    assert [r.authorized for r in hub.downloads("model.safetensors")] == [False]
    assert all(r.authorized for r in hub.requests if r.path.startswith("/api/"))

    # a re-run skips every file already present with the right hash, without downloading
    before = len([r for r in hub.requests if r.body])
    again = p.update(created.id, outs, inputs(endpoint, hub_source(snapshot))).outs
    assert (again["copiedFiles"], again["skippedFiles"]) == (0, len(snapshot["contents"]))
    assert len([r for r in hub.requests if r.body]) == before
    assert again["manifestSha256"] == outs["manifestSha256"]  # the manifest is deterministic


def test_an_interrupted_copy_resumes_where_it_stopped(hub: FakeHub, s3: Any, endpoint: str, snapshot: dict) -> None:
    # The connection drops 12 MiB into the weights, on the first try and on the in-run retry.
    hub.fail_download(REPO, "model.safetensors", after_bytes=12 * 2**20, times=mirror_copy.FILE_ATTEMPTS)
    p = provider()
    news = inputs(endpoint, hub_source(snapshot))
    with pytest.raises(mirror_copy.MirrorError) as exc:
        p.create(news)
    message = str(exc.value)
    assert f"s3:ModelMirror s3://{BUCKET}/{snapshot['prefix']}: copy model.safetensors" in message
    assert "run pulumi up again to resume" in message and HF_TOKEN not in message
    # no half-finished multipart upload is left to hold storage, and no manifest claims completion
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    prefix = snapshot["prefix"]
    assert prefix + "manifest.json" not in keys
    assert {prefix + "README.md", prefix + "config.json"} <= keys  # copied before the failure
    assert prefix + "model.safetensors" not in keys

    downloads = {path: len(hub.downloads(path)) for path in snapshot["contents"]}
    created = p.create(news)  # the engine retries create after a failed up
    assert created.outs["skippedFiles"] == 2 and created.outs["copiedFiles"] == 2
    assert len(hub.downloads("README.md")) == downloads["README.md"] == 1  # not fetched again
    assert len(hub.downloads("config.json")) == 1
    assert len(hub.downloads("model.safetensors")) == downloads["model.safetensors"] + 1
    assert_mirror_matches(s3, prefix, snapshot["contents"])


def test_a_copy_whose_bytes_do_not_match_the_source_is_removed(s3: Any, endpoint: str) -> None:
    s3.create_bucket(Bucket=BUCKET)

    class LyingSource:
        def describe(self) -> dict[str, Any]:
            return {"kind": "test"}

        def list_files(self) -> list[mirror_copy.SourceFile]:
            return [mirror_copy.SourceFile("w.bin", 5, {"sha256": hashlib.sha256(b"other").hexdigest()})]

        @contextlib.contextmanager
        def open(self, f: mirror_copy.SourceFile) -> Iterator[Iterator[bytes]]:
            yield iter([b"wr", b"ong"])

    dest = mirror_copy.Destination(provider()._dest({"endpoint": endpoint, "region": REGION, "credential": "default", "bucket": BUCKET, "prefix": "m/"}).client, BUCKET, "m/")
    with pytest.raises(mirror_copy.MirrorError, match=r"w\.bin: sha256 \w+ does not match the source.s"):
        mirror_copy.mirror(LyingSource(), dest)
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="m/w.bin")


def test_refresh_finds_drift_and_up_repairs_it(s3: Any, endpoint: str, snapshot: dict) -> None:
    p = provider()
    news = inputs(endpoint, hub_source(snapshot))
    state = p.create(news).outs
    prefix = snapshot["prefix"]
    assert p.read(state["uri"], state).outs["intact"] is True

    s3.delete_object(Bucket=BUCKET, Key=prefix + "tokenizer.json")
    s3.put_object(Bucket=BUCKET, Key=prefix + "config.json", Body=b'{"tampered": true}')
    refreshed = p.read(state["uri"], state)
    assert refreshed.outs["intact"] is False
    assert refreshed.outs["problems"][0].startswith("config.json: changed")
    assert refreshed.outs["problems"][1] == "tokenizer.json: missing"
    assert refreshed.inputs == {k: state[k] for k in refreshed.inputs}

    diff = p.diff(state["uri"], refreshed.outs, news)
    assert diff.changes is True and diff.replaces == []
    repaired = p.update(state["uri"], refreshed.outs, news).outs
    assert (repaired["copiedFiles"], repaired["intact"]) == (2, True)
    assert_mirror_matches(s3, prefix, snapshot["contents"])

    # a mirror deleted wholesale is gone: refresh drops it and the next up copies it again
    mirror_copy.delete_prefix(p._dest(state))
    assert p.read(state["uri"], state).id == ""


def test_include_patterns_update_in_place(hub: FakeHub, s3: Any, endpoint: str, snapshot: dict) -> None:
    p = provider()
    prefix = snapshot["prefix"]
    configs = {k: v for k, v in snapshot["contents"].items() if k.endswith(".json")}
    state = p.create(inputs(endpoint, hub_source(snapshot), include=["*.json"])).outs
    assert_mirror_matches(s3, prefix, configs)

    everything = inputs(endpoint, hub_source(snapshot))
    diff = p.diff(state["uri"], state, everything)
    assert diff.changes and diff.replaces == []
    state = p.update(state["uri"], state, everything).outs
    assert state["skippedFiles"] == len(configs)
    assert_mirror_matches(s3, prefix, snapshot["contents"])

    state = p.update(state["uri"], state, inputs(endpoint, hub_source(snapshot), include=["*.json"])).outs
    assert_mirror_matches(s3, prefix, configs)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    assert not [k for k in keys if "model.safetensors" in k]  # the file and its record were pruned


def test_a_new_sha_is_a_new_mirror_and_delete_removes_only_its_prefix(hub: FakeHub, s3: Any, endpoint: str, snapshot: dict) -> None:
    p = provider()
    first = p.create(inputs(endpoint, hub_source(snapshot, ))).outs
    second_sha = hub.commit(REPO, {"config.json": b'{"v": 2}'})
    news = inputs(endpoint, {"kind": "hf", "repoId": REPO, "sha": second_sha})
    diff = p.diff(first["uri"], first, news)
    assert diff.replaces == ["prefix", "source"] and diff.delete_before_replace is False
    second = p.create(news).outs  # the engine creates the replacement first...
    assert second["prefix"] == f"models/{REPO}/{second_sha}/"
    assert second["skippedFiles"] == 0  # a different prefix: nothing to reuse
    p.delete(first["uri"], first)  # ...then deletes the old one
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=snapshot["prefix"])
    assert read_manifest(s3, second["prefix"])["source"]["sha"] == second_sha

    s3.put_object(Bucket=BUCKET, Key="other/keep.txt", Body=b"x")
    p.delete(second["uri"], second)
    p.delete(second["uri"], second)  # already gone is success
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["other/keep.txt"]


def test_mirror_from_another_bucket(s3: Any, endpoint: str) -> None:
    """A private checkpoint in Wasabi (here: another moto bucket, read with the 'wasabi' credential)."""
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket="captionacc-prod")
    contents = {"config.json": b'{"arch": "boundary"}', "model.safetensors": b"\x08" + bytes(9 * 2**20)}
    for path, body in contents.items():
        s3.put_object(Bucket="captionacc-prod", Key=f"checkpoints/boundaries/v3/{path}", Body=body)
    source = bucket_source(
        endpoint=endpoint, region=REGION, credential="wasabi", bucket="captionacc-prod",
        prefix="checkpoints/boundaries/v3", name="captionacc/boundaries", revision="v3",
    )  # fmt: skip
    news = inputs(endpoint, source)
    assert news["prefix"] == "models/captionacc/boundaries/v3/"
    assert news["source"]["prefix"] == "checkpoints/boundaries/v3/"
    outs = provider().create(news).outs
    assert outs["fileCount"] == 2
    manifest = assert_mirror_matches(s3, news["prefix"], contents)
    assert manifest["source"]["bucket"] == "captionacc-prod" and "credential" not in manifest["source"]
    # switching the credential that reads the source is not a new mirror
    rekeyed = inputs(endpoint, {**source, "credential": "default"})
    assert provider().diff(outs["uri"], outs, rekeyed).replaces == []


def test_gated_source_without_access_fails_with_the_licence_hint(hub: FakeHub, s3: Any, endpoint: str) -> None:
    s3.create_bucket(Bucket=BUCKET)
    hub.add_repo("google/gemma-tiny", gated="manual")
    sha = hub.commit("google/gemma-tiny", model_repo())
    with pytest.raises(Exception, match="accept the licence at") as exc:
        provider(token=None).create(inputs(endpoint, {"kind": "hf", "repoId": "google/gemma-tiny", "sha": sha}))
    assert SECRET_KEY not in str(exc.value)


@pytest.mark.parametrize(
    ("source", "property"),
    [
        ({"kind": "hf", "repoId": REPO, "sha": "main"}, "source.sha"),
        ({"kind": "hf", "repoId": "tiny", "sha": "a" * 40}, "source.repoId"),
        ({"kind": "hf", "repoId": f"{REPO}@v1", "sha": "a" * 40}, "source.repoId"),
        ({"kind": "git"}, "source"),
        ({"kind": "s3", "endpoint": "https://s3.wasabisys.com", "bucket": "b", "name": "a/b", "revision": "v/3"}, "source.revision"),
        ({"kind": "s3", "endpoint": "https://s3.wasabisys.com", "bucket": "b", "name": "a/b"}, "source.revision"),
    ],
)
def test_check_rejects_bad_sources(source: dict[str, Any], property: str) -> None:
    news = {"bucket": BUCKET, "endpoint": "https://acct.r2.cloudflarestorage.com", "source": source}
    assert [f.property for f in ModelMirrorProvider().check({}, news).failures] == [property]


def test_check_tolerates_a_sha_not_known_in_preview() -> None:
    from pulumi.output import Unknown

    news = {"bucket": Unknown(), "endpoint": "https://acct.r2.cloudflarestorage.com", "source": {"kind": "hf", "repoId": REPO, "sha": Unknown()}}
    result = ModelMirrorProvider().check({}, news)
    assert result.failures == [] and isinstance(result.inputs["prefix"], Unknown)


def test_hashing_reader_bounds_what_boto3_buffers() -> None:
    reader = mirror_copy.HashingReader(iter([b"ab", b"cdef", b"g"]), 7, git_sha1=True)
    assert reader.seekable() is False and reader.readable() is True
    assert [reader.read(3), reader.read(3), reader.read(3), reader.read(3)] == [b"abc", b"def", b"g", b""]
    assert reader.sha256.hexdigest() == hashlib.sha256(b"abcdefg").hexdigest()
    assert reader.git is not None and reader.git.hexdigest() == hashlib.sha1(b"blob 7\0abcdefg").hexdigest()
    small, huge = mirror_copy.transfer_config(10 * 2**20), mirror_copy.transfer_config(200 * 2**30)
    assert small.multipart_chunksize == 8 * 2**20
    assert huge.multipart_chunksize * 10_000 >= 200 * 2**30  # stays within S3's part limit
    # at most this many parts are held in memory per file, whatever its size
    assert small.max_in_memory_upload_chunks == mirror_copy.MAX_BUFFERED_PARTS


def test_a_source_with_its_own_root_manifest_is_refused_unless_left_out(hub: FakeHub, s3: Any, endpoint: str) -> None:
    s3.create_bucket(Bucket=BUCKET)
    hub.add_repo("acme/odd")
    sha = hub.commit("acme/odd", {"manifest.json": b"{}", "model.safetensors": model_repo()["model.safetensors"]})
    with pytest.raises(mirror_copy.MirrorError, match=r"has its own manifest\.json at its root"):
        provider().create(inputs(endpoint, {"kind": "hf", "repoId": "acme/odd", "sha": sha}))
    outs = provider().create(inputs(endpoint, {"kind": "hf", "repoId": "acme/odd", "sha": sha}, include=["*.safetensors"])).outs
    assert outs["fileCount"] == 1


def test_mirroring_a_mirror_copies_its_files_not_its_manifest(hub: FakeHub, s3: Any, endpoint: str, snapshot: dict) -> None:
    first = provider().create(inputs(endpoint, hub_source(snapshot))).outs
    source = bucket_source(
        endpoint=endpoint, region=REGION, bucket=BUCKET, prefix=first["prefix"], name="copies/tiny-lm", revision="r1",
    )  # fmt: skip
    copy = provider().create(inputs(endpoint, source)).outs
    assert_mirror_matches(s3, copy["prefix"], snapshot["contents"])
