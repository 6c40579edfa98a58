"""HatCat's container start downloads its pinned models from the (fake) Hub, unpatched.

`examples/hatcat/modal_app.py` runs `snapshot_download` for the two gated Gemmas (into HF_HOME,
the model-cache volume) and the lens pack (into a plain directory) in its `@modal.enter` hook. The
hook runs here in a child process started with HF_ENDPOINT at the fake, as a Modal container is;
only the two servers it launches afterwards (HatCat's backend, OpenWebUI) are replaced, since they
are not installed here and are not what is under test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.hub_server import FakeHub

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hf_hatcat-read-token"
HATCAT_REF = "0123456789abcdef0123456789abcdef01234567"

CHILD = """
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("hatcat_modal_app", "examples/hatcat/modal_app.py")
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
app.LENS_DIR = os.environ["TEST_LENS_DIR"]  # the image's /app is not writable here
launched = []
app.subprocess.Popen = lambda argv, **kw: launched.append(argv[:3])
user_cls = app.HatCat._get_user_cls()
user_cls.__dict__["start"]._get_raw_f()(user_cls.__new__(user_cls))  # the @modal.enter body
print(json.dumps(launched))
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_hatcat_start_downloads_the_pinned_gemmas_and_the_lens_pack(llama_dir, tmp_path):
    with FakeHub({TOKEN: "hatcat"}) as hub:
        pins = {}
        for key, repo in (("gemma3", "google/gemma-3-4b-it"), ("gemma2", "google/gemma-2-2b-it")):
            hub.add_repo(repo, gated="manual", access=[TOKEN], pipeline_tag="text-generation")
            pins[key] = {"id": repo, "revision": hub.commit(repo, {p.name: p for p in llama_dir.iterdir() if p.is_file()})}
        hub.add_repo("hatcat/lens-pack")
        lens = {"pack.json": b'{"concepts": 3}', "lenses/layer_12.safetensors": b"lens weights"}
        pins["lens"] = {"id": "hatcat/lens-pack", "revision": hub.commit("hatcat/lens-pack", lens)}
        for key in ("gemma3", "gemma2"):
            hub.commit(pins[key]["id"], {"config.json": b'{"moved": true}'})  # main moves after the pin
        hub.tree_page_size = 3

        base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "MODELSTACK_", "MODAL_"))}
        run = subprocess.run(
            [sys.executable, "-c", CHILD],
            cwd=ROOT,
            env={
                **base,
                "PYTHONPATH": str(ROOT),
                "HF_ENDPOINT": hub.url,
                "HF_HOME": str(tmp_path / "models" / "hf"),
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_TOKEN": TOKEN,
                "MODELSTACK_MODAL_APP_NAME": "hatcat",
                "MODELSTACK_MODAL_ENV": json.dumps({"HATCAT_REF": HATCAT_REF}),
                "MODELSTACK_APP_MODELS": json.dumps(pins),
                "TEST_LENS_DIR": str(tmp_path / "lens"),
            },
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr[-3000:]
        assert TOKEN not in run.stdout + run.stderr

        cache = tmp_path / "models" / "hf" / "hub"
        for key in ("gemma3", "gemma2"):
            snapshot = cache / f"models--{pins[key]['id'].replace('/', '--')}" / "snapshots" / pins[key]["revision"]
            got = {p.name: p.read_bytes() for p in snapshot.iterdir()}
            assert got == {p.name: p.read_bytes() for p in llama_dir.iterdir() if p.is_file()}  # the pinned commit's files
        assert (tmp_path / "lens" / "lenses" / "layer_12.safetensors").read_bytes() == b"lens weights"
        assert json.loads(run.stdout.strip().splitlines()[-1])[0][:3] == ["python", "-m", "uvicorn"]
        # the gated repos were fetched with the token; the CDN never saw it
        assert all(r.authorized for r in hub.requests if r.path.startswith(("/api/", "/google/")))
        cdn = [r for r in hub.requests if r.path.startswith("/__cdn__/")]
        assert cdn and not any(r.authorized for r in cdn)
