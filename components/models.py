"""One model's supply chain: pinned to a commit, sized to a GPU, optionally mirrored to a bucket.

`ModelSupply` wraps the `HuggingFaceModel` pin (the sha every consumer deploys, unchanged until the
config changes it), the `GpuSizing` choice for `minVramGb: auto` endpoints (made from the pinned
model's estimated need, so a model too large for every GPU fails before an endpoint is created),
and the `ModelMirror` copy into an S3-compatible bucket. Consumers (GPU endpoints, services) read
`sha`, `gpu_ids` and `manifest_uri` from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import pulumi

from components.config import Model
from components.gpu.catalog import explicit_gpu_ids
from components.gpu.disk import DiskSizing, download_bytes, modal_caches_on_volume, modal_disk_warning
from components.gpu.sizing import GpuSizing
from components.providers.huggingface import HuggingFaceModel
from components.providers.mirror import ModelMirror, hub_source
from components.storage import S3CompatibleBucket


class ModelSupplyArgs(TypedDict):
    key: str
    model: Model
    mirror_bucket: S3CompatibleBucket | None
    """Where `model.mirror` copies to (already created), or None."""
    protect: bool


class ModelSupply(pulumi.ComponentResource):
    sha: pulumi.Input[str]
    repo_id: pulumi.Output[str]
    task: pulumi.Output[str]
    gpu_ids: pulumi.Input[Sequence[str]] | None
    """Provider GPU ids for the model's endpoint, in priority order; None without an endpoint."""
    disk_gb: pulumi.Input[int] | None
    """Runpod container disk for the pinned snapshot; None where the model is not on the Hub or
    its endpoint is not on Runpod."""
    manifest_uri: pulumi.Output[str] | None

    def __init__(self, name: str, args: ModelSupplyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("modelstack:models:Model", name, None, opts)
        model = args["model"]
        self.manifest_uri = None
        self.gpu_ids = None
        self.disk_gb = None
        if not model.on_hub:
            # A private checkpoint in a bucket: nothing to pin on the Hub; its content is identified
            # where it is copied (a Modal volume seeded from the bucket records the objects' ETags).
            self.pinned = None
            self.sha = ""  # plain: backends leave MODELSTACK_MODEL_REVISION out for such models
            self.repo_id = pulumi.Output.from_input(model.repo_id)
            self.task = pulumi.Output.from_input(model.task or "custom")
            if model.endpoint is not None:
                min_vram = model.endpoint.gpu.min_vram_gb if isinstance(model.endpoint.gpu.min_vram_gb, float) else None
                self.gpu_ids = explicit_gpu_ids(
                    model.endpoint.provider, min_vram, model.endpoint.gpu.names(), model.endpoint.gpu.count
                )
            self.register_outputs({"repoId": self.repo_id, "sha": self.sha, "gpuIds": self.gpu_ids})
            return
        self.pinned = HuggingFaceModel(
            f"{name}-pin",
            {"source": model.source, "task": model.task},
            opts=pulumi.ResourceOptions(parent=self, protect=args["protect"]),
        )
        self.sha = self.pinned.sha
        self.repo_id = self.pinned.repo_id
        self.task = self.pinned.effective_task  # type: ignore[attr-defined]

        endpoint = model.endpoint
        if endpoint is not None:
            self._size_disk(name, args["key"], model)
            if endpoint.gpu.min_vram_gb == "auto":
                sizing = GpuSizing(
                    f"{name}-gpus",
                    {
                        "provider": endpoint.provider,
                        "need_gb": self.pinned.vram_gb,
                        "count": endpoint.gpu.count,
                        "model": model.repo_id,
                        "basis": self.pinned.vram_basis,
                    },
                    opts=pulumi.ResourceOptions(parent=self),
                )
                self.gpu_ids = sizing.gpu_ids
            else:
                min_vram = endpoint.gpu.min_vram_gb if isinstance(endpoint.gpu.min_vram_gb, float) else None
                self.gpu_ids = explicit_gpu_ids(endpoint.provider, min_vram, endpoint.gpu.names(), endpoint.gpu.count)

        bucket = args["mirror_bucket"]
        if model.mirror is not None and bucket is not None:
            mirror = ModelMirror(
                f"{name}-mirror",
                {
                    "bucket": bucket.name,
                    "endpoint": bucket.spec.endpoint,
                    "region": bucket.spec.region,
                    "credential": bucket.spec.credential,
                    "source": hub_source(self.pinned),
                    "include": list(model.mirror.include),
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket.bucket]),
            )
            self.manifest_uri = mirror.manifest_uri

        self.register_outputs(
            {"repoId": self.repo_id, "sha": self.sha, "gpuIds": self.gpu_ids, "manifestUri": self.manifest_uri}
        )

    def _size_disk(self, name: str, key: str, model: Model) -> None:
        """Runpod: the container disk from the pinned files (checked against a configured size).
        Modal: a warning, at deploy, when the snapshot outgrows what a container is guaranteed."""
        endpoint = model.endpoint
        assert endpoint is not None and self.pinned is not None
        where = f"modelstack:models.{key}.endpoint"
        if endpoint.provider == "runpod":
            configured = endpoint.runpod.container_disk_gb if endpoint.runpod is not None else None
            volume = endpoint.runpod.network_volume if endpoint.runpod is not None else None
            self.disk_gb = DiskSizing(
                f"{name}-disk",
                {
                    "files": self.pinned.files,
                    "task": self.pinned.effective_task,  # type: ignore[attr-defined]
                    "configured_gb": configured,
                    "model": model.repo_id,
                    "where": f"{where}.runpod.containerDiskGb",
                    "volume_gb": volume.size_gb if volume is not None else None,
                    "volume_where": f"{where}.runpod.networkVolume.sizeGb",
                },
                opts=pulumi.ResourceOptions(parent=self),
            ).disk_gb
            return
        if modal_caches_on_volume(endpoint.modal):
            return  # our app keeps the HF cache on the /cache volume, not on the container's disk

        def warn(values: list[Any]) -> None:
            files, task = values
            if isinstance(files, list):
                found = modal_disk_warning(download_bytes(files, task or None), where, model.repo_id)
                if found:
                    pulumi.log.warn(found, resource=self)

        pulumi.Output.all(self.pinned.files, self.pinned.effective_task).apply(warn)  # type: ignore[attr-defined]
