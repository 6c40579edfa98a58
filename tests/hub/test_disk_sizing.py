"""A worker's disk from the pinned model's files (issue 12: FLUX downloads ~58 GB into a 50 GB disk)."""

from __future__ import annotations

import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.gpu.disk import (
    GIB,
    DiskSizingProvider,
    disk_need_gb,
    download_bytes,
    modal_disk_warning,
    runpod_disk_problem,
)
from components.limits.runpod import CONTAINER_DISK_DEFAULT_GB
from components.providers.huggingface import HuggingFaceModelProvider
from tests.fakes.checkpoints import model_repo
from tests.fakes.hub_server import FakeHub
from tests.support.dynamic_engine import DynamicEngine, ProviderError

GB = 10**9
# FLUX.1-schnell at 741f7c3 as the Hub lists it (sizes rounded): the diffusers folders and, beside
# them, the single-file checkpoint a from_pretrained() never loads but snapshot_download fetches.
FLUX_FILES = [
    {"path": "flux1-schnell.safetensors", "size": int(23.8 * GB)},
    {"path": "ae.safetensors", "size": int(0.335 * GB)},
    {"path": "model_index.json", "size": 536},
    {"path": "transformer/diffusion_pytorch_model-00001-of-00003.safetensors", "size": int(9.98 * GB)},
    {"path": "transformer/diffusion_pytorch_model-00002-of-00003.safetensors", "size": int(9.95 * GB)},
    {"path": "transformer/diffusion_pytorch_model-00003-of-00003.safetensors", "size": int(3.87 * GB)},
    {"path": "text_encoder_2/model-00001-of-00002.safetensors", "size": int(4.99 * GB)},
    {"path": "text_encoder_2/model-00002-of-00002.safetensors", "size": int(4.53 * GB)},
    {"path": "text_encoder/model.safetensors", "size": int(0.246 * GB)},
    {"path": "vae/diffusion_pytorch_model.safetensors", "size": int(0.168 * GB)},
    {"path": "text_encoder/pytorch_model.bin", "size": int(0.492 * GB)},  # skipped: safetensors exist
    {"path": "onnx/model.onnx", "size": int(1.2 * GB)},  # skipped: a format the worker never loads
]
FLUX = "black-forest-labs/FLUX.1-schnell"


def test_the_flux_snapshot_outgrows_the_old_50_gb_disk():
    snapshot = download_bytes(FLUX_FILES, "text-to-image")
    assert snapshot == sum(f["size"] for f in FLUX_FILES[:10])  # the .bin and onnx/ are not fetched
    assert round(snapshot / GB, 1) == 57.9  # the "~58 GB"
    assert disk_need_gb(snapshot) == 70  # 53.9 GiB x 1.2 + 5, rounded up
    # a custom task's class may read anything: the worker downloads the whole repository
    assert download_bytes(FLUX_FILES, "custom") == sum(f["size"] for f in FLUX_FILES)


def test_a_configured_disk_too_small_for_the_snapshot_is_an_error_naming_the_key():
    where = "modelstack:models.flux.endpoint.runpod.containerDiskGb"
    snapshot = download_bytes(FLUX_FILES, "text-to-image")
    assert runpod_disk_problem(50, snapshot, where, FLUX) == (
        f"{where}: 50 GB cannot hold the pinned snapshot (53.9 GB that the worker downloads for {FLUX}; 70 GB with "
        "headroom); raise it to at least 70, or remove it to size the disk from the model"
    )
    assert runpod_disk_problem(70, snapshot, where, FLUX) is None
    assert runpod_disk_problem(None, snapshot, where, FLUX) is None


def test_modal_warns_only_past_the_disk_it_guarantees():
    where = "modelstack:models.big.endpoint"
    assert modal_disk_warning(download_bytes(FLUX_FILES, "text-to-image"), where, FLUX) is None
    huge = [{"path": f"model-{i:05d}.safetensors", "size": 10 * GIB} for i in range(12)]
    assert modal_disk_warning(download_bytes(huge, "text-generation"), where, "org/huge") == (
        f"{where}: the pinned snapshot of org/huge is 120.0 GB (149 GB with headroom), more than the 100 GB of disk "
        "Modal guarantees a container; unless your app file keeps the Hugging Face cache on a volume (as the "
        "default app file does at /cache), set ephemeral_disk= in it"
    )


