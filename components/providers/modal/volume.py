"""`ModalVolume`: a named Modal Volume in one explicit environment, optionally seeded from local files.

The id is Modal's volume id, stable across a rename and a re-seed (both happen in place). A seed is
a local directory (a checkpoint, configs, a model snapshot downloaded with `huggingface-cli download
--local-dir`) uploaded under `seedPath`; `check` hashes it, so unchanged content is never re-uploaded,
and an update re-uploads only what changed (Modal deduplicates file content by sha256) and removes the
files an earlier seed uploaded that the directory no longer has. Files the app itself writes to the
volume (an HF cache, `/data`) are never touched.

`read` reports the volume's current name and, for a seeded volume, whether every seeded file is still
there with its size; if not, the seed is marked drifted and the next `up` uploads it again.
"""

from __future__ import annotations

import contextlib
from pathlib import Path, PurePosixPath
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult
from pulumi.output import Unknown

from components.providers import credentials as creds
from components.providers.modal import hashing
from components.providers.modal.inputs import CamelCaseProperties, Checker, changed, has_unknown, is_unknown
from components.providers.modal.session import Target, Token, run, token_from

DRIFTED = "drifted"
SEED_KEYS = ("seedDir", "seedPath", "seedHash")


def _target(props: dict[str, Any]) -> Target:
    return Target("Volume", str(props.get("name")), str(props.get("environment")))


def _remote(seed_path: str, rel: str) -> str:
    return (PurePosixPath(seed_path or "/") / rel).as_posix()


class VolumeProvider(ResourceProvider):
    def __init__(self) -> None:
        self._token: Token | None = None

    def configure(self, req: Any) -> None:
        self._token = token_from(creds.from_provider_config(req.config))

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        c = Checker(news)
        inputs: dict[str, Any] = {
            "name": c.object_name("name", "Volume"),
            "environment": c.environment(),
            "version": c.integer("version", 0, 0, 2),
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
        return CheckResult(inputs, c.failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed(olds, news, ("environment", "version"))
        updates = changed(olds, news, ("name", *SEED_KEYS))
        # A new VolumeFS version means a new volume under the same name, so the old one must go first.
        same_env = not has_unknown(news.get("environment")) and olds.get("environment") == news.get("environment")
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            delete_before_replace="version" in replaces and same_env,
        )

    def _seed(self, volume: Any, props: dict[str, Any], previous: dict[str, Any] | None = None) -> None:
        """Upload the seed (`force`: changed files overwrite) and remove what the previous seed
        uploaded that this one does not have. Nothing else in the volume is touched."""
        from modal.exception import NotFoundError

        files: dict[str, int] = props.get("seedFiles") or {}
        wanted = {_remote(props["seedPath"], rel) for rel in files}
        if files:
            directory = Path(props["seedDir"])
            with volume.batch_upload(force=True) as batch:
                for rel in sorted(files):
                    batch.put_file(directory / rel, _remote(props["seedPath"], rel))
        previous = previous or {}
        uploaded_before = {_remote(previous.get("seedPath") or "/", rel) for rel in previous.get("seedFiles") or {}}
        for path in sorted(uploaded_before - wanted):
            with contextlib.suppress(NotFoundError):
                volume.remove_file(path)

    def _outputs(self, props: dict[str, Any], volume_id: str) -> dict[str, Any]:
        return {**props, "volumeId": volume_id}

    def create(self, props: dict[str, Any]) -> CreateResult:
        import modal
        from modal.exception import AlreadyExistsError

        name, environment, version = props["name"], props["environment"], int(props.get("version") or 0)
        target = _target(props)

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
            self._seed(volume, props)
            return volume.object_id

        volume_id = run(target, "create", self._token, create)
        return CreateResult(volume_id, self._outputs(props, volume_id))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        import modal

        environment = news["environment"]

        def update(client: Any) -> None:
            if olds.get("name") != news["name"]:
                modal.Volume.rename(olds["name"], news["name"], environment_name=environment, client=client)
            if any(olds.get(k) != news.get(k) for k in SEED_KEYS):
                volume = modal.Volume.from_id(id_, client=client)
                volume.hydrate()
                self._seed(volume, news, olds)

        run(_target(news), "update", self._token, update)
        return UpdateResult(self._outputs(news, id_))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import modal
        from modal.exception import NotFoundError
        from modal.volume import FileEntryType

        def read(client: Any) -> tuple[str, dict[str, int] | None] | None:
            volume = modal.Volume.from_id(id_, client=client)
            try:
                volume.hydrate()
            except NotFoundError:
                return None
            listing = None
            if props.get("seedFiles"):
                base = PurePosixPath(props.get("seedPath") or "/")
                try:
                    entries = volume.listdir(base.as_posix(), recursive=True)
                except NotFoundError:
                    entries = []
                listing = {
                    PurePosixPath("/", e.path).relative_to(base).as_posix(): e.size
                    for e in entries
                    if e.type == FileEntryType.FILE and PurePosixPath("/", e.path).is_relative_to(base)
                }
            return volume.name, listing

        found = run(_target(props), "read", self._token, read)
        if found is None:
            return ReadResult("", {})
        name, listing = found
        outs = {**props, "name": name, "volumeId": id_}
        if listing is not None and any(listing.get(rel) != size for rel, size in props["seedFiles"].items()):
            outs["seedHash"] = DRIFTED
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


class ModalVolume(CamelCaseProperties, pulumi.dynamic.Resource, module="modal", name="Volume"):
    volume_id: pulumi.Output[str]
    name: pulumi.Output[str]
    seed_hash: pulumi.Output[str]

    PROPERTIES = ("seed_dir", "seed_path", "seed_hash", "seed_files", "volume_id")

    def __init__(self, resource_name: str, args: ModalVolumeArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "name": args["name"],
            "environment": args["environment"],
            "version": args.get("version", 0),
            "seed_dir": args.get("seed_dir", ""),
            "seed_path": args.get("seed_path", "/"),
            "seed_hash": None,
            "seed_files": None,
            "volume_id": None,
        }
        super().__init__(VolumeProvider(), resource_name, props, opts)
