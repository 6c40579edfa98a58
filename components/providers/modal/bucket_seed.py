"""Seeding a Modal volume from an S3-compatible bucket (Wasabi, R2, MinIO, AWS): listing and copying.

The seed's content identity is the bucket's listing under the prefix: every object's relative name,
size and ETag, read with one paginated LIST. That listing is *recorded in state* (`seedObjects`)
when create or update copies it, and compared again only where the engine allows I/O:

- `check` and `diff` never touch the bucket, so `pulumi preview` stays offline and a no-op
  `pulumi up` makes no S3 and no Modal call. They only see the seed's *settings* (bucket, endpoint,
  prefix, path); changing one of those syncs the volume.
- `read` (`pulumi refresh`, `pulumi up --refresh`) lists the bucket and the volume and reports
  every difference from the record in `seedDrift`; a non-empty `seedDrift` makes the next `up` an
  update that copies only the objects that changed or are missing and removes the ones the bucket
  no longer has.

So a new checkpoint uploaded to the bucket reaches the volume with `pulumi up --refresh`, and a
plain `pulumi up` never re-reads a bucket it has no reason to. (The alternative, a `seedRevision`
label the user bumps, would let a plain `up` act but only when someone remembers to bump it, and
would leave refresh unable to say what the bucket holds.) Objects travel one at a time from a
streamed GET (If-Match on the listed ETag, so a half-overwritten object is never copied) into a
temporary file, which Modal's batch upload hashes and sends; memory stays bounded by the read chunk
and temporary disk by `BATCH_BYTES` (one object at least).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from components.providers import s3_client

READ_CHUNK = 1 << 20
LIST_PAGE = 1000
"""Keys per LIST page (S3's maximum)."""
BATCH_BYTES = 4 << 30
"""Temporary disk one upload batch may use; each batch is committed to the volume on its own."""
MAX_OBJECTS = 10_000
"""The listing lives in state: a seed is a checkpoint or a model folder, not a data lake."""

Listing = dict[str, dict[str, Any]]
"""Relative name under the prefix -> {"size": bytes, "etag": the store's ETag}."""


class SeedError(Exception):
    """Listing or copying the seed failed; the message names the object and never a key."""


@dataclass(frozen=True)
class BucketSeed:
    """Where a volume's seed objects come from. `credential` names a pair; it holds no key."""

    bucket: str
    endpoint: str
    region: str
    credential: str
    prefix: str

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> BucketSeed | None:
        if not props.get("seedBucket"):
            return None
        return cls(
            bucket=str(props["seedBucket"]),
            endpoint=str(props.get("seedEndpoint") or ""),
            region=str(props.get("seedRegion") or "auto"),
            credential=str(props.get("seedCredential") or "default"),
            prefix=str(props.get("seedPrefix") or ""),
        )

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def same_objects_as(self, other: BucketSeed | None) -> bool:
        """Whether a listing recorded from `other` names the same objects (the credential does not matter)."""
        return other is not None and (self.endpoint, self.bucket, self.prefix) == (other.endpoint, other.bucket, other.prefix)


def recorded_listing(value: Any) -> Listing:
    """A listing as it comes back from state: numbers arrive as floats there."""
    if not isinstance(value, Mapping):
        return {}
    return {
        str(rel): {"size": int(entry.get("size") or 0), "etag": str(entry.get("etag") or "")}
        for rel, entry in value.items()
        if isinstance(entry, Mapping)
    }


def normalise_prefix(prefix: str) -> str:
    """A folder-like prefix: `models/x` means `models/x/`, so `models/x2/...` is never included."""
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def _relative(key: str, prefix: str) -> str | None:
    """The volume-relative name of `key`, None for a folder marker; SeedError if it is no file path."""
    rel = key[len(prefix) :]
    if not rel or rel.endswith("/"):
        return None
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise SeedError(f"object {key!r} cannot be a file in the volume (empty, '.' or '..' path segment); rename it")
    return PurePosixPath(*parts).as_posix()


def list_objects(s3: Any, seed: BucketSeed, secrets: list[str], missing_ok: bool = False) -> Listing | None:
    """One paginated LIST of the objects under the prefix; None if the bucket is gone and `missing_ok`."""
    listing: Listing = {}
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=seed.bucket, Prefix=seed.prefix, PaginationConfig={"PageSize": LIST_PAGE}
        )
        for page in pages:
            for obj in page.get("Contents", []):
                rel = _relative(obj["Key"], seed.prefix)
                if rel is not None:
                    listing[rel] = {"size": int(obj["Size"]), "etag": str(obj.get("ETag", ""))}
            if len(listing) > MAX_OBJECTS:
                raise SeedError(
                    f"{seed.uri} holds more than {MAX_OBJECTS} objects; seed a narrower prefix "
                    "(a volume seed is meant for checkpoints and model folders)"
                )
    except SeedError:
        raise
    except Exception as exc:
        if missing_ok and s3_client.error_code(exc) == "NoSuchBucket":
            return None
        raise SeedError(str(s3_client.describe(exc, f"list {seed.uri}", secrets))) from None
    return listing


