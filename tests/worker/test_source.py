"""Which source the worker loads from, and what it asks the Hub for."""

from pathlib import Path

import pytest

from inference import env
from inference.worker import source
from inference.worker.settings import Settings

SHA = "abcdefabcdefabcdefabcdefabcdefabcdefabcd"


def settings(**variables) -> Settings:
    return Settings.from_env({k: str(v) for k, v in variables.items()})


class FakeHub:
    """Stands in for huggingface_hub's list_repo_files and snapshot_download, recording calls."""

    def __init__(self, monkeypatch, files, target: Path):
        import huggingface_hub

        self.calls: list[dict] = []
        monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda api, repo, revision=None, **kw: files)

        def snapshot_download(**kwargs):
            self.calls.append(kwargs)
            return str(target)

        monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)


def test_volume_path_wins(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    hub = FakeHub(monkeypatch, [], tmp_path)
    s = settings(**{env.MODEL_TASK: "text-generation", env.MODEL_PATH: tmp_path, env.MODEL_ID: "org/m", env.MODEL_REVISION: SHA})
    assert source.resolve_model_dir(s) == tmp_path and hub.calls == []


def test_empty_volume_falls_back_to_the_hub_at_the_pinned_sha(tmp_path, monkeypatch):
    empty = tmp_path / "volume"
    empty.mkdir()
    hub = FakeHub(monkeypatch, ["config.json", "model.safetensors", "pytorch_model.bin", "flax_model.msgpack"], tmp_path)
    s = settings(
        **{env.MODEL_TASK: "text-generation", env.MODEL_PATH: empty, env.MODEL_ID: "org/m", env.MODEL_REVISION: SHA, env.HF_TOKEN: "hf_tok1"}
    )
    assert source.resolve_model_dir(s) == tmp_path
    (call,) = hub.calls
    assert call["repo_id"] == "org/m" and call["revision"] == SHA and call["token"] == "hf_tok1"
    assert "*.bin" in call["ignore_patterns"] and "*.msgpack" in call["ignore_patterns"]


def test_pickle_weights_are_fetched_when_there_is_no_safetensors(tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch, ["config.json", "pytorch_model.bin"], tmp_path)
    s = settings(**{env.MODEL_TASK: "text-classification", env.MODEL_ID: "org/m", env.MODEL_REVISION: SHA})
    source.resolve_model_dir(s)
    assert "*.bin" not in hub.calls[0]["ignore_patterns"]


def test_custom_tasks_get_the_whole_repo(tmp_path, monkeypatch):
    hub = FakeHub(monkeypatch, ["weights.npz"], tmp_path)
    s = settings(**{env.CUSTOM_CLASS: "a:B", env.MODEL_ID: "org/m", env.MODEL_REVISION: SHA})
    source.resolve_model_dir(s)
    assert hub.calls[0]["ignore_patterns"] is None


def test_missing_volume_without_another_source_is_an_error(tmp_path):
    s = settings(**{env.MODEL_TASK: "text-generation", env.MODEL_PATH: tmp_path / "nope"})
    with pytest.raises(FileNotFoundError, match="missing or empty"):
        source.resolve_model_dir(s)


def test_custom_class_without_a_model_needs_no_directory():
    assert source.resolve_model_dir(settings(**{env.CUSTOM_CLASS: "a:B"})) is None
