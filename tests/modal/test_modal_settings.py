"""The settings channel between a ModalApp deploy and the app file it imports."""

from __future__ import annotations

import pytest

from inference import modal_settings
from inference.modal_settings import ModalSettings


def test_round_trip_through_the_environment():
    settings = ModalSettings(
        app_name="hatcat", environment="dev", gpu=["T4", "A10G"], min_containers=1, max_containers=3,
        buffer_containers=1, scaledown_window=300, timeout=900, secrets=["huggingface", "wasabi-credentials"],
        volumes={"/models": "hatcat-models", "/data": "hatcat-data"}, env={"HF_HOME": "/models/hf"},
        warm_schedule="*/15 8-18 * * 1-5", proxy_auth=False,
    )
    assert ModalSettings.from_env(settings.to_env()) == settings
    assert settings.to_env()[modal_settings.PROXY_AUTH] == "false"
    assert settings.gpu_arg == ["T4", "A10G"]
    assert ModalSettings(app_name="x", gpu=["L4:2"]).gpu_arg == "L4:2"
    assert ModalSettings(app_name="x").gpu_arg is None
    # the containers see the same settings, so Modal's re-import there builds the same app
    assert ModalSettings.from_env(settings.container_env()) == settings
    assert settings.container_env()["HF_HOME"] == "/models/hf"


def test_a_hand_run_modal_deploy_is_told_what_to_do():
    with pytest.raises(RuntimeError, match="deploy this app through modelstack"):
        ModalSettings.from_env({})


def test_malformed_json_is_rejected():
    with pytest.raises(ValueError, match="MODELSTACK_MODAL_VOLUMES must be a JSON object of strings"):
        ModalSettings.from_env({modal_settings.APP_NAME: "x", modal_settings.VOLUMES: '{"/data": 3}'})


def test_web_endpoints_require_proxy_auth_unless_turned_off():
    assert ModalSettings(app_name="x").proxy_auth is True
    assert ModalSettings.from_env({modal_settings.APP_NAME: "x"}).proxy_auth is True
    on = ModalSettings(app_name="x").to_env()
    assert on[modal_settings.PROXY_AUTH] == "true" and ModalSettings.from_env(on).proxy_auth is True
    for off in ("false", "False", "0", "no"):
        assert ModalSettings.from_env({modal_settings.APP_NAME: "x", modal_settings.PROXY_AUTH: off}).proxy_auth is False


def test_a_mistyped_proxy_auth_flag_fails_instead_of_guessing():
    # A typo must not silently make a GPU endpoint public (or private).
    with pytest.raises(ValueError, match="MODELSTACK_MODAL_PROXY_AUTH must be true or false"):
        ModalSettings.from_env({modal_settings.APP_NAME: "x", modal_settings.PROXY_AUTH: "flase"})
