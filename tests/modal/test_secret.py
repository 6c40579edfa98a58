"""ModalSecret against the fake control plane, through the real `modal` client."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import modal
import pytest
from grpclib import Status
from pulumi.output import Unknown
from pulumi.runtime import rpc

from components.providers.modal.secret import SecretProvider
from components.providers.modal.session import ModalProviderError
from tests.modal.helpers import configured
from tests.support.dynamic_engine import DynamicEngine, ProviderError

FIRST = {"HF_TOKEN": "hf_first_value_123", "WASABI_SECRET_KEY": "wasabi-first-456"}
SECOND = {"HF_TOKEN": "hf_second_value_789"}


def _inputs(values: dict[str, str], environment: str = "main", name: str = "modelstack-dev-env") -> dict:
    return {"name": name, "environment": environment, "values": rpc.wrap_rpc_secret(values)}


def _assert_no_plaintext(text: str) -> None:
    for value in (*FIRST.values(), *SECOND.values()):
        assert value not in text


def test_lifecycle_through_the_provider_server(fake_modal, engine: DynamicEngine):
    provider = SecretProvider()

    # preview of a new resource: Check and nothing else, with the values not known yet
    assert engine.preview(provider, {"name": "modelstack-dev-env", "environment": "main", "values": rpc.UNKNOWN}) is None
    assert fake_modal.calls == []

    state = engine.up(provider, _inputs(FIRST))
    stored = fake_modal.state.named_secret("main", "modelstack-dev-env")
    assert stored.env == FIRST
    assert state.id == "main/modelstack-dev-env"
    assert state.outputs["secretId"] == stored.secret_id
    assert state.outputs["keys"] == sorted(FIRST)
    # the values stay secret in state: the engine re-marks the same-named output
    assert rpc.is_rpc_secret(state.outputs["values"])
    assert state.secret_outputs == {"values"}

    # no-op: same values, preview and up make no Modal call at all
    fake_modal.reset_calls()
    assert engine.preview(provider, _inputs(FIRST), state).changes is False
    assert engine.up(provider, _inputs(FIRST), state) is state
    assert fake_modal.calls == []

    # update: new values re-create the secret under the same name; the resource id is stable
    updated = engine.up(provider, _inputs(SECOND), state)
    now = fake_modal.state.named_secret("main", "modelstack-dev-env")
    assert now.env == SECOND
    assert updated.id == state.id
    assert updated.outputs["secretId"] == now.secret_id != state.outputs["secretId"]
    assert len([s for s in fake_modal.state.secrets.values() if s.name]) == 1  # no orphan

    # rollback to the first values
    rolled = engine.up(provider, _inputs(FIRST), updated)
    assert fake_modal.state.named_secret("main", "modelstack-dev-env").env == FIRST

    # refresh after someone re-created it by hand: content unknown, so the next up rewrites it
    with modal.Client.from_credentials(fake_modal.token_id, fake_modal.token_secret) as client:
        modal.Secret.objects.delete("modelstack-dev-env", environment_name="main", client=client)
        modal.Secret.objects.create("modelstack-dev-env", {"HF_TOKEN": "typed-by-hand"}, environment_name="main", client=client)
    refreshed = engine.refresh(provider, rolled)
    assert refreshed is not None and refreshed.outputs["valuesHash"] == ""
    healed = engine.up(provider, _inputs(FIRST), refreshed)
    assert fake_modal.state.named_secret("main", "modelstack-dev-env").env == FIRST

    # refresh after it was deleted by hand: dropped from state
    with modal.Client.from_credentials(fake_modal.token_id, fake_modal.token_secret) as client:
        modal.Secret.objects.delete("modelstack-dev-env", environment_name="main", client=client)
    assert engine.refresh(provider, healed) is None

    # delete is idempotent: already gone is success
    engine.destroy(provider, healed)
    again = engine.up(provider, _inputs(FIRST))
    engine.destroy(provider, again)
    assert fake_modal.state.named_secret("main", "modelstack-dev-env") is None

    _assert_no_plaintext(engine.server_log())


def test_rename_or_move_is_a_replace(engine: DynamicEngine, fake_modal):
    provider = SecretProvider()
    state = engine.up(provider, _inputs(FIRST))
    assert engine.preview(provider, _inputs(FIRST, name="other"), state).replaces == ["name"]
    diff = engine.preview(provider, _inputs(FIRST, environment="dev"), state)
    assert diff.replaces == ["environment"] and diff.delete_before_replace is False
    moved = engine.up(provider, _inputs(FIRST, environment="dev"), state)
    assert fake_modal.state.named_secret("dev", "modelstack-dev-env").env == FIRST
    assert fake_modal.state.named_secret("main", "modelstack-dev-env") is None
    assert moved.id == "dev/modelstack-dev-env"


def test_environment_is_explicit_and_modal_environment_is_ignored(fake_modal, monkeypatch):
    monkeypatch.setenv("MODAL_ENVIRONMENT", "prod")  # the classic mistake
    provider = configured(SecretProvider(), fake_modal)
    provider.create(provider.check({}, {"name": "s", "environment": "dev", "values": FIRST}).inputs)
    assert fake_modal.state.named_secret("dev", "s") is not None
    assert fake_modal.state.named_secret("prod", "s") is None
    assert {c.request.environment_name for c in fake_modal.calls_to("SecretGetOrCreate")} == {"dev"}

    failures = provider.check({}, {"name": "s", "values": FIRST}).failures
    assert [f.property for f in failures] == ["environment"]
    assert "explicitly" in failures[0].reason


def test_check_reports_bad_inputs_without_echoing_values():
    result = SecretProvider().check({}, {"name": "bad name!", "environment": "main", "values": {"1X": "s3cr3t-value", "OK": 5}})
    assert {f.property for f in result.failures} == {"name", "values.1X", "values.OK"}
    assert "s3cr3t-value" not in repr([f.reason for f in result.failures])


def test_unknowns_pass_check_and_diff_as_a_change():
    provider = SecretProvider()
    result = provider.check({}, {"name": Unknown(), "environment": "main", "values": {"A": Unknown()}})
    assert result.failures == []
    olds = {"name": "s", "environment": "main", "salt": "00" * 16, "valuesHash": "x"}
    diff = provider.diff("main/s", olds, {"name": "s", "environment": "main", "values": {"A": rpc.UNKNOWN}})
    assert diff.changes is True and diff.replaces == []


def test_create_adopts_a_secret_left_by_an_earlier_failed_attempt(fake_modal):
    with modal.Client.from_credentials(fake_modal.token_id, fake_modal.token_secret) as client:
        modal.Secret.objects.create("s", {"STALE": "x"}, environment_name="main", client=client)
    provider = configured(SecretProvider(), fake_modal)
    result = provider.create({"name": "s", "environment": "main", "values": FIRST})
    stored = fake_modal.state.named_secret("main", "s")
    assert stored.env == FIRST and result.outs["secretId"] == stored.secret_id


def test_bad_token_names_the_resource_operation_and_fix(fake_modal):
    provider = configured(SecretProvider(), fake_modal, modalTokenSecret="as-not-the-right-one")
    with pytest.raises(ModalProviderError) as info:
        provider.create({"name": "s", "environment": "main", "values": FIRST})
    message = str(info.value)
    assert message.startswith("modal Secret 's' (environment 'main'): create failed: Modal rejected the token")
    assert "credentials.modalTokenId" in message and "MODAL_TOKEN_ID" in message
    assert "as-not-the-right-one" not in message
    _assert_no_plaintext(message)


def test_missing_token_says_how_to_set_it(fake_modal):
    provider = configured(SecretProvider(), None)
    with pytest.raises(ModalProviderError, match=r"no Modal token: set credentials\.modalTokenId"):
        provider.read("main/s", {"name": "s", "environment": "main"})
    assert fake_modal.calls == []


def test_token_falls_back_to_the_environment(fake_modal, monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_ID", fake_modal.token_id)
    monkeypatch.setenv("MODAL_TOKEN_SECRET", fake_modal.token_secret)
    provider = configured(SecretProvider(), None)
    assert provider.read("main/s", {"name": "s", "environment": "main"}).id == ""


@pytest.mark.slow
def test_transient_faults_are_retried_within_bounds(fake_modal):
    provider = configured(SecretProvider(), fake_modal)
    # 6 UNAVAILABLE answers outlast the client's own 3 retries; the provider's outer retry absorbs them
    fake_modal.inject("SecretGetOrCreate", Status.UNAVAILABLE, times=6)
    provider.create({"name": "s", "environment": "main", "values": FIRST})
    assert fake_modal.state.named_secret("main", "s").env == FIRST

    fake_modal.inject("SecretGetOrCreate", Status.UNAVAILABLE, times=1000)
    before = len(fake_modal.calls_to("SecretGetOrCreate"))
    started = time.monotonic()
    with pytest.raises(ModalProviderError) as info:
        provider.read("main/s", {"name": "s", "environment": "main"})
    elapsed = time.monotonic() - started
    assert "read failed: ServiceError: injected UNAVAILABLE" in str(info.value)
    assert "after 3 attempts" in str(info.value)
    assert len(fake_modal.calls_to("SecretGetOrCreate")) - before == 3 * 4  # 3 attempts x (1 + 3 client retries)
    assert elapsed < 15


def test_one_provider_serves_concurrent_operations(fake_modal):
    """The provider server runs up to 4 operations at once on one provider object."""
    provider = configured(SecretProvider(), fake_modal)
    names = [f"s{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda n: provider.create({"name": n, "environment": "main", "values": {"K": n}}), names))
    assert {n: fake_modal.state.named_secret("main", n).env["K"] for n in names} == {n: n for n in names}


def test_not_found_on_delete_is_success(fake_modal):
    provider = configured(SecretProvider(), fake_modal)
    provider.delete("main/gone", {"name": "gone", "environment": "main"})
    fake_modal.inject("SecretGetOrCreate", Status.NOT_FOUND, message="Secret 'x' not found")
    assert provider.read("main/x", {"name": "x", "environment": "main"}).id == ""


def test_errors_through_the_provider_server_hold_no_secret(fake_modal):
    with DynamicEngine({"modelstack:credentials": '{"modalTokenId": "ak-x", "modalTokenSecret": "as-leaky"}'},
                       env={"MODAL_SERVER_URL": fake_modal.url}) as engine:
        with pytest.raises(ProviderError) as info:
            engine.up(SecretProvider(), _inputs(FIRST))
        log = engine.server_log()
    assert "create failed: Modal rejected the token" in info.value.details
    for text in (info.value.details, log):
        _assert_no_plaintext(text)
        assert "as-leaky" not in text