def test_check_sizes_unset_disks_and_fails_small_ones():
    provider = DiskSizingProvider()
    news = {"files": FLUX_FILES, "task": "text-to-image", "configuredGb": None, "model": FLUX, "where": "w"}
    sized = provider.check({}, news)
    assert (sized.failures, sized.inputs["diskGb"], sized.inputs["snapshotBytes"]) == ([], 70, download_bytes(FLUX_FILES, "text-to-image"))
    small = provider.check({}, {**news, "configuredGb": 50.0})  # ints arrive as floats
    assert [f.property for f in small.failures] == ["configuredGb"]
    assert small.failures[0].reason.startswith("w: 50 GB cannot hold the pinned snapshot")
    assert provider.check({}, {**news, "configuredGb": 80}).inputs["diskGb"] == 80
    # preview before the model is pinned: the files, so the disk, are not known yet
    assert isinstance(provider.check({}, {**news, "files": Unknown()}).inputs["diskGb"], Unknown)
    assert provider.diff("disk", sized.inputs, sized.inputs).changes is False
    assert provider.diff("disk", sized.inputs, {**sized.inputs, "diskGb": 80}).changes is True


@pytest.mark.subprocess
@pytest.mark.slow
def test_disk_sizing_from_a_pinned_model_through_the_provider_server(hub: FakeHub) -> None:
    hub.add_repo("org/tiny", pipeline_tag="text-generation")
    hub.commit("org/tiny", model_repo(seed=0))
    with DynamicEngine({"modelstack:credentials": "{}"}, env={"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1"}) as engine:
        pinned = engine.up(HuggingFaceModelProvider(), {"source": "hf://org/tiny", "task": None})
        files = pinned.outputs["files"]
        args = {"files": files, "task": pinned.outputs["effectiveTask"], "configuredGb": None, "model": "org/tiny",
                "where": "modelstack:models.tiny.endpoint.runpod.containerDiskGb"}
        assert engine.preview(DiskSizingProvider(), {**args, "files": rpc.UNKNOWN}) is None
        disk = engine.up(DiskSizingProvider(), args)
        assert disk.outputs["diskGb"] == disk_need_gb(sum(f["size"] for f in files)) == 6  # KBs of weights + 5 GB
        assert engine.up(DiskSizingProvider(), args, disk) is disk  # no-op
        with pytest.raises(ProviderError) as small:
            engine.preview(DiskSizingProvider(), {**args, "configuredGb": 5}, disk)
        assert small.value.method == "Check"
        assert "modelstack:models.tiny.endpoint.runpod.containerDiskGb: 5 GB cannot hold the pinned snapshot" in small.value.details
        engine.destroy(DiskSizingProvider(), disk)


def test_a_network_volume_holds_the_cache_so_it_must_fit_the_snapshot_and_the_disk_need_not():
    """With runpod.networkVolume the worker's HF_HOME is on the volume (issue 13: a 20 GB volume for
    FLUX planned green and every worker would fail its download)."""
    provider = DiskSizingProvider()
    where = "modelstack:models.flux.endpoint.runpod.networkVolume.sizeGb"
    news = {"files": FLUX_FILES, "task": "text-to-image", "configuredGb": None, "model": FLUX, "where": "w",
            "volumeGb": 20.0, "volumeWhere": where}  # fmt: skip
    small = provider.check({}, news)
    assert [f.property for f in small.failures] == ["volumeGb"]
    assert small.failures[0].reason == (
        f"{where}: 20 GB cannot hold the pinned snapshot (53.9 GB that the worker downloads for {FLUX} into the "
        "volume's Hugging Face cache; 65 GB with headroom); raise it to at least 65 (a network volume can grow "
        "later, never shrink)"
    )
    fits = provider.check({}, {**news, "volumeGb": 65})
    # the snapshot is not on the container disk, so it keeps Runpod's default instead of 70 GB
    assert fits.failures == [] and fits.inputs["diskGb"] == CONTAINER_DISK_DEFAULT_GB
    assert provider.diff("disk", fits.inputs, {**fits.inputs, "volumeGb": 80}).changes is True
