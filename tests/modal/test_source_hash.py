"""ModalApp hashes exactly what a deploy ships (issue 13): the files the real `modal` client uploads
for the app file, as the fake control plane receives them, and nothing else.

Before the fix the hash covered the app file's top-level package (or the loose file alone), so a
loose example file that adds `inference/` to its image was not redeployed when `inference/`
changed, `inference/modal_app.py` was redeployed for a gateway edit, and a dot-file changed it.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import modal
import pytest

from components.providers.modal import shipped
from components.providers.modal.app import AppProvider, settings_env
from tests.fakes.modal_server import FakeModal
from tests.modal.helpers import configured
from tests.modal.test_app import _client, _definitions
from tests.support.dynamic_engine import REPO_ROOT

LOOSE_APP = '''
import modal

from inference.modal_settings import ModalSettings

settings = ModalSettings.from_env()
app = modal.App(settings.app_name)
image = modal.Image.debian_slim(python_version="3.11").add_local_python_source("helpers")


@app.function(image=image, timeout=settings.timeout, env=settings.container_env())
def work() -> str:
    from helpers import util

    return util.NAME
'''


def _project(tmp_path: Path) -> Path:
    """A project with a loose app file that adds its own package `helpers` to the image."""
    root = tmp_path / "project"
    (root / "helpers").mkdir(parents=True)
    (root / "app.py").write_text(textwrap.dedent(LOOSE_APP))
    (root / "helpers" / "__init__.py").write_text("")
    (root / "helpers" / "util.py").write_text('NAME = "one"\n')
    return root


def _hash(provider: AppProvider, inputs: dict) -> str:
    checked = provider.check({}, inputs)
    assert checked.failures == []
    return checked.inputs["sourceHash"]


def _uploaded(fake: FakeModal, definition) -> set[str]:
    """Paths in the container of every file the deploy mounted, the client's own mount left out."""
    return {f.filename for m in definition.mount_ids for f in fake.state.mounts[m] if f.filename.startswith("/root/")}


def test_a_loose_app_file_is_redeployed_when_a_package_its_image_adds_changes(fake_modal, tmp_path, monkeypatch):
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    provider = configured(AppProvider(), fake_modal)
    inputs = {"name": "loose", "environment": "main", "sourceFile": "app.py"}
    first = _hash(provider, inputs)

    (root / "helpers" / "util.py").write_text('NAME = "two"\n')
    assert _hash(provider, inputs) != first  # shipped: redeploys

    edited = _hash(provider, inputs)
    (root / "helpers" / ".notes").write_text("scratch")  # Modal never ships dot-files
    (root / "helpers" / "README.md").write_text("docs")  # nor, by default, anything but .py
    (root / ".env").write_text("LOCAL=1")
    assert _hash(provider, inputs) == edited


def test_the_hash_covers_exactly_the_files_the_deploy_uploads(fake_modal, tmp_path, monkeypatch):
    root = _project(tmp_path)
    (root / "helpers" / ".hidden.py").write_text("")
    monkeypatch.chdir(root)
    provider = configured(AppProvider(), fake_modal)
    checked = provider.check({}, {"name": "loose", "environment": "main", "sourceFile": "app.py"})
    outs = provider.create(checked.inputs).outs
    [definition] = _definitions(fake_modal, fake_modal.state.deployed_app("main", "loose"), "work")
    listed = shipped.shipped_files("app.py", "main", settings_env(checked.inputs), root)
    assert {remote for _, remote in listed} == _uploaded(fake_modal, definition)
    # The client's listing, not a guess: its default filter for `add_local_python_source` keeps
    # every `*.py`, a dot-prefixed one too (its docstring says otherwise), so the hash covers it.
    assert _uploaded(fake_modal, definition) == {
        "/root/app.py", "/root/helpers/__init__.py", "/root/helpers/util.py", "/root/helpers/.hidden.py",
    }
    assert outs["sourceHash"] == checked.inputs["sourceHash"]


def _copy_of_inference(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(REPO_ROOT / "inference", root / "inference", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.mark.slow
def test_our_app_file_ships_the_worker_not_the_gateway(fake_modal, tmp_path, monkeypatch, worker_requirements):
    root = _copy_of_inference(tmp_path)
    monkeypatch.chdir(root)
    provider = configured(AppProvider(), fake_modal)
    with _client(fake_modal) as client:
        modal.Volume.objects.create("embedder-cache", environment_name="main", client=client)
    inputs = {"name": "embedder", "environment": "main", "gpu": ["T4"], "volumes": {"/cache": "embedder-cache"}}
    first = _hash(provider, inputs)

    (root / "inference" / "gateway" / "api.py").write_text("# edited\n", encoding="utf-8")
    (root / "inference" / ".scratch.py").write_text("")
    assert _hash(provider, inputs) == first  # the gateway never runs in the container

    (root / "inference" / "worker" / "core.py").write_text(
        (root / "inference" / "worker" / "core.py").read_text() + "\n# edited\n"
    )
    assert _hash(provider, inputs) != first

    provider.create(provider.check({}, inputs).inputs)
    [definition] = _definitions(fake_modal, fake_modal.state.deployed_app("main", "embedder"), "Model.*")
    uploaded = _uploaded(fake_modal, definition)
    assert "/root/inference/modal_app.py" in uploaded and "/root/inference/worker/core.py" in uploaded
    assert not {f for f in uploaded if f.startswith("/root/inference/gateway/") or "/." in f}


@pytest.mark.parametrize("example", ["hatcat/modal_app.py", "modomo/sd_inference.py", "caption-boundaries/service.py"])
def test_example_app_files_ship_their_settings_module_with_them(example):
    """The seed systems' files add only what `inference.modal_settings` needs, so their hash (what
    they ship) changes with those files and not with the rest of inference/."""
    env = settings_env({"name": "example", "environment": "main", "env": {"HATCAT_REF": "0" * 40}})
    listed = shipped.shipped_files(f"examples/{example}", "main", env, REPO_ROOT)
    remote = {r for _, r in listed}
    assert remote == {
        f"/root/{Path(example).name}", "/root/inference/__init__.py", "/root/inference/contract.py",
        "/root/inference/modal_settings.py",
    }


def test_a_preview_with_unknown_settings_the_file_needs_is_not_a_failure(fake_modal, tmp_path, monkeypatch):
    from pulumi.output import Unknown

    root = tmp_path / "project"
    root.mkdir()
    (root / "app.py").write_text(textwrap.dedent('''
        import os
        import modal

        if not os.environ.get("MODELSTACK_MODAL_ENV", "").startswith('{"REF"'):
            raise RuntimeError("REF must be set")
        app = modal.App("needs-ref")

        @app.function()
        def work() -> None:
            pass
    '''))
    monkeypatch.chdir(root)
    provider = AppProvider()
    pending = provider.check({}, {"name": "needs-ref", "environment": "main", "sourceFile": "app.py", "env": {"REF": Unknown()}})
    assert pending.failures == [] and isinstance(pending.inputs["sourceHash"], Unknown)
    known = provider.check({}, {"name": "needs-ref", "environment": "main", "sourceFile": "app.py", "env": {"OTHER": "x"}})
    [failure] = known.failures
    assert failure.property == "sourceFile" and "REF must be set" in failure.reason
    assert fake_modal.calls == []
