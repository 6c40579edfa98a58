"""The pieces of a bucket seed: listing, streaming one object, batching, and what counts as drift."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.providers import s3_client
from components.providers.modal import bucket_seed
from components.providers.modal.bucket_seed import BucketSeed, SeedError
from tests.modal import s3_store
from tests.modal.s3_store import ACCESS_KEY, SECRET_KEY, RecordingMoto

BUCKET = "seed-source"
CREDENTIALS = {"s3": {"wasabi": {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY}}}


def _seed(store: RecordingMoto, prefix: str = "ckpt/") -> BucketSeed:
    return BucketSeed(bucket=BUCKET, endpoint=store.url, region="us-east-1", credential="wasabi", prefix=prefix)


def _client(store: RecordingMoto) -> Any:
    return s3_client.client(store.url, "us-east-1", "wasabi", CREDENTIALS)


def test_the_listing_is_one_paginated_list_of_the_prefix(store: RecordingMoto, monkeypatch):
    monkeypatch.setattr(bucket_seed, "LIST_PAGE", 2)  # S3 pages at 1000 keys; fewer keeps the test quick
    s3 = s3_store.client(store.url)
    s3.create_bucket(Bucket=BUCKET)
    for i in range(5):
        s3.put_object(Bucket=BUCKET, Key=f"ckpt/shard-{i:04d}.bin", Body=b"x" * i)
    s3.put_object(Bucket=BUCKET, Key="ckpt/", Body=b"")  # folder marker
    s3.put_object(Bucket=BUCKET, Key="ckpt2/nope.bin", Body=b"n")
    store.clear()

    listing = bucket_seed.list_objects(_client(store), _seed(store), [])
    assert listing is not None and sorted(listing) == [f"shard-{i:04d}.bin" for i in range(5)]
    assert listing["shard-0002.bin"]["size"] == 2 and listing["shard-0002.bin"]["etag"].startswith('"')
    assert store.operations() == [("ListObjectsV2", "")] * 3  # 6 keys (with the marker), 2 a page

    assert bucket_seed.list_objects(_client(store), BucketSeed("gone", store.url, "auto", "wasabi", ""), [], missing_ok=True) is None
    with pytest.raises(SeedError, match="NoSuchBucket"):
        bucket_seed.list_objects(_client(store), BucketSeed("gone", store.url, "auto", "wasabi", ""), [])


def test_keys_that_are_no_file_path_are_refused(store: RecordingMoto):
    s3 = s3_store.client(store.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="ckpt/a/../../etc/passwd", Body=b"x")
    with pytest.raises(SeedError, match=r"cannot be a file in the volume"):
        bucket_seed.list_objects(_client(store), _seed(store), [])


def test_an_object_overwritten_after_the_listing_is_not_copied(store: RecordingMoto, tmp_path: Path):
    s3 = s3_store.client(store.url)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="ckpt/model.pt", Body=b"first")
    listing = bucket_seed.list_objects(_client(store), _seed(store), [])
    assert listing is not None
    s3.put_object(Bucket=BUCKET, Key="ckpt/model.pt", Body=b"second, longer")
    with pytest.raises(SeedError, match="changed after it was listed"):
        bucket_seed.download(_client(store), _seed(store), "model.pt", listing["model.pt"], tmp_path / "f", [])


class _Body:
    """A streamed response body that makes fresh bytes for every chunk, as a socket read does."""

    def __init__(self, chunks: int, chunk_size: int, short_by: int = 0):
        self.chunks, self.chunk_size, self.short_by = chunks, chunk_size, short_by

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        assert size <= self.chunk_size * 4, "reads must stay small"
        for i in range(self.chunks):
            n = self.chunk_size - (self.short_by if i == self.chunks - 1 else 0)
            yield os.urandom(n)

    def close(self) -> None:
        pass


class _Store:
    def __init__(self, body: _Body):
        self.body = body
        self.requests: list[dict[str, Any]] = []

    def get_object(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return {"Body": self.body}


def test_an_object_streams_to_disk_without_being_held_in_memory(tmp_path: Path):
    chunk, chunks = 1 << 20, 48
    s3 = _Store(_Body(chunks, chunk))
    entry = {"size": chunk * chunks, "etag": '"abc"'}
    dest = tmp_path / "model.pt"
    tracemalloc.start()
    try:
        bucket_seed.download(s3, BucketSeed("b", "https://s3.example", "auto", "default", "p/"), "model.pt", entry, dest, [])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert dest.stat().st_size == chunk * chunks
    assert peak < 6 * chunk, f"peak {peak} bytes for a {chunk * chunks}-byte object"
    assert s3.requests == [{"Bucket": "b", "Key": "p/model.pt", "IfMatch": '"abc"'}]

    short = _Store(_Body(2, chunk, short_by=10))
    with pytest.raises(SeedError, match=f"got {2 * chunk - 10} bytes, the listing said {2 * chunk}"):
        bucket_seed.download(short, BucketSeed("b", "https://s3.example", "auto", "default", "p/"), "x", {"size": 2 * chunk, "etag": ""}, dest, [])


def test_batches_bound_temporary_disk_but_always_take_one_object():
    listing = {"a": {"size": 6, "etag": ""}, "b": {"size": 3, "etag": ""}, "c": {"size": 20, "etag": ""}, "d": {"size": 1, "etag": ""}}
    assert list(bucket_seed.batches(sorted(listing), listing, limit=10)) == [["a", "b"], ["c"], ["d"]]
    assert list(bucket_seed.batches([], listing, limit=10)) == []


def test_what_is_sent_and_what_counts_as_drift():
    recorded = {"same": {"size": 1, "etag": "e1"}, "edited": {"size": 2, "etag": "e2"}, "gone": {"size": 3, "etag": "e3"}}
    listing = {"same": {"size": 1, "etag": "e1"}, "edited": {"size": 2, "etag": "e2b"}, "new": {"size": 4, "etag": "e4"}}
    assert bucket_seed.to_send(listing, recorded, {"same": 1, "edited": 2}) == ["edited", "new"]
    assert bucket_seed.to_send(listing, recorded, {"edited": 2}) == ["edited", "new", "same"]  # lost from the volume
    assert bucket_seed.to_send(listing, recorded, None) == ["edited", "new"]
    assert bucket_seed.to_send(listing, {}, {"same": 1}) == ["edited", "new", "same"]

    seed = BucketSeed("b", "https://s3.example", "auto", "default", "p/")
    assert bucket_seed.drift(recorded, dict(recorded), {"same": 1, "edited": 2, "gone": 3}, seed) == []
    assert bucket_seed.drift(recorded, listing, {"same": 1, "edited": 2, "gone": 99}, seed) == [
        "edited: changed in s3://b/p/", "gone: removed from s3://b/p/", "gone: 99 bytes in the volume, not 3",
        "new: new in s3://b/p/",
    ]  # fmt: skip
    assert bucket_seed.drift(recorded, None, {"same": 1, "edited": 2, "gone": 3}, seed) == ["s3://b/p/: the bucket is gone"]
    # sizes come back from state as floats
    assert bucket_seed.recorded_listing({"x": {"size": 5.0, "etag": "e"}}) == {"x": {"size": 5, "etag": "e"}}
