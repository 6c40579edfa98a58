"""The fake Modal control plane is right only if the real `modal` client works against it."""

from __future__ import annotations

import io
import os
import time

import modal
import pytest
from grpclib import Status
from modal.exception import AlreadyExistsError, AuthError, NotFoundError, ServiceError

from tests.fakes.modal_server import FakeModal


@pytest.fixture
def client(fake_modal: FakeModal):
    with modal.Client.from_credentials(fake_modal.token_id, fake_modal.token_secret) as c:
        yield c


def test_tokens_are_checked_and_never_echoed(fake_modal):
    with modal.Client.from_credentials(fake_modal.token_id, "as-wrongSecret123") as bad, pytest.raises(AuthError) as info:
        modal.Secret.objects.create("x", {"A": "1"}, environment_name="main", client=bad)
    assert "as-wrongSecret123" not in str(info.value)
    assert fake_modal.state.named_secret("main", "x") is None
    # The recording keeps the token id (it identifies the caller) but never the secret.
    recorded = fake_modal.calls_to("SecretGetOrCreate")[-1]
    assert recorded.status == "UNAUTHENTICATED"
    assert recorded.metadata["x-modal-token-secret"] == "[redacted]"


def test_secrets_round_trip_per_environment(fake_modal, client):
    modal.Secret.objects.create("api", {"K": "v1"}, environment_name="main", client=client)
    modal.Secret.objects.create("api", {"K": "v2"}, environment_name="dev", client=client)
    with pytest.raises(AlreadyExistsError):
        modal.Secret.objects.create("api", {"K": "v3"}, environment_name="main", client=client)
    assert fake_modal.state.named_secret("main", "api").env == {"K": "v1"}
    assert fake_modal.state.named_secret("dev", "api").env == {"K": "v2"}
    assert [s.name for s in modal.Secret.objects.list(environment_name="dev", client=client)] == ["api"]
    modal.Secret.objects.delete("api", environment_name="main", client=client)
    with pytest.raises(NotFoundError):
        modal.Secret.from_name("api", environment_name="main", client=client).hydrate()


def test_unknown_environment_is_not_found(client):
    with pytest.raises(NotFoundError, match="Environment 'staging' not found"):
        modal.Volume.objects.create("v", environment_name="staging", client=client)


@pytest.mark.parametrize("version", [1, 2])
def test_volume_uploads_small_and_blob_sized_files(fake_modal, client, tmp_path, version):
    big = os.urandom(5 * 1024 * 1024)  # >= 4 MiB goes through BlobCreate and an HTTP PUT (v1)
    (tmp_path / "big.bin").write_bytes(big)
    modal.Volume.objects.create("data", environment_name="main", client=client, version=version)
    volume = modal.Volume.from_name("data", environment_name="main", client=client)
    with volume.batch_upload() as batch:
        batch.put_file(tmp_path / "big.bin", "/ckpt/big.bin")
        batch.put_file(io.BytesIO(b"hello"), "/ckpt/small.txt")
    stored = fake_modal.state.named_volume("main", "data")
    assert fake_modal.state.volume_bytes(stored, "ckpt/big.bin") == big
    assert fake_modal.state.volume_bytes(stored, "ckpt/small.txt") == b"hello"
    assert {e.path: e.size for e in volume.listdir("/ckpt")} == {"ckpt/big.bin": len(big), "ckpt/small.txt": 5}
    methods = set(fake_modal.methods())
    assert ("BlobCreate" in methods) == (version == 1)
    assert ("VolumePutFiles2" in methods) == (version == 2)


def test_injected_unavailable_is_retried_by_the_client(fake_modal, client):
    fake_modal.inject("SecretGetOrCreate", Status.UNAVAILABLE, times=2)
    modal.Secret.objects.create("s", {"A": "1"}, environment_name="main", client=client)
    statuses = [c.status for c in fake_modal.calls_to("SecretGetOrCreate")]
    assert statuses == ["UNAVAILABLE", "UNAVAILABLE", "OK"]


