"""ModalVolume against the fake control plane, through the real `modal` client."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import modal
import pytest
from pulumi.runtime import rpc

from components.providers.modal.volume import VolumeProvider
from tests.modal.helpers import configured
from tests.support.dynamic_engine import DynamicEngine

BIG = os.urandom(5 * 1024 * 1024)  # large enough to take the blob upload path


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _inputs(name: str, seed: Path | None, environment: str = "main", version: int = 0) -> dict:
    return {"name": name, "environment": environment, "version": version, "seedDir": str(seed) if seed else "", "seedPath": "/checkpoints"}


def _files(fake_modal, volume_id: str) -> dict[str, bytes]:
    volume = fake_modal.state.volumes[volume_id]
    return {path: fake_modal.state.content[f.sha256_hex] for path, f in volume.files.items()}


def _uploaded_shas(fake_modal) -> set[str]:
    """Content the client actually sent (inline or via a blob), as opposed to 'already have it' checks."""
    return {c.request.sha256_hex for c in fake_modal.calls_to("MountPutFile") if c.request.data or c.request.data_blob_id}


def test_lifecycle_through_the_provider_server(fake_modal, engine: DynamicEngine, tmp_path):
    provider = VolumeProvider()
    first = _write(tmp_path / "first", {"a.txt": b"alpha", "sub/big.bin": BIG, "same.txt": b"unchanged"})
    second = _write(tmp_path / "second", {"a.txt": b"alpha v2", "c.txt": b"new", "same.txt": b"unchanged"})

    state = engine.up(provider, _inputs("ckpt", first))
    volume_id = state.id
    assert volume_id.startswith("vo-") and state.outputs["volumeId"] == volume_id
    assert _files(fake_modal, volume_id) == {
        "checkpoints/a.txt": b"alpha", "checkpoints/sub/big.bin": BIG, "checkpoints/same.txt": b"unchanged",
    }
    # The app's own files (an HF cache) live next to the seed and must never be touched.
    with modal.Client.from_credentials(fake_modal.token_id, fake_modal.token_secret) as client:
        vol = modal.Volume.from_name("ckpt", environment_name="main", client=client)
        with vol.batch_upload() as batch:
            batch.put_file(Path(first / "a.txt"), "/hf/cache.bin")

    # no-op: unchanged content, same settings -> no Modal call
    fake_modal.reset_calls()
    assert engine.preview(provider, _inputs("ckpt", first), state).changes is False
    assert engine.up(provider, _inputs("ckpt", first), state) is state
    assert fake_modal.calls == []

    # update in place: rename and a new seed; the id stays, only new content is uploaded
    updated = engine.up(provider, _inputs("ckpt-v2", second), state)
    assert updated.id == volume_id
    assert fake_modal.state.volumes[volume_id].name == "ckpt-v2"
    assert _files(fake_modal, volume_id) == {
        "checkpoints/a.txt": b"alpha v2", "checkpoints/c.txt": b"new", "checkpoints/same.txt": b"unchanged",
        "hf/cache.bin": b"alpha",
    }
    assert hashlib.sha256(b"unchanged").hexdigest() not in _uploaded_shas(fake_modal)

    # rollback to the first settings: old name, old files back (big.bin's content is still known to
    # Modal, so it is not sent again)
    fake_modal.reset_calls()
    rolled = engine.up(provider, _inputs("ckpt", first), updated)
    assert fake_modal.state.volumes[volume_id].name == "ckpt"
    assert _files(fake_modal, volume_id)["checkpoints/a.txt"] == b"alpha"
    assert "checkpoints/c.txt" not in _files(fake_modal, volume_id)
    assert hashlib.sha256(BIG).hexdigest() not in _uploaded_shas(fake_modal)
    assert "BlobCreate" not in fake_modal.methods()

    # refresh after out-of-band changes: a seeded file removed and the volume renamed by hand
    with modal.Client.from_credentials(fake_modal.token_id, fake_modal.token_secret) as client:
        vol = modal.Volume.from_name("ckpt", environment_name="main", client=client)
        vol.remove_file("/checkpoints/sub/big.bin")
        modal.Volume.rename("ckpt", "renamed-by-hand", environment_name="main", client=client)
    refreshed = engine.refresh(provider, rolled)
    assert refreshed is not None
    assert refreshed.outputs["name"] == "renamed-by-hand"
    assert refreshed.outputs["seedHash"] == "drifted"
    assert engine.preview(provider, _inputs("ckpt", first), refreshed).changes is True
    healed = engine.up(provider, _inputs("ckpt", first), refreshed)
    assert fake_modal.state.volumes[volume_id].name == "ckpt"
    assert _files(fake_modal, volume_id)["checkpoints/sub/big.bin"] == BIG

    engine.destroy(provider, healed)
    assert volume_id not in fake_modal.state.volumes
    assert engine.refresh(provider, healed) is None
    engine.destroy(provider, healed)  # already gone is success


def test_moving_the_seed_removes_it_from_the_old_path(fake_modal, tmp_path):
    seed = _write(tmp_path / "seed", {"a.txt": b"a", "b/c.txt": b"c"})
    provider = configured(VolumeProvider(), fake_modal)
    first = provider.check({}, _inputs("data", seed)).inputs
    created = provider.create(first)
    moved = provider.check({}, {**first, "seedPath": "/v2"}).inputs
    assert provider.diff(created.id, created.outs, moved).changes is True
    provider.update(created.id, created.outs, moved)
    assert _files(fake_modal, created.id) == {"v2/a.txt": b"a", "v2/b/c.txt": b"c"}


def test_version_or_environment_change_is_a_replace(engine: DynamicEngine):
    provider = VolumeProvider()
    state = engine.up(provider, _inputs("data", None))
    diff = engine.preview(provider, _inputs("data", None, version=2), state)
    # same name in the same environment: the old volume must go before the new one is created
    assert diff.replaces == ["version"] and diff.delete_before_replace is True
    diff = engine.preview(provider, _inputs("data", None, environment="dev"), state)
    assert diff.replaces == ["environment"] and diff.delete_before_replace is False


def test_create_adopts_an_existing_volume_and_keeps_its_data(fake_modal):
    with modal.Client.from_credentials(fake_modal.token_id, fake_modal.token_secret) as client:
        modal.Volume.objects.create("data", environment_name="dev", client=client)
        with modal.Volume.from_name("data", environment_name="dev", client=client).batch_upload() as batch:
            batch.put_file(io.BytesIO(b"keep me"), "/db.sqlite")
    provider = configured(VolumeProvider(), fake_modal)
    result = provider.create(provider.check({}, _inputs("data", None, environment="dev")).inputs)
    assert _files(fake_modal, result.id) == {"db.sqlite": b"keep me"}


def test_a_v2_volume_is_seeded_through_block_uploads(fake_modal, tmp_path):
    seed = _write(tmp_path / "seed", {"model.safetensors": BIG})
    provider = configured(VolumeProvider(), fake_modal)
    result = provider.create(provider.check({}, _inputs("weights", seed, version=2)).inputs)
    assert fake_modal.state.volumes[result.id].version == 2
    assert _files(fake_modal, result.id) == {"checkpoints/model.safetensors": BIG}
    assert "VolumePutFiles2" in fake_modal.methods()


def test_check_validates_the_seed_offline(tmp_path):
    result = VolumeProvider().check({}, {"name": "v", "environment": "main", "seedDir": str(tmp_path / "nope"), "seedPath": "rel"})
    assert {f.property for f in result.failures} == {"seedDir", "seedPath"}
    unknown = VolumeProvider().check({}, {"name": "v", "environment": "main", "seedDir": rpc.UNKNOWN})
    assert unknown.failures == []


@pytest.mark.parametrize("missing", [True, False])
def test_wrong_environment_is_impossible(fake_modal, monkeypatch, missing):
    monkeypatch.setenv("MODAL_ENVIRONMENT", "prod")
    provider = configured(VolumeProvider(), fake_modal)
    inputs = {"name": "v"} if missing else {"name": "v", "environment": "dev"}
    result = provider.check({}, inputs)
    if missing:
        assert [f.property for f in result.failures] == ["environment"]
        return
    provider.create(result.inputs)
    assert fake_modal.state.named_volume("dev", "v") is not None
    assert fake_modal.state.named_volume("prod", "v") is None