def require_objects(listing: Listing, seed: BucketSeed) -> None:
    if not listing:
        raise SeedError(f"{seed.uri} holds no objects to seed the volume with; check seedBucket and seedPrefix")


def download(s3: Any, seed: BucketSeed, rel: str, entry: Mapping[str, Any], dest: Path, secrets: list[str]) -> None:
    """Stream one object into `dest`, chunk by chunk; it must still be the object that was listed."""
    key = seed.prefix + rel
    what = f"read s3://{seed.bucket}/{key}"
    try:
        request: dict[str, Any] = {"Bucket": seed.bucket, "Key": key}
        if entry.get("etag"):
            request["IfMatch"] = entry["etag"]
        body = s3.get_object(**request)["Body"]
        written = 0
        with contextlib.closing(body), dest.open("wb") as out:
            for chunk in body.iter_chunks(READ_CHUNK):
                out.write(chunk)
                written += len(chunk)
    except Exception as exc:
        if s3_client.error_code(exc) in ("PreconditionFailed", "412"):
            raise SeedError(f"{what}: the object changed after it was listed; run pulumi up again") from None
        raise SeedError(str(s3_client.describe(exc, what, secrets))) from None
    if written != int(entry["size"]):
        raise SeedError(f"{what}: got {written} bytes, the listing said {entry['size']}")


def batches(rels: list[str], listing: Listing, limit: int | None = None) -> Iterator[list[str]]:
    """`rels` in order, grouped so each group's bytes stay within `limit` (one object at least)."""
    limit = BATCH_BYTES if limit is None else limit
    group: list[str] = []
    size = 0
    for rel in rels:
        bytes_ = int(listing[rel]["size"])
        if group and size + bytes_ > limit:
            yield group
            group, size = [], 0
        group.append(rel)
        size += bytes_
    if group:
        yield group


def to_send(listing: Listing, recorded: Listing, in_volume: Mapping[str, int] | None) -> list[str]:
    """Objects to copy: new or changed since the recorded listing, or not (fully) in the volume."""
    out = []
    for rel, entry in sorted(listing.items()):
        unchanged = recorded.get(rel) == entry
        present = in_volume is None or in_volume.get(rel) == entry["size"]
        if not (unchanged and present):
            out.append(rel)
    return out


def drift(recorded: Listing, listing: Listing | None, in_volume: Mapping[str, int], seed: BucketSeed) -> list[str]:
    """What differs from the recorded seed, one line each; empty when the volume is in sync."""
    lines = []
    if listing is None:
        lines.append(f"{seed.uri}: the bucket is gone")
        listing = recorded
    for rel in sorted(set(recorded) | set(listing)):
        if rel not in recorded:
            lines.append(f"{rel}: new in {seed.uri}")
        elif rel not in listing:
            lines.append(f"{rel}: removed from {seed.uri}")
        elif listing[rel] != recorded[rel]:
            lines.append(f"{rel}: changed in {seed.uri}")
        if rel in recorded and in_volume.get(rel) != recorded[rel]["size"]:
            found = in_volume.get(rel)
            lines.append(f"{rel}: missing from the volume" if found is None else f"{rel}: {found} bytes in the volume, not {recorded[rel]['size']}")
    return lines


@contextlib.contextmanager
def staging_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="modelstack-seed-") as directory:
        yield Path(directory)
