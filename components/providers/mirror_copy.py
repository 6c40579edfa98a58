"""Copy a pinned model snapshot into an S3-compatible bucket, resumably, with a sha256 manifest.

Layout under the destination prefix `models/<org>/<name>/<sha>/`:

    <path as in the repo>                  the files, byte for byte
    manifest.json                          written last: every file's path, size and sha256
    .modelstack/progress/<path>.json       one completion record per copied file

(`manifest.json` at the prefix root is the contract with the worker: inference/contract.py's
MODELSTACK_MODEL_MANIFEST. A snapshot that has its own root `manifest.json` cannot be mirrored.)

How it stays cheap and safe:
- Streaming: each file goes from the source's HTTP/S3 stream through a hashing reader straight
  into boto3's managed transfer (multipart above 8 MiB, parts uploaded in parallel). Memory is
  bounded by the in-flight parts (`MAX_BUFFERED_PARTS` x part size), never the file.
- Verified: the bytes' sha256 is computed on the way through and checked against what the
  source promises (the Hub's LFS sha256, or the git blob id of small files; a source bucket's
  object is read with If-Match on its listed ETag). A mismatch deletes the copy and fails.
- Resumable: a completion record is written after each file. A re-run (after a crash, a
  dropped connection or a failed `pulumi up`) skips every file whose record matches the source and
  whose object still has the recorded size and ETag, aborts multipart uploads left behind by a
  killed run, and copies the rest. The unit of resumption is the file: a file interrupted midway
  is copied again from its start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from components.providers import hf_hub, s3_client

FORMAT = "modelstack-mirror/1"
STATE_DIR = ".modelstack/"
MANIFEST = "manifest.json"
PROGRESS = STATE_DIR + "progress/"
MIN_PART = 8 * 2**20
MAX_PARTS = 9_000  # S3 allows 10,000; keep a margin
MAX_BUFFERED_PARTS = 6
CONCURRENCY = 8
READ_CHUNK = 2**20
FILE_ATTEMPTS = 2
"""A file whose stream breaks is retried once within a run before the run fails (and resumes later)."""


class MirrorError(Exception):
    """The mirror could not be completed; the message names the file and what went wrong."""


def prefix_for(repo_id: str, sha: str) -> str:
    return f"models/{repo_id}/{sha}/"


@dataclass(frozen=True)
class SourceFile:
    path: str
    size: int
    expect: dict[str, str]
    """What the source promises about the bytes: {"sha256"}, {"gitSha1"} or {"etag"}."""


class Source(Protocol):
    def describe(self) -> dict[str, Any]: ...
    def list_files(self) -> list[SourceFile]: ...
    def open(self, f: SourceFile) -> contextlib.AbstractContextManager[Iterator[bytes]]: ...


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------


@dataclass
class HubSource:
    """A pinned commit of a Hub model repo; the token comes from the provider's configure()."""

    repo_id: str
    sha: str
    token: str | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        return {"kind": "hf", "repoId": self.repo_id, "sha": self.sha}

    def list_files(self) -> list[SourceFile]:
        snapshot = hf_hub.fetch_snapshot(self.repo_id, self.sha, self.token, "mirror: list files")
        hf_hub.check_access(snapshot, self.token)
        files = []
        for f in snapshot.files:
            if f.sha256:
                expect = {"sha256": f.sha256}
            elif f.blob_id:
                expect = {"gitSha1": f.blob_id}
            else:
                expect = {}
            files.append(SourceFile(f.path, f.size, expect))
        return files

    @contextlib.contextmanager
    def open(self, f: SourceFile) -> Iterator[Iterator[bytes]]:
        import httpx2
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        url = hf_hub_url(self.repo_id, f.path, revision=self.sha, endpoint=hf_hub.hub_endpoint())
        headers = build_hf_headers(token=self.token or False, library_name="modelstack")
        timeout = httpx2.Timeout(hf_hub.TIMEOUT_S * 2, connect=10.0)
        stack = contextlib.ExitStack()
        try:
            # The client follows the Hub's redirect to its CDN and drops the token on the way.
            response = stack.enter_context(
                get_session().stream("GET", url, headers=headers, timeout=timeout, follow_redirects=True)
            )
            hf_raise_for_status(response)
        except Exception as exc:
            stack.close()
            if isinstance(exc, (httpx2.TransportError, OSError)):
                raise _StreamBrokenError(f"download of {f.path} failed: {type(exc).__name__}: {exc}") from None
            error = hf_hub.describe_hub_error(exc, self.repo_id, f"mirror: download {f.path}", self.token)
            raise MirrorError(str(error)) from None
        with stack:
            yield _guarded(response.iter_bytes(READ_CHUNK), f.path, (httpx2.HTTPError, OSError))


