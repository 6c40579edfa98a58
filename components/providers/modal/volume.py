"""`ModalVolume`: a named Modal Volume in one explicit environment, optionally seeded.

The id is Modal's volume id, stable across a rename and a re-seed (both happen in place). A seed
lands under `seedPath` and comes from one of two sources (never both):

- `seedDir`, a local directory (a checkpoint, configs, a model snapshot downloaded with
  `huggingface-cli download --local-dir`): `check` hashes it, so unchanged content is never
  re-uploaded, and an update re-uploads only what changed (Modal deduplicates file content by
  sha256);
- `seedBucket` + `seedPrefix`, objects in an S3-compatible bucket (`seedEndpoint`, `seedRegion`,
  and `seedCredential`, the *name* of a `credentials.s3.<name>` pair read in `configure()`). Their
  listing (names, sizes, ETags) is recorded in state as `seedObjects`; preview and diff stay
  offline, and `read` reports what changed in the bucket or the volume in `seedDrift`, which the
  next `up` repairs by copying only those objects (see bucket_seed.py for why).

Either way an update removes the files an earlier seed put there that the source no longer has, and
files the app itself writes to the volume (an HF cache, `/data`) are never touched.

`read` reports the volume's current name and, for a seeded volume, whether every seeded file is still
there with its size; if not, the seed is marked drifted (`seedHash: drifted` for a directory, a line
in `seedDrift` for a bucket) and the next `up` uploads it again.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path, PurePosixPath
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult
from pulumi.output import Unknown

from components.limits import modal as modal_limits
from components.providers import credentials as creds
from components.providers import s3_client
from components.providers.modal import bucket_seed, hashing
from components.providers.modal.bucket_seed import BucketSeed, Listing
from components.providers.modal.inputs import CamelCaseProperties, Checker, changed, has_unknown, is_unknown
from components.providers.modal.session import ModalProviderError, Target, Token, run, token_from

DRIFTED = "drifted"
SEED_KEYS = ("seedDir", "seedPath", "seedHash")
BUCKET_KEYS = ("seedBucket", "seedEndpoint", "seedRegion", "seedCredential", "seedPrefix")
_ENDPOINT = re.compile(r"^https?://[^/\s]+/?$")


def _target(props: dict[str, Any]) -> Target:
    return Target("Volume", str(props.get("name")), str(props.get("environment")))


def _remote(seed_path: str, rel: str) -> str:
    return (PurePosixPath(seed_path or "/") / rel).as_posix()


def _owned(props: dict[str, Any] | None, objects: Listing | None = None) -> set[str]:
    """Paths in the volume that `props`' seed put there (`objects`: a bucket seed's new listing)."""
    if not props:
        return set()
    seed_path = props.get("seedPath") or "/"
    if objects is None:
        objects = bucket_seed.recorded_listing(props.get("seedObjects"))
    return {_remote(seed_path, rel) for rel in [*(props.get("seedFiles") or {}), *objects]}


def _volume_files(volume: Any, seed_path: str) -> dict[str, int]:
    """Relative path -> size of the files under `seed_path` in the volume (one listing call)."""
    from modal.exception import NotFoundError
    from modal.volume import FileEntryType

    base = PurePosixPath(seed_path or "/")
    try:
        entries = volume.listdir(base.as_posix(), recursive=True)
    except NotFoundError:
        return {}
    return {
        PurePosixPath("/", e.path).relative_to(base).as_posix(): e.size
        for e in entries
        if e.type == FileEntryType.FILE and PurePosixPath("/", e.path).is_relative_to(base)
    }


def _loosely_changed(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    """Like `changed`, with a missing old value equal to "" (state written before the key existed)."""
    return [k for k in keys if has_unknown(news.get(k)) or (olds.get(k) or "") != (news.get(k) or "")]


def _check_bucket_seed(c: Checker, seed_dir: Any) -> dict[str, Any]:
    """The bucket seed's inputs, normalised; all "" without a bucket so diffs stay stable."""
    bucket = c.string("seedBucket")
    fields = {k: c.string(k) for k in BUCKET_KEYS[1:]}
    if isinstance(bucket, str) and not bucket:
        for key, value in fields.items():
            if value and not is_unknown(value):
                c.fail(key, f"only applies with seedBucket; set seedBucket or remove {key}")
        return dict.fromkeys(BUCKET_KEYS, "")
    if isinstance(bucket, str):
        from components.config import bucket_name_problem

        problem = bucket_name_problem(bucket, "s3")
        if problem:
            c.fail("seedBucket", problem)
    if isinstance(seed_dir, str) and seed_dir:
        c.fail("seedBucket", "seedBucket and seedDir are mutually exclusive: seed the volume from a bucket or a directory")
    endpoint, region, credential, prefix = (fields[k] for k in BUCKET_KEYS[1:])
    if isinstance(endpoint, str):
        if not _ENDPOINT.match(endpoint):
            c.fail("seedEndpoint", f"a bucket seed needs the store's S3 endpoint URL, such as https://s3.us-east-1.wasabisys.com; got {endpoint!r}")
        endpoint = endpoint.rstrip("/")
    if isinstance(credential, str):
        credential = credential or "default"
        if not creds.is_valid_s3_credential_name(credential):
            c.fail("seedCredential", f"must name a credentials.s3.<name> pair (lowercase letters and digits); got {credential!r}")
    if isinstance(prefix, str):
        if prefix.startswith("/"):
            c.fail("seedPrefix", f"object keys do not start with '/'; write {prefix.lstrip('/')!r}")
        prefix = bucket_seed.normalise_prefix(prefix)
    return {
        "seedBucket": bucket,
        "seedEndpoint": endpoint,
        "seedRegion": (region or "auto") if isinstance(region, str) else region,
        "seedCredential": credential,
        "seedPrefix": prefix,
    }


