"""ModalVolume seeded from an S3-compatible bucket: moto (real boto3) + the fake Modal control plane
(real `modal` client), driven through the SDK's provider server as the engine drives it."""

from __future__ import annotations

import json
import os
from typing import Any

import modal
import pytest

from components.providers.modal.volume import VolumeProvider
from tests.fakes.modal_server import FakeModal
from tests.modal import s3_store
from tests.modal.helpers import CREDENTIALS_KEY, credentials
from tests.modal.s3_store import ACCESS_KEY, SECRET_KEY, RecordingMoto
from tests.support.dynamic_engine import DynamicEngine

BUCKET = "captionacc-prod"
PREFIX = "models/caption_boundaries/"
CHECKPOINT = "mrn0fkfd_3f9a.pt"
BIG = os.urandom(5 * 1024 * 1024)  # large enough for Modal's blob upload path
OBJECTS = {
    CHECKPOINT: BIG,
    "config.json": b'{"model_version": "mrn0fkfd"}',
    "labels/classes.txt": b"start\nend\n",
}


def _stack_config(fake: FakeModal) -> dict[str, str]:
    return {
        CREDENTIALS_KEY: json.dumps(
            {**credentials(fake), "s3": {"wasabi": {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY}}}
        )
    }


def _configured(fake: FakeModal) -> VolumeProvider:
    from types import SimpleNamespace

    provider = VolumeProvider()
    provider.configure(SimpleNamespace(config=_stack_config(fake)))
    return provider


def _inputs(store: RecordingMoto, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "boundary-models",
        "environment": "main",
        "version": 0,
        "seedDir": "",
        "seedPath": "/checkpoints",
        "seedBucket": BUCKET,
        "seedEndpoint": store.url,
        "seedRegion": "us-east-1",
        "seedCredential": "wasabi",
        "seedPrefix": "models/caption_boundaries",  # the trailing / is implied
        **overrides,
    }


def _fill(store: RecordingMoto, objects: dict[str, bytes], prefix: str = PREFIX) -> Any:
    s3 = s3_store.client(store.url)
    s3.create_bucket(Bucket=BUCKET)
    for rel, data in objects.items():
        s3.put_object(Bucket=BUCKET, Key=prefix + rel, Body=data)
    # Near misses the seed must leave alone: a sibling folder sharing the prefix's letters, another
    # folder, and a folder marker some consoles create.
    s3.put_object(Bucket=BUCKET, Key="models/caption_boundaries_v2/other.pt", Body=b"not this one")
    s3.put_object(Bucket=BUCKET, Key="frames/0001.jpg", Body=b"nor this")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "empty/", Body=b"")
    store.clear()
    return s3


def _files(fake: FakeModal, volume_id: str) -> dict[str, bytes]:
    volume = fake.state.volumes[volume_id]
    return {path: fake.state.content[f.sha256_hex] for path, f in volume.files.items()}