def test_injected_faults_surface_once_retries_are_spent(fake_modal, client):
    fake_modal.inject("VolumeGetOrCreate", Status.DEADLINE_EXCEEDED, times=100)
    with pytest.raises(ServiceError, match="injected DEADLINE_EXCEEDED"):
        modal.Volume.objects.create("v", environment_name="main", client=client)
    assert len(fake_modal.calls_to("VolumeGetOrCreate")) == 4  # the client's 1 + 3 retries
    fake_modal.clear_faults()
    fake_modal.inject("SecretGetOrCreate", Status.NOT_FOUND, message="Secret 'x' not found")
    with pytest.raises(NotFoundError):
        modal.Secret.from_name("x", environment_name="main", client=client).hydrate()


def test_calls_to_rpcs_the_fake_does_not_implement_are_listed(fake_modal, client):
    fake_modal.expect_unimplemented = True
    with pytest.raises(Exception, match="does not implement"):
        modal.Dict.objects.create("d", environment_name="main", client=client)
    assert fake_modal.unimplemented == ["DictGetOrCreate"]


def test_the_rest_of_the_faked_surface_works_with_the_client(fake_modal, client):
    client.hello()  # ClientHello
    modal.Secret.objects.create("s", {"A": "1"}, environment_name="main", client=client)
    secret = modal.Secret.from_name("s", environment_name="main", client=client)
    secret.update({"B": "2"})  # SecretUpdate merges keys in place
    assert secret.info(refresh=True).environment_name == "main"  # SecretGetInfo
    assert fake_modal.state.named_secret("main", "s").env == {"A": "1", "B": "2"}
    modal.Volume.objects.create("v1", environment_name="main", client=client)
    modal.Volume.objects.create("v2", environment_name="main", client=client, version=2)
    assert {v.name for v in modal.Volume.objects.list(environment_name="main", client=client)} == {"v1", "v2"}
    with modal.Volume.ephemeral(client=client, environment_name="main", _heartbeat_sleep=0.05) as scratch:
        deadline = time.monotonic() + 10
        while not fake_modal.calls_to("VolumeHeartbeat") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fake_modal.calls_to("VolumeHeartbeat")[0].request.volume_id == scratch.object_id
    v2 = modal.Volume.from_name("v2", environment_name="main", client=client)
    with v2.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"x"), "/a/x.txt")
        batch.put_file(io.BytesIO(b"y"), "/a/y.txt")
    v2.remove_file("/a", recursive=True)  # VolumeRemoveFile2
    assert fake_modal.state.named_volume("main", "v2").files == {}

    app = modal.App("tiny")
    app.function(serialized=True, name="first")(lambda: None)
    app.deploy(name="tiny", environment_name="main", client=client)
    # an identical redeploy is a no-op: no new version (Modal reports deployed_at 0)
    app.deploy(name="tiny", environment_name="main", client=client)
    assert fake_modal.state.deployed_app("main", "tiny").version == 1
    app.function(serialized=True, name="second")(lambda: None)
    app.deploy(name="tiny", environment_name="main", client=client, strategy="recreate")
    assert fake_modal.calls_to("TaskList")  # recreate looks for old containers to stop
    info = modal.App.lookup("tiny", environment_name="main", client=client).info(refresh=True)  # AppGetInfo
    assert info.lifecycle.version == 2 and set(info.functions) == {"first", "second"}


def test_v2_volumes_keep_trailing_zero_bytes_the_client_leaves_out(fake_modal, client, tmp_path):
    """The client omits trailing zeros from each block; the stored file must still be byte-exact."""
    data = os.urandom(9 * 1024 * 1024 - 100) + b"\0" * 100  # a second block ending in zeros
    data = data[: 8 * 1024 * 1024 - 7] + b"\0" * 7 + data[8 * 1024 * 1024 :]  # and so does the first
    (tmp_path / "zeros.bin").write_bytes(data)
    modal.Volume.objects.create("z", environment_name="main", client=client, version=2)
    volume = modal.Volume.from_name("z", environment_name="main", client=client)
    with volume.batch_upload() as batch:
        batch.put_file(tmp_path / "zeros.bin", "/zeros.bin")
    assert fake_modal.state.volume_bytes(fake_modal.state.named_volume("main", "z"), "zeros.bin") == data