class VolumeProvider(ResourceProvider):
    def __init__(self) -> None:
        self._token: Token | None = None
        self._credentials: dict[str, Any] = {}  # filled by configure() in the provider process

    def configure(self, req: Any) -> None:
        self._credentials = creds.from_provider_config(req.config)
        self._token = token_from(self._credentials)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        c = Checker(news)
        inputs: dict[str, Any] = {
            "name": c.object_name("name", "Volume"),
            "environment": c.environment(),
            "version": c.integer("version", 0, modal_limits.VOLUME_VERSION),
            "seedDir": c.string("seedDir"),
            "seedPath": c.string("seedPath", "/"),
        }
        seed_dir = inputs["seedDir"]
        if is_unknown(seed_dir):
            inputs["seedHash"], inputs["seedFiles"] = Unknown(), Unknown()
        elif seed_dir:
            directory = Path(seed_dir)
            if not directory.is_dir():
                c.fail("seedDir", f"{seed_dir!r} is not a directory (paths are relative to the project root)")
                inputs["seedHash"], inputs["seedFiles"] = "", {}
            else:
                inputs["seedHash"] = hashing.tree_hash([directory], directory)
                inputs["seedFiles"] = hashing.manifest(directory)
        else:
            inputs["seedHash"], inputs["seedFiles"] = "", {}
        if isinstance(inputs["seedPath"], str) and not inputs["seedPath"].startswith("/"):
            c.fail("seedPath", f"must be an absolute path inside the volume, such as /checkpoints; got {inputs['seedPath']!r}")
        inputs.update(_check_bucket_seed(c, seed_dir))
        return CheckResult(inputs, c.failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Pure: a bucket seed's objects are compared by `read`, which records what differs in
        # seedDrift; a non-empty seedDrift is what makes `up` copy them.
        replaces = changed(olds, news, ("environment", "version"))
        updates = changed(olds, news, ("name", *SEED_KEYS)) + _loosely_changed(olds, news, BUCKET_KEYS)
        if news.get("seedBucket") and olds.get("seedDrift"):
            updates.append("seedDrift")
        # A new VolumeFS version means a new volume under the same name, so the old one must go first.
        same_env = not has_unknown(news.get("environment")) and olds.get("environment") == news.get("environment")
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace="version" in replaces and same_env,
        )

    # ------------------------------------------------------------------------------ seeding

    def _bucket(self, seed: BucketSeed, target: Target, operation: str) -> tuple[Any, list[str]]:
        """A boto3 client for the seed's store and the key pair's values (to scrub from errors)."""
        pair = creds.resolve_s3(seed.credential, self._credentials) or {}
        try:
            return s3_client.client(seed.endpoint, seed.region, seed.credential, self._credentials), list(pair.values())
        except s3_client.S3Error as exc:
            raise ModalProviderError(target, operation, f"seed {seed.uri}: {exc}") from None

    def _list(self, seed: BucketSeed, target: Target, operation: str) -> tuple[Any, list[str], Listing]:
        s3, secrets = self._bucket(seed, target, operation)
        try:
            listing = bucket_seed.list_objects(s3, seed, secrets)
            assert listing is not None
            bucket_seed.require_objects(listing, seed)
        except bucket_seed.SeedError as exc:
            raise ModalProviderError(target, operation, f"seed: {exc}") from None
        return s3, secrets, listing

    def _copy(self, volume: Any, s3: Any, seed: BucketSeed, listing: Listing, rels: list[str], seed_path: str, secrets: list[str]) -> None:
        """Stream `rels` from the bucket into the volume, one bounded batch of temporary files at a time."""
        for group in bucket_seed.batches(rels, listing):
            with bucket_seed.staging_dir() as staging:
                staged = []
                for i, rel in enumerate(group):
                    path = staging / str(i)
                    bucket_seed.download(s3, seed, rel, listing[rel], path, secrets)
                    staged.append((path, rel))
                with volume.batch_upload(force=True) as batch:
                    for path, rel in staged:
                        batch.put_file(path, _remote(seed_path, rel))

    def _seed(
        self,
        volume: Any,
        props: dict[str, Any],
        previous: dict[str, Any] | None = None,
        bucket: tuple[Any, list[str], Listing] | None = None,
    ) -> None:
        """Upload the seed (`force`: changed files overwrite) and remove what the previous seed
        uploaded that this one does not have. Nothing else in the volume is touched.

        `bucket` (client, secrets, listing) syncs a bucket seed: objects new or changed since the
        previous listing, or missing from the volume, are copied; the rest are not read at all."""
        from modal.exception import NotFoundError

        files: dict[str, int] = props.get("seedFiles") or {}
        if files:
            directory = Path(props["seedDir"])
            with volume.batch_upload(force=True) as batch:
                for rel in sorted(files):
                    batch.put_file(directory / rel, _remote(props["seedPath"], rel))
        listing: Listing | None = None
        if bucket is not None:
            s3, secrets, listing = bucket
            seed = BucketSeed.from_props(props)
            assert seed is not None
            recorded: Listing = {}
            in_volume = None
            if previous is not None:  # an update: trust the record only for the same objects and place
                if seed.same_objects_as(BucketSeed.from_props(previous)) and previous.get("seedPath") == props["seedPath"]:
                    recorded = bucket_seed.recorded_listing(previous.get("seedObjects"))
                in_volume = _volume_files(volume, props["seedPath"])
            rels = bucket_seed.to_send(listing, recorded, in_volume)
            self._copy(volume, s3, seed, listing, rels, props["seedPath"], secrets)
        if listing is None:  # not re-listed: a bucket seed still owns what it copied before
            keep = BucketSeed.from_props(props) is not None and previous is not None
            listing = bucket_seed.recorded_listing(previous.get("seedObjects")) if keep and previous else {}
        for path in sorted(_owned(previous) - _owned(props, listing)):
            # Already gone is done. modal 1.6 turns the server's NOT_FOUND into FileNotFoundError;
            # older clients raised NotFoundError.
            with contextlib.suppress(NotFoundError, FileNotFoundError):
                volume.remove_file(path)

    def _outputs(self, props: dict[str, Any], volume_id: str, seed_objects: Listing | None) -> dict[str, Any]:
        return {**props, "volumeId": volume_id, "seedObjects": seed_objects or {}, "seedDrift": []}

    # ------------------------------------------------------------------------------ lifecycle

    def create(self, props: dict[str, Any]) -> CreateResult:
        import modal
        from modal.exception import AlreadyExistsError

        name, environment, version = props["name"], props["environment"], int(props.get("version") or 0)
        target = _target(props)
        seed = BucketSeed.from_props(props)
        bucket = self._list(seed, target, "create") if seed is not None else None

        def create(client: Any) -> str:
            # Adopt a volume an earlier attempt (or a retry after a lost response) created.
            with contextlib.suppress(AlreadyExistsError):
                modal.Volume.objects.create(
                    name, environment_name=environment, client=client, version=version or None
                )
            # With a version, the client itself refuses an adopted volume of another VolumeFS version.
            volume = modal.Volume.from_name(
                name, environment_name=environment, client=client, version=version or None
            )
            volume.hydrate()
            self._seed(volume, props, bucket=bucket)
            return volume.object_id

        volume_id = run(target, "create", self._token, create, secrets=bucket[1] if bucket else ())
        return CreateResult(volume_id, self._outputs(props, volume_id, bucket[2] if bucket else None))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        import modal

        environment = news["environment"]
        target = _target(news)
        seed, old_seed = BucketSeed.from_props(news), BucketSeed.from_props(olds)
        # The credential and region only say how to reach the objects: changing them copies nothing.
        sync_bucket = seed is not None and (
            not seed.same_objects_as(old_seed) or olds.get("seedPath") != news.get("seedPath") or bool(olds.get("seedDrift"))
        )
        reseed = sync_bucket or any(olds.get(k) != news.get(k) for k in SEED_KEYS) or (old_seed is not None and seed is None)
        bucket = self._list(seed, target, "update") if sync_bucket and seed is not None else None

        def update(client: Any) -> None:
            if olds.get("name") != news["name"]:
                modal.Volume.rename(olds["name"], news["name"], environment_name=environment, client=client)
            if reseed:
                volume = modal.Volume.from_id(id_, client=client)
                volume.hydrate()
                self._seed(volume, news, olds, bucket)

        # A change of credential or region alone, say, needs no call at all.
        if reseed or olds.get("name") != news["name"]:
            run(target, "update", self._token, update, secrets=bucket[1] if bucket else ())
        if bucket is not None:
            objects: Listing | None = bucket[2]
        else:
            objects = bucket_seed.recorded_listing(olds.get("seedObjects")) if seed is not None else None
        return UpdateResult(self._outputs(news, id_, objects))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import modal
        from modal.exception import NotFoundError

        seed = BucketSeed.from_props(props)
        recorded = bucket_seed.recorded_listing(props.get("seedObjects"))

        def read(client: Any) -> tuple[str, dict[str, int] | None] | None:
            volume = modal.Volume.from_id(id_, client=client)
            try:
                volume.hydrate()
            except NotFoundError:
                return None
            listing = _volume_files(volume, props.get("seedPath") or "/") if props.get("seedFiles") or seed else None
            return volume.name, listing

        target = _target(props)
        found = run(target, "read", self._token, read)
        if found is None:
            return ReadResult("", {})
        name, in_volume = found
        outs = {**props, "name": name, "volumeId": id_}
        if props.get("seedFiles") and in_volume is not None and any(in_volume.get(rel) != size for rel, size in props["seedFiles"].items()):
            outs["seedHash"] = DRIFTED
        if seed is not None:
            s3, secrets = self._bucket(seed, target, "read")
            try:
                listing = bucket_seed.list_objects(s3, seed, secrets, missing_ok=True)
            except bucket_seed.SeedError as exc:
                raise ModalProviderError(target, "read", f"seed: {exc}") from None
            outs["seedObjects"] = recorded
            outs["seedDrift"] = bucket_seed.drift(recorded, listing, in_volume or {}, seed)
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import modal
        from modal.exception import NotFoundError

        environment = props["environment"]

        def delete(client: Any) -> None:
            volume = modal.Volume.from_id(id_, client=client)
            try:
                volume.hydrate()
            except NotFoundError:
                return  # already gone
            modal.Volume.objects.delete(volume.name, environment_name=environment, client=client, allow_missing=True)

        run(_target(props), "delete", self._token, delete)