def _seeded(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {f"checkpoints/{rel}": data for rel, data in objects.items()}


def _committed(fake: FakeModal) -> list[str]:
    """Paths written by volume commits (VolumePutFiles), in order."""
    return [f.filename.lstrip("/") for c in fake.calls_to("VolumePutFiles") for f in c.request.files]


def _modal_client(fake: FakeModal) -> Any:
    return modal.Client.from_credentials(fake.token_id, fake.token_secret)


@pytest.fixture
def seed_engine(fake_modal: FakeModal, store: RecordingMoto) -> Any:
    env = {"MODAL_SERVER_URL": fake_modal.url, "MODAL_CONFIG_PATH": os.environ["MODAL_CONFIG_PATH"]}
    with DynamicEngine(_stack_config(fake_modal), env=env) as running:
        yield running


def test_lifecycle_through_the_provider_server(fake_modal: FakeModal, store: RecordingMoto, seed_engine: DynamicEngine):
    provider = VolumeProvider()
    s3 = _fill(store, OBJECTS)

    # create: one LIST, one GET per object, every object lands under seedPath with its relative name
    state = seed_engine.up(provider, _inputs(store))
    volume_id = state.id
    assert _files(fake_modal, volume_id) == _seeded(OBJECTS)
    assert store.operations() == [("ListObjectsV2", "")] + [("GetObject", PREFIX + rel) for rel in sorted(OBJECTS)]
    assert state.inputs["seedPrefix"] == PREFIX
    assert set(state.outputs["seedObjects"]) == set(OBJECTS)
    assert state.outputs["seedObjects"]["config.json"]["size"] == len(OBJECTS["config.json"])
    assert state.outputs["seedDrift"] == []
    # The app's own files live next to the seed and must never be touched.
    with _modal_client(fake_modal) as client, modal.Volume.from_id(volume_id, client=client).batch_upload() as batch:
        batch.put_file(__file__, "/hf/cache.py")
    own = _files(fake_modal, volume_id)["hf/cache.py"]

    # no-op: same settings, and preview and diff never read the bucket: no Modal and no S3 call
    fake_modal.reset_calls()
    store.clear()
    assert seed_engine.preview(provider, _inputs(store), state).changes is False
    assert seed_engine.up(provider, _inputs(store), state) is state
    assert fake_modal.calls == [] and store.operations() == []

    # the bucket changes: an object overwritten, one deleted, one added. A plain preview stays
    # offline and does not see it (documented: `pulumi up --refresh` does)
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "config.json", Body=b'{"model_version": "q7x2"}')
    s3.delete_object(Bucket=BUCKET, Key=PREFIX + "labels/classes.txt")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "thresholds.json", Body=b"[0.5]")
    store.clear()
    assert seed_engine.preview(provider, _inputs(store), state).changes is False
    assert store.operations() == []

    # refresh: one LIST, no GET; every difference is named in seedDrift
    fake_modal.reset_calls()
    refreshed = seed_engine.refresh(provider, state)
    assert refreshed is not None
    assert store.operations() == [("ListObjectsV2", "")]
    assert refreshed.outputs["seedDrift"] == [
        f"config.json: changed in s3://{BUCKET}/{PREFIX}",
        f"labels/classes.txt: removed from s3://{BUCKET}/{PREFIX}",
        f"thresholds.json: new in s3://{BUCKET}/{PREFIX}",
    ]
    assert "VolumePutFiles" not in fake_modal.methods() and "MountPutFile" not in fake_modal.methods()
    assert seed_engine.preview(provider, _inputs(store), refreshed).changes is True

    # up: only the changed and new objects are read and sent; the deleted one leaves the volume
    fake_modal.reset_calls()
    store.clear()
    updated = seed_engine.up(provider, _inputs(store), refreshed)
    assert updated.id == volume_id
    assert store.operations() == [
        ("ListObjectsV2", ""), ("GetObject", PREFIX + "config.json"), ("GetObject", PREFIX + "thresholds.json"),
    ]  # fmt: skip
    assert sorted(_committed(fake_modal)) == ["checkpoints/config.json", "checkpoints/thresholds.json"]
    now = {CHECKPOINT: BIG, "config.json": b'{"model_version": "q7x2"}', "thresholds.json": b"[0.5]"}
    assert _files(fake_modal, volume_id) == {**_seeded(now), "hf/cache.py": own}
    assert updated.outputs["seedDrift"] == [] and set(updated.outputs["seedObjects"]) == set(now)
    assert seed_engine.preview(provider, _inputs(store), updated).changes is False

    # drift on the volume's side: the checkpoint removed by hand comes back, read again from the bucket
    with _modal_client(fake_modal) as client:
        modal.Volume.from_id(volume_id, client=client).remove_file(f"/checkpoints/{CHECKPOINT}")
    refreshed = seed_engine.refresh(provider, updated)
    assert refreshed is not None
    assert refreshed.outputs["seedDrift"] == [f"{CHECKPOINT}: missing from the volume"]
    store.clear()
    healed = seed_engine.up(provider, _inputs(store), refreshed)
    assert store.operations() == [("ListObjectsV2", ""), ("GetObject", PREFIX + CHECKPOINT)]
    assert _files(fake_modal, volume_id)[f"checkpoints/{CHECKPOINT}"] == BIG

    # delete: the volume goes; the bucket is only ever read
    store.clear()
    seed_engine.destroy(provider, healed)
    assert volume_id not in fake_modal.state.volumes
    assert store.operations() == []
    assert s3.get_object(Bucket=BUCKET, Key=PREFIX + CHECKPOINT)["Body"].read() == BIG
    assert seed_engine.refresh(provider, healed) is None
    seed_engine.destroy(provider, healed)  # already gone is success

    # Secrets: neither the S3 keys nor the Modal token are in state or in the provider's log.
    for secret in (ACCESS_KEY, SECRET_KEY, fake_modal.token_id, fake_modal.token_secret):
        for snapshot in (state, refreshed, updated, healed):
            assert secret not in repr(snapshot.inputs) and secret not in repr(snapshot.outputs)
        assert secret not in seed_engine.server_log()


