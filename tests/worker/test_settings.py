"""The worker's environment contract: parsed once, every problem named, secrets kept out of sight."""

from typing import get_args

import pytest

from components.config import Task
from inference import env
from inference.worker.settings import TASKS, Settings, SettingsError

SHA = "0123456789abcdef0123456789abcdef01234567"


def test_task_list_matches_the_stack_config():
    assert set(TASKS) == set(get_args(Task))


def test_full_environment_parses():
    settings = Settings.from_env(
        {
            env.MODEL_KEY: "flux",
            env.MODEL_ID: "org/name",
            env.MODEL_REVISION: SHA,
            env.MODEL_TASK: "text-generation",
            env.CALLBACK_URL: "https://gw.example/callbacks/worker",
            env.CALLBACK_SECRET: "s3cret-value",
            env.HF_TOKEN: "hf_abcdefgh",
            env.HF_HOME: "/cache/huggingface",
            env.LOAD_THREADS: "8",
            env.DIRECT_IO: "off",
            env.STACK: "dev",
            "RUNPOD_ENDPOINT_ID": "ep-123",
            "RUNPOD_POD_ID": "pod-9",
        }
    )
    assert settings.model_key == "flux" and settings.revision == SHA and settings.load_threads == 8
    assert settings.provider == "runpod" and settings.endpoint_id == "ep-123" and settings.worker_id == "pod-9"
    assert str(settings.cache_dir) == "/cache/huggingface/modelstack"
    assert "s3cret-value" not in repr(settings) and "hf_abcdefgh" not in repr(settings)
    assert settings.redact("token hf_abcdefgh and s3cret-value") == "token *** and ***"


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        Settings.from_env(
            {
                env.MODEL_TASK: "summarize",
                env.MODEL_ID: "not a repo",
                env.MODEL_REVISION: "main",
                env.CALLBACK_URL: "https://gw.example/cb",
                env.LOAD_THREADS: "lots",
                env.DIRECT_IO: "sometimes",
            }
        )
    text = str(info.value)
    for expected in (
        "MODELSTACK_MODEL_TASK='summarize'",
        "MODELSTACK_MODEL_ID='not a repo'",
        "40-character commit sha",
        "MODELSTACK_CALLBACK_SECRET is required",
        "MODELSTACK_LOAD_THREADS",
        "MODELSTACK_DIRECT_IO",
    ):
        assert expected in text
    assert len(info.value.problems) == 6


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "MODELSTACK_MODEL_TASK is required"),
        ({env.MODEL_TASK: "text-generation"}, "set one of"),
        ({env.MODEL_TASK: "text-generation", env.MODEL_ID: "org/name"}, "MODELSTACK_MODEL_REVISION is required"),
        ({env.MODEL_TASK: "custom"}, "MODELSTACK_CUSTOM_CLASS is required"),
        ({env.MODEL_TASK: "custom", env.CUSTOM_CLASS: "no_colon"}, "module.path:ClassName"),
        ({env.MODEL_TASK: "feature-extraction", env.MODEL_MANIFEST: "https://x/manifest.json"}, "s3://bucket"),
        ({env.MODEL_TASK: "feature-extraction", env.MODEL_PATH: "/m", env.DEVICE: "tpu"}, "MODELSTACK_DEVICE"),
    ],
)
def test_incomplete_environments_are_rejected(environ, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ)


def test_custom_class_alone_implies_the_custom_task():
    settings = Settings.from_env({env.CUSTOM_CLASS: "tests.worker.custom_models:Echo"})
    assert settings.task == "custom" and settings.model_path is None


def test_modal_container_is_recognised():
    settings = Settings.from_env(
        {env.MODEL_TASK: "custom", env.CUSTOM_CLASS: "a:B", "MODAL_TASK_ID": "ta-1", env.ENDPOINT_ID: "app-x"}
    )
    assert (settings.provider, settings.endpoint_id, settings.worker_id) == ("modal", "app-x", "ta-1")