@dataclass
class BucketSource:
    """Objects under a prefix of another bucket (a private checkpoint in Wasabi or R2)."""

    client: Any = field(repr=False)
    bucket: str
    prefix: str
    label: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"kind": "s3", "bucket": self.bucket, "prefix": self.prefix, **self.label}

    def list_files(self) -> list[SourceFile]:
        files = []
        is_mirror = False
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", []):
                    path = obj["Key"][len(self.prefix) :]
                    if path.startswith(STATE_DIR):
                        is_mirror = True
                    if not path or path.endswith("/") or path.startswith(STATE_DIR):
                        continue
                    files.append(SourceFile(path, int(obj["Size"]), {"etag": obj["ETag"]}))
        except Exception as exc:
            raise MirrorError(str(s3_client.describe(exc, f"mirror: list s3://{self.bucket}/{self.prefix}"))) from None
        if is_mirror:  # copying another modelstack mirror: its manifest is rewritten, not copied
            files = [f for f in files if f.path != MANIFEST]
        if not files:
            raise MirrorError(f"mirror: s3://{self.bucket}/{self.prefix} holds no objects to mirror")
        return files

    @contextlib.contextmanager
    def open(self, f: SourceFile) -> Iterator[Iterator[bytes]]:
        key = self.prefix + f.path
        try:
            # If-Match: the object must still be the one listed, or the copy would mix versions.
            body = self.client.get_object(Bucket=self.bucket, Key=key, IfMatch=f.expect["etag"])["Body"]
        except Exception as exc:
            raise MirrorError(str(s3_client.describe(exc, f"mirror: read s3://{self.bucket}/{key}"))) from None
        from botocore.exceptions import BotoCoreError

        with contextlib.closing(body):
            yield _guarded(body.iter_chunks(READ_CHUNK), key, (BotoCoreError, OSError))


class _StreamBrokenError(MirrorError):
    """The source stream ended early or failed midway: worth one more attempt."""


def _guarded(chunks: Iterator[bytes], what: str, errors: tuple[type[BaseException], ...]) -> Iterator[bytes]:
    """Re-raise a transport error while streaming as _StreamBrokenError (through boto3, unchanged)."""
    try:
        yield from chunks
    except errors as exc:
        raise _StreamBrokenError(f"stream of {what} broke after it started: {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------------------------
# streaming with hashes
# --------------------------------------------------------------------------------------------


class HashingReader:
    """A non-seekable file object over byte chunks that hashes what passes through.

    boto3 reads it sequentially, `part size` bytes at a time, so the hashes see the bytes in order.
    """

    def __init__(self, chunks: Iterator[bytes], size: int, git_sha1: bool):
        self._chunks = chunks
        self._pending = b""
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.git = hashlib.sha1(f"blob {size}\0".encode()) if git_sha1 else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, amount: int = -1) -> bytes:
        parts = [self._pending] if self._pending else []
        have = len(self._pending)
        self._pending = b""
        while amount < 0 or have < amount:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        if 0 <= amount < len(data):
            data, self._pending = data[:amount], data[amount:]
        self.size += len(data)
        self.sha256.update(data)
        if self.git is not None:
            self.git.update(data)
        return data


def transfer_config(size: int) -> Any:
    from boto3.s3.transfer import TransferConfig

    part = max(MIN_PART, math.ceil(size / MAX_PARTS / 2**20) * 2**20)
    config = TransferConfig(
        multipart_threshold=MIN_PART,
        multipart_chunksize=part,
        max_concurrency=CONCURRENCY,
        use_threads=True,
    )
    # Bounds memory for a non-seekable stream: boto3 buffers this many parts at most.
    config.max_in_memory_upload_chunks = MAX_BUFFERED_PARTS
    return config


# --------------------------------------------------------------------------------------------
# the mirror
# --------------------------------------------------------------------------------------------