def test_moving_or_dropping_the_seed_removes_what_it_put_there(fake_modal: FakeModal, store: RecordingMoto):
    _fill(store, OBJECTS)
    provider = _configured(fake_modal)
    first = provider.check({}, _inputs(store)).inputs
    created = provider.create(first)

    moved = provider.check(first, _inputs(store, seedPath="/v2")).inputs
    assert provider.diff(created.id, created.outs, moved).changes is True
    outs = provider.update(created.id, created.outs, moved).outs
    assert _files(fake_modal, created.id) == {f"v2/{rel}": data for rel, data in OBJECTS.items()}

    # another folder of the same bucket: the old folder's objects go, the new one's arrive
    s3 = s3_store.client(store.url)
    s3.put_object(Bucket=BUCKET, Key="models/caption_boundaries_v2/model.pt", Body=b"v2 weights")
    other = provider.check(moved, _inputs(store, seedPath="/v2", seedPrefix="models/caption_boundaries_v2/")).inputs
    outs = provider.update(created.id, outs, other).outs
    assert _files(fake_modal, created.id) == {"v2/model.pt": b"v2 weights", "v2/other.pt": b"not this one"}

    # no seed any more: the volume keeps nothing the seed put there
    bare = provider.check(other, _inputs(store, seedBucket="", seedEndpoint="", seedRegion="", seedCredential="", seedPrefix="")).inputs
    assert bare["seedBucket"] == "" and bare["seedCredential"] == ""
    assert provider.diff(created.id, outs, bare).changes is True
    outs = provider.update(created.id, outs, bare).outs
    assert _files(fake_modal, created.id) == {}
    assert outs["seedObjects"] == {}


def test_a_new_credential_name_is_an_update_that_calls_nothing(fake_modal: FakeModal, store: RecordingMoto):
    _fill(store, OBJECTS)
    provider = _configured(fake_modal)
    inputs = provider.check({}, _inputs(store)).inputs
    created = provider.create(inputs)
    renamed = provider.check(inputs, _inputs(store, seedCredential="default", seedRegion="auto")).inputs
    assert provider.diff(created.id, created.outs, renamed).changes is True  # state must record it
    fake_modal.reset_calls()
    store.clear()
    outs = provider.update(created.id, created.outs, renamed).outs
    assert fake_modal.calls == [] and store.operations() == []
    assert outs["seedCredential"] == "default" and outs["seedObjects"] == created.outs["seedObjects"]


def test_a_v2_volume_is_seeded_in_bounded_batches(fake_modal: FakeModal, store: RecordingMoto, monkeypatch):
    from components.providers.modal import bucket_seed

    # Temporary disk per batch: smaller than the checkpoint, so each object is its own commit.
    monkeypatch.setattr(bucket_seed, "BATCH_BYTES", 1024 * 1024)
    _fill(store, OBJECTS)
    provider = _configured(fake_modal)
    created = provider.create(provider.check({}, _inputs(store, version=2)).inputs)
    assert fake_modal.state.volumes[created.id].version == 2
    assert _files(fake_modal, created.id) == _seeded(OBJECTS)
    commits = fake_modal.calls_to("VolumePutFiles2")
    assert {tuple(sorted(f.path.lstrip("/") for f in c.request.files)) for c in commits} == {
        ("checkpoints/config.json", "checkpoints/labels/classes.txt"), (f"checkpoints/{CHECKPOINT}",),
    }  # fmt: skip


