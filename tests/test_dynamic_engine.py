"""The harness that drives dynamic providers through the SDK's provider server works as the engine does."""

import json

from pulumi.runtime import rpc

from tests.support.dynamic_engine import DynamicEngine
from tests.support.notes_provider import NotesProvider


def test_lifecycle_through_the_provider_server(tmp_path):
    store = tmp_path / "notes.json"
    provider = NotesProvider(str(store))
    with DynamicEngine({"modelstack:credentials": json.dumps({"hfToken": "t"})}) as engine:
        assert engine.preview(provider, {"text": rpc.UNKNOWN}) is None  # unknowns pass Check

        state = engine.up(provider, {"text": "hello", "token": rpc.wrap_rpc_secret("s3cr3t")})
        assert json.loads(store.read_text()) == {state.id: {"text": "hello", "token": "s3cr3t"}}
        # configure() ran in the server process with the stack config
        assert state.outputs["configured"] == "credentials"
        # a secret input keeps its secrecy on the output of the same name
        assert rpc.is_rpc_secret(state.outputs["token"])
        assert state.secret_outputs == {"token"}

        same = engine.up(provider, {"text": "hello", "token": rpc.wrap_rpc_secret("s3cr3t")}, state)
        assert same is state

        updated = engine.up(provider, {"text": "bye", "token": rpc.wrap_rpc_secret("s3cr3t")}, state)
        assert updated.id == state.id
        assert json.loads(store.read_text())[state.id]["text"] == "bye"

        store.write_text(json.dumps({}))  # deleted out of band
        assert engine.refresh(provider, updated) is None

        engine.destroy(provider, updated)
    assert "s3cr3t" not in engine.server_log()


def test_check_failures_are_reported(tmp_path):
    provider = NotesProvider(str(tmp_path / "n.json"))
    with DynamicEngine() as engine:
        _, failures = engine.check(provider, {}, {"text": 3})
    assert failures == [("text", "text must be a string")]