@dataclass
class Destination:
    client: Any = field(repr=False)
    bucket: str
    prefix: str

    def key(self, path: str) -> str:
        return self.prefix + path

    @property
    def manifest_key(self) -> str:
        return self.prefix + MANIFEST

    @property
    def manifest_uri(self) -> str:
        return f"s3://{self.bucket}/{self.manifest_key}"

    def what(self, operation: str) -> str:
        return f"s3:ModelMirror s3://{self.bucket}/{self.prefix}: {operation}"


@dataclass
class MirrorResult:
    manifest: dict[str, Any]
    manifest_sha256: str
    copied: list[str]
    skipped: list[str]
    removed: list[str]


def _listing(dest: Destination) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for page in dest.client.get_paginator("list_objects_v2").paginate(Bucket=dest.bucket, Prefix=dest.prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = (int(obj["Size"]), obj["ETag"])
    return found


def _get_json(dest: Destination, key: str) -> dict[str, Any] | None:
    try:
        body = dest.client.get_object(Bucket=dest.bucket, Key=key)["Body"]
        with contextlib.closing(body):
            return json.loads(body.read())
    except Exception as exc:
        if s3_client.is_not_found(exc):
            return None
        if isinstance(exc, ValueError):
            return None  # a torn record is no record: the file is copied again
        raise


def _put_json(dest: Destination, key: str, value: Mapping[str, Any]) -> bytes:
    data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
    dest.client.put_object(Bucket=dest.bucket, Key=key, Body=data, ContentType="application/json")
    return data


def mirror(
    source: Source,
    dest: Destination,
    include: Sequence[str] = (),
    on_file: Callable[[str, str], None] | None = None,
) -> MirrorResult:
    """Copy the source's files (those matching `include`, all when empty) and write the manifest."""
    files = [f for f in source.list_files() if hf_hub.matches_any(f.path, include)]
    if not files:
        raise MirrorError(dest.what(f"no source file matches include {list(include)}"))
    if any(f.path == MANIFEST for f in files):
        raise MirrorError(
            dest.what(
                f"the source has its own {MANIFEST} at its root, where the mirror writes its manifest; "
                "leave it out with include patterns that do not match it (e.g. ['*.safetensors', '*/*', 'config.json'])"
            )
        )
    try:
        existing = _listing(dest)
        _abort_unfinished_uploads(dest)
    except Exception as exc:
        raise MirrorError(str(s3_client.describe(exc, dest.what("list destination")))) from None

    copied, skipped, entries = [], [], []
    for f in sorted(files, key=lambda f: f.path):
        record_key = dest.key(PROGRESS + f.path + ".json")
        record = _get_json(dest, record_key) if record_key in existing else None
        current = existing.get(dest.key(f.path))
        if (
            record is not None
            and record.get("source") == f.expect
            and record.get("size") == f.size
            and current == (f.size, record.get("etag"))
        ):
            skipped.append(f.path)
        else:
            record = _copy_file(source, dest, f)
            _put_json(dest, record_key, record)
            copied.append(f.path)
        if on_file:
            on_file(f.path, "skipped" if f.path in skipped else "copied")
        entries.append({"path": f.path, "size": f.size, "sha256": record["sha256"], "etag": record["etag"]})

    wanted = {dest.key(f.path) for f in files} | {dest.key(PROGRESS + f.path + ".json") for f in files}
    removed = _prune(dest, existing, wanted)
    manifest = {
        "format": FORMAT,
        "source": source.describe(),
        "prefix": dest.prefix,
        "include": list(include),
        "fileCount": len(entries),
        "totalBytes": sum(e["size"] for e in entries),
        "files": entries,
    }
    try:
        data = _put_json(dest, dest.manifest_key, manifest)
    except Exception as exc:
        raise MirrorError(str(s3_client.describe(exc, dest.what("write manifest")))) from None
    return MirrorResult(manifest, hashlib.sha256(data).hexdigest(), copied, skipped, removed)


def _copy_file(source: Source, dest: Destination, f: SourceFile) -> dict[str, Any]:
    key = dest.key(f.path)
    for attempt in range(FILE_ATTEMPTS):
        try:
            with source.open(f) as chunks:
                reader = HashingReader(chunks, f.size, git_sha1="gitSha1" in f.expect)
                # upload_fileobj aborts its multipart upload itself when the stream raises.
                dest.client.upload_fileobj(
                    reader, dest.bucket, key, Config=transfer_config(f.size), ExtraArgs={"ContentType": "application/octet-stream"}
                )
            break
        except _StreamBrokenError as exc:
            if attempt == FILE_ATTEMPTS - 1:
                raise MirrorError(dest.what(f"copy {f.path}: {exc}; run pulumi up again to resume")) from None
        except MirrorError:
            raise
        except Exception as exc:
            raise MirrorError(str(s3_client.describe(exc, dest.what(f"upload {f.path}")))) from None
    problem = None
    sha256 = reader.sha256.hexdigest()
    if reader.size != f.size:
        problem = f"got {reader.size} bytes, the source listed {f.size}"
    elif "sha256" in f.expect and sha256 != f.expect["sha256"]:
        problem = f"sha256 {sha256} does not match the source's {f.expect['sha256']}"
    elif reader.git is not None and reader.git.hexdigest() != f.expect["gitSha1"]:
        problem = f"git blob id {reader.git.hexdigest()} does not match the source's {f.expect['gitSha1']}"
    if problem:
        with contextlib.suppress(Exception):
            dest.client.delete_object(Bucket=dest.bucket, Key=key)
        raise MirrorError(dest.what(f"copy {f.path}: {problem}; the partial copy was removed"))
    try:
        etag = dest.client.head_object(Bucket=dest.bucket, Key=key)["ETag"]
    except Exception as exc:
        raise MirrorError(str(s3_client.describe(exc, dest.what(f"check {f.path}")))) from None
    return {"path": f.path, "size": f.size, "sha256": sha256, "etag": etag, "source": f.expect}


def _abort_unfinished_uploads(dest: Destination) -> None:
    """Multipart uploads a killed run left under the prefix hold storage and are never completed."""
    for page in dest.client.get_paginator("list_multipart_uploads").paginate(Bucket=dest.bucket, Prefix=dest.prefix):
        for upload in page.get("Uploads", []):
            dest.client.abort_multipart_upload(Bucket=dest.bucket, Key=upload["Key"], UploadId=upload["UploadId"])


def _prune(dest: Destination, existing: Mapping[str, tuple[int, str]], wanted: set[str]) -> list[str]:
    """Remove files (and their records) no longer part of the mirror, e.g. after `include` shrank."""
    stale = [k for k in existing if k not in wanted and k != dest.manifest_key]
    for i in range(0, len(stale), 1000):
        dest.client.delete_objects(
            Bucket=dest.bucket, Delete={"Objects": [{"Key": k} for k in stale[i : i + 1000]], "Quiet": True}
        )
    return [k[len(dest.prefix) :] for k in stale]


# --------------------------------------------------------------------------------------------
# verification and removal
# --------------------------------------------------------------------------------------------


@dataclass
class Verification:
    manifest: dict[str, Any] | None
    manifest_sha256: str | None
    problems: list[str]
    objects: int


def verify(dest: Destination) -> Verification:
    """Compare the destination with its manifest: one listing, no downloads."""
    existing = _listing(dest)
    try:
        body = dest.client.get_object(Bucket=dest.bucket, Key=dest.manifest_key)["Body"]
        with contextlib.closing(body):
            raw = body.read()
    except Exception as exc:
        if not s3_client.is_not_found(exc):
            raise
        problems = ["manifest missing"] if existing else []
        return Verification(None, None, problems, len(existing))
    manifest = json.loads(raw)
    problems = []
    for entry in manifest.get("files", []):
        found = existing.get(dest.key(entry["path"]))
        if found is None:
            problems.append(f"{entry['path']}: missing")
        elif found != (entry["size"], entry["etag"]):
            problems.append(f"{entry['path']}: changed (size {found[0]}, etag {found[1]})")
    return Verification(manifest, hashlib.sha256(raw).hexdigest(), problems, len(existing))


def delete_prefix(dest: Destination) -> int:
    """Delete the mirror: every object under the prefix and any unfinished upload."""
    try:
        existing = _listing(dest)
        _abort_unfinished_uploads(dest)
    except Exception as exc:
        if s3_client.is_not_found(exc):
            return 0  # the bucket is gone, and the mirror with it
        raise
    keys = sorted(existing)
    for i in range(0, len(keys), 1000):
        dest.client.delete_objects(
            Bucket=dest.bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
        )
    return len(keys)
