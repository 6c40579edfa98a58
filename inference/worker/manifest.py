"""Snapshots mirrored to a bucket: read the manifest, download its files, verify every byte.

The ModelMirror resource copies a pinned Hugging Face snapshot into an S3-compatible bucket:

    s3://<bucket>/models/<org>/<name>/<sha>/manifest.json
    s3://<bucket>/models/<org>/<name>/<sha>/<path>          one object per file, next to it

    manifest.json = {"version": 1, "repo": "org/name", "revision": "<40-hex sha>",
                     "files": [{"path": "config.json", "size": 1234, "sha256": "<64 hex>"}, ...]}

The worker downloads into `<cache>/<org>/<name>/<sha>/`, checking size and SHA-256 of each file
before moving it into place, and writes the manifest there last: a directory with a matching
manifest is complete and verified, so a worker on a persistent volume skips the download.
S3 endpoint and keys come from boto3's usual variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_REGION), which R2, Wasabi and MinIO accept too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


class ManifestError(ValueError):
    """The manifest is malformed, does not match the pinned model, or a file fails verification."""


@dataclass(frozen=True)
class ManifestFile:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    repo: str
    revision: str
    files: tuple[ManifestFile, ...]

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ManifestError("manifest is not JSON") from None
        if not isinstance(data, dict):
            raise ManifestError("manifest must be a JSON object")
        version = data.get("version", 1)
        if version != 1:
            raise ManifestError(f"manifest version {version!r} is not supported (expected 1)")
        repo, revision, files = data.get("repo"), data.get("revision"), data.get("files")
        if not isinstance(repo, str) or not _REPO.match(repo):
            raise ManifestError("manifest repo must be a Hugging Face repo id like org/name")
        if not isinstance(revision, str) or not _SHA1.match(revision):
            raise ManifestError("manifest revision must be a 40-character commit sha")
        if not isinstance(files, list) or not files:
            raise ManifestError("manifest files must be a non-empty list")
        parsed = [_parse_file(i, entry) for i, entry in enumerate(files)]
        paths = [f.path for f in parsed]
        if len(set(paths)) != len(paths):
            raise ManifestError("manifest lists a file twice")
        return cls(repo=repo, revision=revision, files=tuple(parsed))

    def to_json(self) -> str:
        files = [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files]
        return json.dumps({"version": 1, "repo": self.repo, "revision": self.revision, "files": files}, indent=2)


def _parse_file(index: int, entry: Any) -> ManifestFile:
    where = f"manifest files[{index}]"
    if not isinstance(entry, dict):
        raise ManifestError(f"{where} must be an object with path, size and sha256")
    path, size, digest = entry.get("path"), entry.get("size"), entry.get("sha256")
    if not isinstance(path, str) or not path:
        raise ManifestError(f"{where}.path must be a non-empty string")
    pure = PurePosixPath(path)
    # The paths come from a bucket: never let one escape the snapshot directory.
    if pure.is_absolute() or ".." in pure.parts or "\\" in path or path.startswith("."):
        raise ManifestError(f"{where}.path {path!r} must be a relative path inside the snapshot")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"{where}.size must be a non-negative integer")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise ManifestError(f"{where}.sha256 must be 64 lowercase hex characters")
    return ManifestFile(path=path, size=size, sha256=digest)


def split_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise ManifestError(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    if not bucket or not key:
        raise ManifestError(f"s3 URL needs a bucket and a key: {url!r}")
    return bucket, key


def sha256_of(path: Path, block: int = 8 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _s3_client() -> Any:
    import boto3
    from botocore.config import Config

    # boto3 reads AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION itself.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "auto"
    config = Config(retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=10, read_timeout=60)
    return boto3.client("s3", region_name=region, config=config)


def fetch_snapshot(
    manifest_url: str,
    cache_root: Path,
    expected_repo: str | None = None,
    expected_revision: str | None = None,
    client: Any = None,
    threads: int = 8,
) -> Path:
    """Download (or reuse) the mirrored snapshot the manifest describes; return its directory."""
    bucket, key = split_s3_url(manifest_url)
    client = client or _s3_client()
    prefix = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
    raw = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    manifest = Manifest.parse(raw)
    if expected_repo and manifest.repo != expected_repo:
        raise ManifestError(f"manifest is for {manifest.repo}, but the worker is pinned to {expected_repo}")
    if expected_revision and manifest.revision != expected_revision:
        raise ManifestError(
            f"manifest is for revision {manifest.revision}, but the worker is pinned to {expected_revision}"
        )

    dest = cache_root / manifest.repo / manifest.revision
    marker = dest / MANIFEST_NAME
    if marker.is_file() and marker.read_text() == manifest.to_json():
        log.info("snapshot %s@%s already verified in the cache", manifest.repo, manifest.revision[:12])
        return dest
    dest.mkdir(parents=True, exist_ok=True)

    def fetch(entry: ManifestFile) -> None:
        target = dest / entry.path
        if target.is_file() and target.stat().st_size == entry.size and sha256_of(target) == entry.sha256:
            return  # left by an earlier, interrupted download
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        client.download_file(bucket, prefix + entry.path, str(partial))
        size = partial.stat().st_size
        if size != entry.size:
            partial.unlink(missing_ok=True)
            raise ManifestError(f"{entry.path}: downloaded {size} bytes, manifest says {entry.size}")
        digest = sha256_of(partial)
        if digest != entry.sha256:
            partial.unlink(missing_ok=True)
            raise ManifestError(f"{entry.path}: sha256 {digest[:16]}... does not match the manifest's {entry.sha256[:16]}...")
        os.replace(partial, target)

    # Largest first, so the long downloads start early and the pool finishes together.
    ordered = sorted(manifest.files, key=lambda f: f.size, reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="manifest-fetch") as pool:
        for _ in pool.map(fetch, ordered):
            pass
    marker.write_text(manifest.to_json())  # last: its presence means every file verified
    log.info("fetched %d files of %s@%s from the bucket", len(manifest.files), manifest.repo, manifest.revision[:12])
    return dest