class ModalVolumeArgs(TypedDict, total=False):
    name: pulumi.Input[str]
    """Volume name, unique in its environment."""
    environment: pulumi.Input[str]
    """Modal environment, always explicit."""
    version: pulumi.Input[int]
    """VolumeFS version: 1 or 2; 0 (default) lets Modal choose. Changing it replaces the volume."""
    seed_dir: pulumi.Input[str]
    """Local directory (relative to the project root) uploaded into the volume; empty for none."""
    seed_path: pulumi.Input[str]
    """Where in the volume the seed goes (default /)."""
    seed_bucket: pulumi.Input[str]
    """Physical name of an S3-compatible bucket whose objects seed the volume; empty for none.
    Excludes seed_dir."""
    seed_endpoint: pulumi.Input[str]
    """The bucket's S3 endpoint, e.g. https://s3.us-east-1.wasabisys.com."""
    seed_region: pulumi.Input[str]
    """The bucket's region (default auto)."""
    seed_credential: pulumi.Input[str]
    """Name of the `credentials.s3.<name>` pair that reads the bucket (default `default`); never a key."""
    seed_prefix: pulumi.Input[str]
    """Objects under this prefix (a folder: a trailing / is implied) land under seed_path, relative
    names kept; empty for the whole bucket."""


class ModalVolume(CamelCaseProperties, pulumi.dynamic.Resource, module="modal", name="Volume"):
    volume_id: pulumi.Output[str]
    name: pulumi.Output[str]
    seed_hash: pulumi.Output[str]
    seed_objects: pulumi.Output[dict[str, Any]]
    """A bucket seed's objects as last copied: relative name -> {size, etag}."""
    seed_drift: pulumi.Output[list[str]]
    """What the last refresh found different from seed_objects; the next `up` repairs it."""

    PROPERTIES = (
        "seed_dir", "seed_path", "seed_hash", "seed_files", "volume_id", "seed_bucket", "seed_endpoint",
        "seed_region", "seed_credential", "seed_prefix", "seed_objects", "seed_drift",
    )

    def __init__(self, resource_name: str, args: ModalVolumeArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "name": args["name"],
            "environment": args["environment"],
            "version": args.get("version", 0),
            "seed_dir": args.get("seed_dir", ""),
            "seed_path": args.get("seed_path", "/"),
            "seed_bucket": args.get("seed_bucket", ""),
            "seed_endpoint": args.get("seed_endpoint", ""),
            "seed_region": args.get("seed_region", ""),
            "seed_credential": args.get("seed_credential", ""),
            "seed_prefix": args.get("seed_prefix", ""),
            "seed_hash": None,
            "seed_files": None,
            "seed_objects": None,
            "seed_drift": None,
            "volume_id": None,
        }
        super().__init__(VolumeProvider(), resource_name, props, opts)