def test_failures_name_the_volume_and_the_cause_and_never_a_key(fake_modal: FakeModal, store: RecordingMoto, monkeypatch):
    from botocore.exceptions import ClientError

    from components.providers.modal.session import ModalProviderError

    provider = _configured(fake_modal)
    hidden = (ACCESS_KEY, SECRET_KEY, fake_modal.token_id, fake_modal.token_secret)

    def fails(inputs: dict[str, Any], *expected: str) -> None:
        with pytest.raises(ModalProviderError) as info:
            provider.create(provider.check({}, inputs).inputs)
        message = str(info.value)
        assert "modal Volume 'boundary-models'" in message and "create failed" in message
        for part in expected:
            assert part in message, message
        for secret in hidden:
            assert secret not in message

    fails(_inputs(store), "NoSuchBucket")
    _fill(store, OBJECTS)
    fails(_inputs(store, seedPrefix="models/typo/"), f"s3://{BUCKET}/models/typo/ holds no objects")
    fails(_inputs(store, seedCredential="missing"), "S3 credential 'missing' is not set")
    # The bucket is listed before the volume is created: a seed that cannot be read creates nothing.
    assert fake_modal.state.named_volume("main", "boundary-models") is None
    # a store that echoes a key in its error (some S3-compatible ones do) is scrubbed
    real = provider._bucket

    def echoing(*args: Any) -> Any:
        s3, secrets = real(*args)

        def get_object(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": f"key {ACCESS_KEY} / {SECRET_KEY} denied"}}, "GetObject")

        s3.get_object = get_object
        return s3, secrets

    monkeypatch.setattr(provider, "_bucket", echoing)
    fails(_inputs(store), "AccessDenied", "[secret]")


def test_a_listing_from_before_the_upgrade_is_not_a_change():
    """State written before bucket seeds existed has no seed* bucket keys: no diff for those volumes."""
    provider = VolumeProvider()
    news = provider.check({}, {"name": "v", "environment": "main", "seedPath": "/"}).inputs
    assert {news[k] for k in ("seedBucket", "seedEndpoint", "seedRegion", "seedCredential", "seedPrefix")} == {""}
    old_state = {"name": "v", "environment": "main", "version": 0, "seedDir": "", "seedPath": "/", "seedHash": "", "seedFiles": {}, "volumeId": "vo-1"}
    assert provider.diff("vo-1", old_state, news).changes is False


def test_resource_args_reach_the_provider_as_camel_case_inputs():
    from components.providers.modal.volume import ModalVolume

    names = {ModalVolume.translate_input_property(ModalVolume, p) for p in ModalVolume.PROPERTIES}
    assert {"seedBucket", "seedEndpoint", "seedRegion", "seedCredential", "seedPrefix", "seedObjects", "seedDrift"} <= names


def test_check_validates_a_bucket_seed_offline(monkeypatch):
    from components.providers import s3_client
    from tests.support.dynamic_engine import UNKNOWN

    def no_network(*_: Any, **__: Any) -> Any:
        raise AssertionError("check must not build an S3 client")

    monkeypatch.setattr(s3_client, "client", no_network)
    provider = VolumeProvider()
    base = {"name": "v", "environment": "main", "seedPath": "/checkpoints"}

    ok = provider.check({}, {**base, "seedBucket": BUCKET, "seedEndpoint": "https://s3.us-east-1.wasabisys.com/", "seedPrefix": "models/x"})
    assert ok.failures == []
    assert {k: ok.inputs[k] for k in ("seedEndpoint", "seedRegion", "seedCredential", "seedPrefix")} == {
        "seedEndpoint": "https://s3.us-east-1.wasabisys.com", "seedRegion": "auto", "seedCredential": "default", "seedPrefix": "models/x/",
    }  # fmt: skip

    bad = provider.check({}, {
        **base, "seedDir": "data", "seedBucket": "Not_A_Bucket", "seedEndpoint": "s3.wasabisys.com",
        "seedCredential": "Wasabi-Key", "seedPrefix": "/models",
    })  # fmt: skip
    reasons = {f.property: f.reason for f in bad.failures}
    assert set(reasons) >= {"seedBucket", "seedEndpoint", "seedCredential", "seedPrefix"}
    assert any(f.property == "seedBucket" and "mutually exclusive" in f.reason for f in bad.failures)
    assert reasons["seedPrefix"] == "object keys do not start with '/'; write 'models'"

    stray = provider.check({}, {**base, "seedPrefix": "models/", "seedEndpoint": "https://x.example"})
    assert {f.property for f in stray.failures} == {"seedPrefix", "seedEndpoint"}

    # During preview a bucket from another resource's output is unknown: accepted, and a change.
    unknown = provider.check({}, {**base, "seedBucket": UNKNOWN, "seedEndpoint": "https://s3.wasabisys.com", "seedPrefix": "m/"})
    assert unknown.failures == []
    known = provider.check({}, {**base, "seedBucket": BUCKET, "seedEndpoint": "https://s3.wasabisys.com", "seedPrefix": "m/"}).inputs
    assert provider.diff("vo-1", {**known, "seedObjects": {}, "seedDrift": []}, unknown.inputs).changes is True
