"""The fake Modal refuses what the real one refuses, and rolls back and stops apps and containers as
the dashboard and the `modal` CLI do (tests/fakes/modal_rules.py), all through the real client:
the ModalApp provider names the input a refusal is about, and its `read` (refresh) reports a
rolled-back or stopped app as drift."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import modal
import pytest
from click.testing import CliRunner
from modal.cli.entry_point import entrypoint_cli
from modal.client import _Client
from modal.output import enable_output

from components.providers.modal.app import AppProvider
from components.providers.modal.session import ModalProviderError
from tests.fakes import modal_rules
from tests.fakes.modal_server import FakeModal
from tests.modal.helpers import configured
from tests.modal.test_app import _container_env, _definitions

APP = '''
import modal

from inference.modal_settings import ModalSettings

settings = ModalSettings.from_env()
app = modal.App(settings.app_name)
image = modal.Image.debian_slim(python_version="3.11").add_local_python_source("inference")


@app.function(
    image=image, gpu=settings.gpu_arg, min_containers=settings.min_containers, timeout={timeout},
    env=settings.container_env(), {extra}
)
def work() -> str:
    return "ok"
{more}
'''


def _app_file(tmp_path: Path, timeout: int = 300, extra: str = "", more: str = "", name: str = "app.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(APP.format(timeout=timeout, extra=extra, more=more)))
    return str(path)


def _deploy(fake: FakeModal, source: str, **inputs: object) -> dict:
    provider = configured(AppProvider(), fake)
    checked = provider.check({}, {"name": "work-app", "environment": "main", "sourceFile": source, **inputs})
    assert checked.failures == []
    return provider.create(checked.inputs).outs


def _cli(fake: FakeModal, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """One `modal` CLI command, as a person runs it against the workspace. The `modal` executable runs
    its commands under `enable_output()` (modal/__main__.py); without it tables print nothing."""
    monkeypatch.setenv("MODAL_TOKEN_ID", fake.token_id)
    monkeypatch.setenv("MODAL_TOKEN_SECRET", fake.token_secret)
    try:
        with enable_output():
            result = CliRunner().invoke(entrypoint_cli, list(args), catch_exceptions=False)
    finally:
        _close_cli_client()
        monkeypatch.delenv("MODAL_TOKEN_ID")
        monkeypatch.delenv("MODAL_TOKEN_SECRET")
    assert result.exit_code == 0, result.output
    return result.output


def _close_cli_client() -> None:
    """The CLI keeps one client per process (`Client.from_env`), bound to this test's fake server;
    close it so the next test's CLI call connects to its own fake."""
    if _Client._client_from_env is not None:
        modal.Client.from_env().close()


# ------------------------------------------------------------------------------------ refusals

LABELLED = '''
@app.function(image=image)
@modal.fastapi_endpoint(label="{label}")
def {name}() -> str:
    return "ok"
'''


@pytest.mark.parametrize(
    ("inputs", "app_file", "key", "said"),
    [
        ({"gpu": ["A100-70GB"]}, {}, "gpu", "A100-70GB is not a valid GPU type"),
        ({"gpu": ["A10G:5"]}, {}, "gpu", "A10G supports 1 to 4 GPUs per container, not 5"),
        ({"gpu": ["H100:9"]}, {}, "gpu", "H100 supports 1 to 8 GPUs per container, not 9"),
        ({}, {"timeout": 90000}, "timeout", "timeout must be at most 24 hours (86400s), not 90000s"),
        ({}, {"extra": "startup_timeout=90000,"}, "startupTimeout", "startup timeout must be at most 24 hours"),
        ({}, {"extra": 'schedule=modal.Cron("61 * * * *"),'}, "warmSchedule", "'61' is not between 0 and 59"),
        ({}, {"extra": 'schedule=modal.Cron("0 9 * *"),'}, "warmSchedule", "has 5 fields"),
        (
            {},
            {"more": LABELLED.format(label="api", name="one") + LABELLED.format(label="api", name="two")},
            "webEndpoints",
            "Web endpoint label 'api' is used by both one and two",
        ),
    ],
)
def test_modal_refuses_bad_settings_and_the_error_names_the_input(fake_modal, tmp_path, inputs, app_file, key, said):
    source = _app_file(tmp_path, **app_file)
    with pytest.raises(ModalProviderError) as info:
        _deploy(fake_modal, source, **inputs)
    message = str(info.value)
    assert f"Modal refused `{key}`" in message and said in message
    assert "InvalidError" not in message and fake_modal.token_secret not in message
    assert fake_modal.state.deployed_app("main", "work-app") is None  # nothing went live


def test_a_label_another_deployed_app_holds_is_refused(fake_modal, tmp_path):
    _deploy(fake_modal, _app_file(tmp_path, more=LABELLED.format(label="shared", name="hook"), name="a.py"))
    with pytest.raises(ModalProviderError, match="Modal refused `webEndpoints`: Web endpoint label 'shared' is already in use by app 'work-app'"):
        provider = configured(AppProvider(), fake_modal)
        source = _app_file(tmp_path, more=LABELLED.format(label="shared", name="other"), name="b.py")
        provider.create(provider.check({}, {"name": "other-app", "environment": "main", "sourceFile": source}).inputs)
    assert fake_modal.state.deployed_app("main", "other-app") is None


