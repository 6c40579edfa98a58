"""A worker's disk, sized from the pinned model's files: what the worker downloads, plus headroom.

A FLUX.1 worker downloads ~58 GB (the diffusers folders and the single-file checkpoint beside
them) onto a container disk that used to be a fixed 50 GB. Here:

- `download_bytes`: the bytes of the pinned snapshot the worker fetches, by the worker's own skip
  rules (`inference.contract.WORKER_SKIPPED_FILES`: formats it never loads, and pickled weights when
  safetensors exist; a `custom` task gets the whole repository);
- `disk_need_gb`: that, plus `HEADROOM` and `BASE_GB` for the runtime's own files, in whole GB;
- `DiskSizing`: a tiny dynamic resource whose `check` turns the pinned model's file list into the
  Runpod container disk: the need when `runpod.containerDiskGb` is not set, and a check failure
  naming the key when it is set too small, so `pulumi up` stops before the template is touched
  (as `GpuSizing` does for GPUs). With `runpod.networkVolume` the cache is on the volume instead:
  the volume must hold the snapshot, and the container disk only the worker;
- `modal_disk_warning`: Modal has no disk setting in the stack, so a snapshot larger than the disk
  Modal guarantees a container is a warning, unless the worker caches it on a volume.

The offline plan sizes the same way when it knows the files (`components/review/state.py`).
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from components.config import ModalSettings
from components.limits import modal as modal_limits
from components.limits import runpod as runpod_limits
from components.providers.unknowns import is_unknown
from inference import contract

GIB = 2**30
HEADROOM = 1.2
"""x the snapshot: downloads in flight, and files a loader writes next to the cache."""
BASE_GB = 5
"""Logs, Python caches and temporary files of the worker itself, independent of the model."""


def _files(files: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    return [(str(f.get("path", "")), int(f.get("size") or 0)) for f in files if isinstance(f, Mapping)]


def download_bytes(files: Iterable[Mapping[str, Any]], task: str | None) -> int:
    """Bytes of the snapshot the worker downloads (inference/worker/source.py `hub_snapshot`)."""
    listed = _files(files)
    if task == "custom":  # a user's own class may need any file, so the worker takes the whole repo
        return sum(size for _, size in listed)
    skipped = list(contract.WORKER_SKIPPED_FILES)
    if any(path.endswith(".safetensors") for path, _ in listed):
        skipped += contract.WORKER_PICKLE_WEIGHTS
    return sum(size for path, size in listed if not any(fnmatch.fnmatch(path, pattern) for pattern in skipped))


def disk_need_gb(snapshot_bytes: int) -> int:
    """Whole GB of disk for a snapshot of this size: x HEADROOM + BASE_GB, rounded up."""
    return math.ceil(snapshot_bytes / GIB * HEADROOM + BASE_GB - 1e-9)


def runpod_disk_problem(configured: int | None, snapshot_bytes: int, where: str, model: str) -> str | None:
    """Why the Runpod container disk cannot hold the snapshot (`where` is the config key path)."""
    need = disk_need_gb(snapshot_bytes)
    snapshot = f"{snapshot_bytes / GIB:.1f} GB that the worker downloads for {model}"
    maximum = int(runpod_limits.CONTAINER_DISK.maximum or need)
    if configured is not None and configured < need:
        return (
            f"{where}: {configured} GB cannot hold the pinned snapshot ({snapshot}; {need} GB with headroom); "
            f"raise it to at least {need}, or remove it to size the disk from the model"
        )
    if configured is None and need > maximum:
        return f"{where}: the pinned snapshot ({snapshot}) needs {need} GB, more than Runpod's {maximum} GB container disk"
    return None


def volume_need_gb(snapshot_bytes: int) -> int:
    """Whole GB of network volume for a snapshot kept there as the Hugging Face cache: x HEADROOM
    (a volume holds only the cache, not the worker's own files)."""
    return math.ceil(snapshot_bytes / GIB * HEADROOM - 1e-9)


def runpod_volume_problem(size_gb: int, snapshot_bytes: int, where: str, model: str) -> str | None:
    """Why the endpoint's network volume cannot hold the snapshot its workers download onto it."""
    need = volume_need_gb(snapshot_bytes)
    if size_gb >= need:
        return None
    return (
        f"{where}: {size_gb} GB cannot hold the pinned snapshot ({snapshot_bytes / GIB:.1f} GB that the worker "
        f"downloads for {model} into the volume's Hugging Face cache; {need} GB with headroom); raise it to at "
        f"least {need} (a network volume can grow later, never shrink)"
    )


CACHE_MOUNT = "/cache"
"""Where our Modal app keeps the Hugging Face cache (HF_HOME on a volume, components/gpu/modal_backend.py)."""
DEFAULT_APP_FILE = ModalSettings.model_fields["app_file"].default


def modal_caches_on_volume(settings: ModalSettings | None) -> bool:
    """Whether the worker keeps its download on a Modal volume rather than the container's disk: our
    app file with its /cache volume. A user's app file decides for itself, so it is not assumed."""
    settings = settings or ModalSettings()
    return settings.app_file == DEFAULT_APP_FILE and CACHE_MOUNT in settings.volumes


def modal_disk_warning(snapshot_bytes: int, where: str, model: str) -> str | None:
    """A warning when the snapshot exceeds the disk Modal guarantees a container (no stack setting)."""
    need = disk_need_gb(snapshot_bytes)
    if need <= modal_limits.CONTAINER_DISK_GUARANTEED_GB:
        return None
    return (
        f"{where}: the pinned snapshot of {model} is {snapshot_bytes / GIB:.1f} GB ({need} GB with headroom), more "
        f"than the {modal_limits.CONTAINER_DISK_GUARANTEED_GB} GB of disk Modal guarantees a container; unless your app "
        "file keeps the Hugging Face cache on a volume (as the default app file does at /cache), set "
        "ephemeral_disk= in it"
    )


# --------------------------------------------------------------------------------------------
# the dynamic resource
# --------------------------------------------------------------------------------------------


class DiskSizingProvider(ResourceProvider):
    """Pure computation: `check` sizes the disk; the other methods only keep what check decided."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        keys = ("files", "task", "configuredGb", "model", "where", "volumeGb", "volumeWhere")
        inputs = {k: news.get(k) for k in keys}
        configured = news.get("configuredGb")
        if any(is_unknown(inputs[k]) for k in keys) or (isinstance(inputs["files"], list) and any(is_unknown(f) for f in inputs["files"])):
            # In preview, before the model is pinned, its files are not known yet: neither is the disk.
            return CheckResult({**inputs, "diskGb": pulumi.output.Unknown()}, [])
        if configured is not None:
            configured = int(float(configured))
            inputs["configuredGb"] = configured
        files = inputs["files"]
        if not isinstance(files, list):
            # No file list (a model without Hub metadata): what was configured, else the default.
            inputs["diskGb"] = configured or runpod_limits.CONTAINER_DISK_DEFAULT_GB
            return CheckResult(inputs, [])
        snapshot = download_bytes(files, inputs["task"] or None)
        inputs["snapshotBytes"] = snapshot
        model = str(inputs["model"] or "the model")
        volume_gb = inputs["volumeGb"]
        if volume_gb is not None:
            # The worker's HF_HOME is on the network volume: the snapshot goes there, and the
            # container disk only holds the worker itself.
            volume_gb = inputs["volumeGb"] = int(float(volume_gb))
            problem = runpod_volume_problem(volume_gb, snapshot, str(inputs["volumeWhere"] or "networkVolume.sizeGb"), model)
            inputs["diskGb"] = configured if configured is not None else runpod_limits.CONTAINER_DISK_DEFAULT_GB
            return CheckResult(inputs, [CheckFailure("volumeGb", problem)] if problem else [])
        problem = runpod_disk_problem(configured, snapshot, str(inputs["where"] or "containerDiskGb"), model)
        inputs["diskGb"] = configured if configured is not None else disk_need_gb(snapshot)
        return CheckResult(inputs, [CheckFailure("configuredGb", problem)] if problem else [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("diskGb", "configuredGb", "model", "volumeGb") if is_unknown(news.get(k)) or olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("disk", dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        inputs = {k: props.get(k) for k in ("files", "task", "configuredGb", "model", "where", "volumeGb", "volumeWhere")}
        return ReadResult(id_, dict(props), inputs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(dict(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        return None


class DiskSizingArgs(TypedDict, total=False):
    files: pulumi.Input[list[dict[str, Any]]]
    """The pinned snapshot's files ({path, size}), the HuggingFaceModel's `files` output."""
    task: pulumi.Input[str]
    """The task the worker serves (custom downloads the whole repository)."""
    configured_gb: int | None
    """`runpod.containerDiskGb` when the config sets it; None sizes the disk from the files."""
    model: str
    where: str
    """The config key path, for the failure message."""
    volume_gb: int | None
    """`runpod.networkVolume.sizeGb` when the endpoint caches the model on a network volume."""
    volume_where: str


class DiskSizing(pulumi.dynamic.Resource, module="gpu", name="Disk"):
    """The Runpod container disk for a pinned model, chosen (or checked) in `check`."""

    disk_gb: pulumi.Output[int]

    def __init__(self, name: str, args: DiskSizingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(
            DiskSizingProvider(),
            name,
            {
                "files": args["files"],
                "task": args.get("task", ""),
                "configuredGb": args.get("configured_gb"),
                "model": args.get("model", ""),
                "where": args.get("where", ""),
                "volumeGb": args.get("volume_gb"),
                "volumeWhere": args.get("volume_where", ""),
                "snapshotBytes": None,
                "diskGb": None,
            },
            opts,
        )
        self.disk_gb = self.diskGb  # type: ignore[attr-defined]
