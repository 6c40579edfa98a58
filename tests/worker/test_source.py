"""Which source the worker loads from, and what it downloads from the Hub.

The Hub is the fake (tests/fakes/hub_server.py) and the worker's own code and `huggingface_hub`
run unpatched: `list_repo_files` and `snapshot_download` page through the fake's tree and
download the files it serves. The repos hold tiny models of real architectures, saved with
`save_pretrained` in the test session (tests/worker/tiny_models.py).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from inference import env
from inference.worker import source
from inference.worker.core import Worker
from inference.worker.settings import Settings
from tests.fakes.hub_server import FakeHub

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_worker-read-token"
REPO = "acme/tiny-llama"


def settings(**variables) -> Settings:
    return Settings.from_env({k: str(v) for k, v in variables.items()})


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """The fake Hub, and huggingface_hub pointed at it as a worker started with HF_ENDPOINT is.

    The client reads HF_ENDPOINT and HF_HUB_CACHE once, when it is first imported (a worker
    container sets them before it starts); in this process it is imported already, so the values
    it derived are pointed at the fake and a per-test cache instead.
    """
    from huggingface_hub import constants

    fake = FakeHub({TOKEN: "worker"}).start()
    monkeypatch.setattr(constants, "ENDPOINT", fake.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    yield fake
    fake.stop()


def files_of(model_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in model_dir.iterdir() if p.is_file()}


def downloaded(hub: FakeHub) -> set[str]:
    return {r.path.rsplit("/", 1)[-1] for r in hub.requests if r.body}


@pytest.fixture
def llama_repo(hub: FakeHub, llama_dir: Path) -> str:
    """The tiny llama on the Hub, gated, next to weight formats the worker never loads."""
    hub.add_repo(REPO, gated="manual", access=[TOKEN], pipeline_tag="text-generation", library_name="transformers")
    extra = {"pytorch_model.bin": b"pickled duplicate", "flax_model.msgpack": b"flax duplicate", "onnx/model.onnx": b"onnx"}
    return hub.commit(REPO, {**files_of(llama_dir), **extra})


def hub_settings(sha: str, **more) -> Settings:
    return settings(**{env.MODEL_TASK: "text-generation", env.MODEL_ID: REPO, env.MODEL_REVISION: sha, env.HF_TOKEN: TOKEN, **more})


def test_volume_path_wins(tmp_path, hub, llama_repo):
    (tmp_path / "config.json").write_text("{}")
    s = hub_settings(llama_repo, **{env.MODEL_PATH: tmp_path})
    assert source.resolve_model_dir(s) == tmp_path and hub.requests == []


def test_empty_volume_falls_back_to_the_hub_at_the_pinned_sha(tmp_path, hub, llama_repo, llama_dir):
    empty = tmp_path / "volume"
    empty.mkdir()
    hub.tree_page_size = 4  # longer than a page: the client follows the Link header
    main_now = hub.commit(REPO, {"config.json": b'{"moved": true}'})  # main moves after the pin
    model_dir = source.resolve_model_dir(hub_settings(llama_repo, **{env.MODEL_PATH: empty}))
    assert model_dir.name == llama_repo != main_now
    wanted = files_of(llama_dir)
    assert {n: p.read_bytes() for n, p in files_of(model_dir).items()} == {n: p.read_bytes() for n, p in wanted.items()}
    assert not (model_dir / "onnx").exists()
    # only what loads crossed the wire: no pickled, flax or onnx duplicates next to safetensors
    assert downloaded(hub) == set(wanted)
    assert all(r.authorized for r in hub.requests if not r.path.startswith("/__cdn__/"))


def test_a_gated_repo_without_the_token_fails_with_the_hubs_answer(hub, llama_repo):
    from huggingface_hub.errors import GatedRepoError

    with pytest.raises(GatedRepoError):
        source.resolve_model_dir(settings(**{env.MODEL_TASK: "text-generation", env.MODEL_ID: REPO, env.MODEL_REVISION: llama_repo}))
    assert downloaded(hub) == set()


def test_pickle_weights_are_fetched_when_there_is_no_safetensors(hub):
    hub.add_repo("acme/pickled")
    sha = hub.commit("acme/pickled", {"config.json": b"{}", "pytorch_model.bin": b"pickled", "flax_model.msgpack": b"flax"})
    s = settings(**{env.MODEL_TASK: "text-classification", env.MODEL_ID: "acme/pickled", env.MODEL_REVISION: sha})
    model_dir = source.resolve_model_dir(s)
    assert (model_dir / "pytorch_model.bin").read_bytes() == b"pickled"
    assert downloaded(hub) == {"config.json", "pytorch_model.bin"}


def test_custom_tasks_get_the_whole_repo(hub):
    hub.add_repo("acme/custom")
    sha = hub.commit("acme/custom", {"weights.npz": b"npz", "pytorch_model.bin": b"pt", "sub/flax_model.msgpack": b"fx"})
    model_dir = source.resolve_model_dir(settings(**{env.CUSTOM_CLASS: "a:B", env.MODEL_ID: "acme/custom", env.MODEL_REVISION: sha}))
    assert (model_dir / "sub" / "flax_model.msgpack").read_bytes() == b"fx"
    assert downloaded(hub) == {"weights.npz", "pytorch_model.bin", "flax_model.msgpack"}


def test_a_rate_limited_listing_is_waited_out(hub, llama_repo, llama_dir, monkeypatch):
    from huggingface_hub.utils import _http

    slept: list[float] = []
    monkeypatch.setattr(_http.time, "sleep", slept.append)  # the client's own backoff; no real wait
    hub.rate_limit(times=1, reset_s=1)
    model_dir = source.resolve_model_dir(hub_settings(llama_repo))
    assert set(files_of(model_dir)) == set(files_of(llama_dir))
    assert slept == [2.0]  # what the Hub's RateLimit header said, plus the client's second


def test_the_worker_loads_and_generates_from_the_hub(hub, llama_repo, llama_dir):
    env_vars = {env.MODEL_KEY: "tiny", env.DEVICE: "cpu", env.MODEL_TASK: "text-generation"}
    from_hub = Worker.from_env({**env_vars, env.MODEL_ID: REPO, env.MODEL_REVISION: llama_repo, env.HF_TOKEN: TOKEN})
    from_hub.load()
    assert from_hub.ready and downloaded(hub) == set(files_of(llama_dir))
    from_volume = Worker.from_env({**env_vars, env.MODEL_PATH: str(llama_dir)})
    from_volume.load()
    request = {"inputs": "the cat sat on", "parameters": {"max_new_tokens": 5}}
    assert from_hub.predict(request)["generated_text"] == from_volume.predict(request)["generated_text"]


@pytest.mark.subprocess
def test_prefetch_writes_the_snapshot_where_the_image_bakes_it(hub, llama_repo, llama_dir, tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "MODELSTACK_"))}
    target = tmp_path / "baked"
    run = subprocess.run(
        [sys.executable, "-m", "inference.worker", "prefetch", "--to", str(target)],
        cwd=ROOT,
        env={
            **base,
            "PYTHONPATH": str(ROOT),
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            env.MODEL_TASK: "text-generation",
            env.MODEL_ID: REPO,
            env.MODEL_REVISION: llama_repo,
            env.HF_TOKEN: TOKEN,
        },
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"model files in {target}" in run.stdout
    assert {n: p.read_bytes() for n, p in files_of(target).items()} == {n: p.read_bytes() for n, p in files_of(llama_dir).items()}
    assert TOKEN not in run.stdout + run.stderr


def test_missing_volume_without_another_source_is_an_error(tmp_path):
    s = settings(**{env.MODEL_TASK: "text-generation", env.MODEL_PATH: tmp_path / "nope"})
    with pytest.raises(FileNotFoundError, match="missing or empty"):
        source.resolve_model_dir(s)


def test_custom_class_without_a_model_needs_no_directory():
    assert source.resolve_model_dir(settings(**{env.CUSTOM_CLASS: "a:B"})) is None