@pytest.mark.parametrize("cron", ["*/15 8-18 * * 1-5", "0 9 * * THU", "5 4 * * *", "0 0 1,15 JAN-MAR 0", "30 6 * * 7"])
def test_the_fake_takes_the_crons_modal_takes(cron):
    assert modal_rules.cron_problem(cron) is None


# ------------------------------------------------------------------------------------ rollback


def test_a_rollback_in_the_dashboard_restores_the_old_definitions_and_read_reports_drift(
    fake_modal, tmp_path, monkeypatch
):
    source = _app_file(tmp_path)
    provider = configured(AppProvider(), fake_modal)
    first = _deploy(fake_modal, source, env={"RELEASE": "one"})
    news = provider.check(first, {**first, "env": {"RELEASE": "two"}}).inputs
    second = provider.update(first["appId"], first, news).outs
    app = fake_modal.state.deployed_app("main", "work-app")
    assert second["version"] == 2 and _container_env(fake_modal, _definitions(fake_modal, app, "work")[0])["RELEASE"] == "two"

    # `modal app rollback work-app` (the dashboard's Rollback button calls the same RPC): v1, as v3
    _cli(fake_modal, monkeypatch, "app", "rollback", "work-app", "--env", "main")
    assert app.version == 3
    assert _container_env(fake_modal, _definitions(fake_modal, app, "work")[0])["RELEASE"] == "one"
    history = json.loads(_cli(fake_modal, monkeypatch, "app", "history", "work-app", "--env", "main", "--json"))
    assert [row["version"] for row in history] == ["v3", "v2", "v1"]  # a rollback is a new deployment

    refreshed = provider.read(second["appId"], second)
    assert refreshed.id == second["appId"] and refreshed.outs["version"] == 3
    assert refreshed.outs["sourceHash"].startswith("drifted: version 3")
    # `up` after the refresh sees a change and puts v2's definitions back, as v4
    assert provider.diff(second["appId"], refreshed.outs, news).changes is True
    assert provider.update(second["appId"], refreshed.outs, news).outs["version"] == 4
    assert _container_env(fake_modal, _definitions(fake_modal, app, "work")[0])["RELEASE"] == "two"


def test_a_rollback_to_a_version_that_does_not_exist_is_refused(fake_modal, tmp_path, monkeypatch):
    _deploy(fake_modal, _app_file(tmp_path))
    monkeypatch.setenv("MODAL_TOKEN_ID", fake_modal.token_id)
    monkeypatch.setenv("MODAL_TOKEN_SECRET", fake_modal.token_secret)
    try:
        result = CliRunner().invoke(entrypoint_cli, ["app", "rollback", "work-app", "--env", "main"])
    finally:
        _close_cli_client()
    assert result.exit_code != 0 and "no version v0 to roll back to" in str(result.exception)


def test_an_app_stopped_in_the_dashboard_is_gone_on_refresh_and_up_deploys_it_again(fake_modal, tmp_path, monkeypatch):
    source = _app_file(tmp_path)
    provider = configured(AppProvider(), fake_modal)
    outs = _deploy(fake_modal, source, minContainers=1)
    assert len(modal_rules.running(fake_modal.state, outs["appId"])) == 1

    _cli(fake_modal, monkeypatch, "app", "stop", "work-app", "--env", "main", "--yes")
    assert modal_rules.running(fake_modal.state, outs["appId"]) == []
    assert provider.read(outs["appId"], outs).id == ""  # refresh drops it from state
    again = provider.create(provider.check({}, {k: outs[k] for k in ("name", "environment", "sourceFile", "minContainers")}).inputs).outs
    assert again["appId"] != outs["appId"] and fake_modal.state.deployed_app("main", "work-app").app_id == again["appId"]


# ------------------------------------------------------------------------------------ containers


def test_modal_container_stop_stops_one_container(fake_modal, tmp_path, monkeypatch):
    outs = _deploy(fake_modal, _app_file(tmp_path), minContainers=2)
    first, second = modal_rules.running(fake_modal.state, outs["appId"])
    listed = _cli(fake_modal, monkeypatch, "container", "list", "--json")
    assert first.task_id in listed and second.task_id in listed
    _cli(fake_modal, monkeypatch, "container", "stop", first.task_id, "--yes")
    assert [t.task_id for t in modal_rules.running(fake_modal.state, outs["appId"])] == [second.task_id]


@pytest.mark.parametrize(("strategy", "old_left"), [("recreate", 0), ("rolling", 1)])
def test_a_recreate_deploy_stops_the_old_versions_containers(fake_modal, tmp_path, strategy, old_left):
    provider = configured(AppProvider(), fake_modal)
    first = _deploy(fake_modal, _app_file(tmp_path), minContainers=1, env={"RELEASE": "one"}, strategy=strategy)
    news = provider.check(first, {**first, "env": {"RELEASE": "two"}}).inputs
    provider.update(first["appId"], first, news)
    versions = sorted(t.version for t in modal_rules.running(fake_modal.state, first["appId"]))
    assert versions == [1] * old_left + [2]
    stops = fake_modal.calls_to("ContainerStop")
    assert len(stops) == (1 if strategy == "recreate" else 0)
