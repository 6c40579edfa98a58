"""Defects the Modal providers showed when their whole lifecycle was tried (issue 13).

Each test here failed before its fix: the fix is named in the test's docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.config import Model
from components.offline import PlanMocks, run_program, unwrap
from components.providers.modal.app import AppProvider
from components.providers.modal.volume import VolumeProvider
from tests.modal.helpers import configured


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


@pytest.mark.parametrize("version", [1, 2])
def test_a_seed_update_succeeds_when_a_seeded_file_is_already_gone(fake_modal, tmp_path, version):
    """modal 1.6's `Volume.remove_file` raises FileNotFoundError (not NotFoundError) for a path that
    is not there: removing what the old seed put there must treat "already gone" as done."""
    first = _write(tmp_path / "first", {"keep.txt": b"keep", "old.txt": b"old"})
    second = _write(tmp_path / "second", {"keep.txt": b"keep"})
    provider = configured(VolumeProvider(), fake_modal)
    inputs = {"name": "ckpt", "environment": "main", "version": version, "seedDir": str(first), "seedPath": "/w"}
    created = provider.create(provider.check({}, inputs).inputs)
    # Someone cleaned the volume by hand (`modal volume rm`): the file the next update would remove is gone.
    del fake_modal.state.volumes[created.id].files["w/old.txt"]

    news = provider.check(created.outs, {**inputs, "seedDir": str(second)}).inputs
    updated = provider.update(created.id, created.outs, news).outs

    assert set(fake_modal.state.volumes[created.id].files) == {"w/keep.txt"}
    assert updated["seedFiles"] == {"keep.txt": 4}


class _VolumeIds(PlanMocks):
    """Mocks that give each Modal volume the id its create returned this time (Modal's `vo-...`)."""

    volume_id = "vo-first"

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        if args.typ == "pulumi-python:dynamic/modal:Volume":
            state["volumeId"] = self.volume_id
            return self.volume_id, state
        return resource_id, state


def _app_inputs(volume_id: str) -> dict[str, Any]:
    from tests.modal.test_backend import EMBEDDER, _program

    mocks = type("Mocks", (_VolumeIds,), {"volume_id": volume_id})
    run = run_program(
        "dev", preview=False, mocks=mocks, program=_program(Model.model_validate(EMBEDDER), {}, ["T4"])
    )
    [app] = run.of_type("pulumi-python:dynamic/modal:App")
    return {k: unwrap(v) for k, v in app.inputs.items() if k != "__provider"}


def test_a_recreated_volume_changes_the_apps_inputs():
    """A deployed function holds each volume it mounts by id. When a volume is re-created (deleted in
    the dashboard, then put back by `up`), the app must redeploy, so the volume's id is one of the
    app's triggers, as a secret's id already was."""
    first, second = _app_inputs("vo-first"), _app_inputs("vo-second")
    assert first["volumes"] == second["volumes"] == {"/cache": "modelstack-dev-embedder-cache"}
    assert first["triggers"] == {"volume:/cache": "vo-first"}
    assert second["triggers"] == {"volume:/cache": "vo-second"}
    assert AppProvider().diff("ap-x", first, second).changes is True


def test_model_load_gets_modals_startup_timeout_apart_from_the_call_timeout(fake_modal, worker_requirements):
    """`@modal.enter` downloads and loads the model. Without `startup_timeout` Modal gives it the
    function's `timeout` (one call's budget): the setting must reach the deployed definition."""
    from tests.modal.test_app import _definitions, _inputs, _prepare

    provider = configured(AppProvider(), fake_modal)
    checked = provider.check({}, _inputs(_prepare(fake_modal), timeout=600, startupTimeout=1800))
    assert checked.failures == []
    provider.create(checked.inputs)
    [definition] = _definitions(fake_modal, fake_modal.state.deployed_app("main", "modelstack-dev-embedder"), "Model.*")
    assert (definition.timeout_secs, definition.startup_timeout_secs) == (600, 1800)
    # unset, the model still gets 20 minutes to load, not the call's 600 s
    assert provider.check({}, _inputs("st-x", timeout=600)).inputs["startupTimeout"] == 1200


def test_startup_timeout_comes_from_the_endpoints_modal_config():
    from tests.modal.test_backend import _program

    def startup(modal: dict[str, Any] | None) -> Any:
        endpoint = {"provider": "modal", "gpu": {"type": "T4"}, **({"modal": modal} if modal is not None else {})}
        model = Model.model_validate({"source": "hf://sentence-transformers/all-MiniLM-L6-v2", "endpoint": endpoint})
        from components.modal_options import modal_options

        opts = modal_options(model.endpoint.modal) if model.endpoint.modal else None
        run = run_program("dev", program=_program(model, {}, ["T4"], **({"modal": opts} if opts else {})))
        [app] = run.of_type("pulumi-python:dynamic/modal:App")
        return unwrap(app.inputs["startupTimeout"])

    assert startup(None) == 1200
    assert startup({"startupTimeoutSeconds": 3600}) == 3600
    with pytest.raises(ValueError, match=r"startup_?[tT]imeout_?[sS]econds"):
        Model.model_validate({
            "source": "hf://x/y",
            "endpoint": {"provider": "modal", "gpu": {"type": "T4"}, "modal": {"startupTimeoutSeconds": 90000}},
        })


def test_a_startup_timeout_beyond_modals_limit_is_refused_by_check():
    failures = AppProvider().check({}, {"name": "x", "environment": "main", "startupTimeout": 90000}).failures
    assert [f.property for f in failures] == ["startupTimeout"]
