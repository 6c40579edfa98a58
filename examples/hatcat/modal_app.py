"""HatCat on Modal: OpenWebUI in front of the HatCat backend, two gated Gemma models and the lens
pack, all in one T4 container that scales to zero (seed: "HatCat Cloud Deployment").

This file stands in for HatCat's own `scripts/deploy/modal_app.py`, written the modelstack way: it
hard-codes nothing that belongs to the stack. The GPU, scale-down window, volumes, secrets, warm
schedule, the HatCat commit and the three pinned models (Gemma 3 4B, Gemma 2B, the lens pack) arrive
as settings (`inference.modal_settings`) that `pulumi up` passes in, so the stack file decides them
and a config change redeploys.

Container layout:
    /models  Modal volume, the stack's model cache: HF_HOME points inside it, so a cold start loads
             the pinned Gemma snapshots from the volume instead of downloading them again
    /data    Modal volume: OpenWebUI's users and chats (the first user to sign up becomes admin)
    /app     HatCat at the commit HATCAT_REF names (a sha: a moving branch is refused)
"""

import os
import re
import subprocess

import modal

from inference.modal_settings import ModalSettings, pinned_models, settings_only

settings = ModalSettings.from_env()
app = modal.App(settings.app_name)

HATCAT_REF = settings.env.get("HATCAT_REF", "")
if not re.fullmatch(r"[0-9a-f]{40}", HATCAT_REF):
    # The image would otherwise build whatever the branch holds that day: not reproducible, no rollback.
    raise RuntimeError(f"HATCAT_REF must be a 40-character commit sha of HatCat, not {HATCAT_REF!r}")
LENS_DIR = "/app/lens_packs/gemma-3-4b_first-light-v1-bf16"

UI_PORT = 8080
image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("git")
    .pip_install("huggingface_hub>=0.30,<3", "open-webui>=0.6,<1")
    # HatCat's backend at exactly the commit the stack file names (env HATCAT_GIT_URL, HATCAT_REF).
    .run_commands(
        'git init -q /app && git -C /app fetch -q --depth 1 "$HATCAT_GIT_URL" "$HATCAT_REF"'
        " && git -C /app checkout -q FETCH_HEAD && pip install -r /app/requirements.txt"
        " && python -c \"import nltk; nltk.download('wordnet')\"",
        env={"HATCAT_GIT_URL": settings.env.get("HATCAT_GIT_URL", ""), "HATCAT_REF": HATCAT_REF},
    )
    .add_local_python_source("inference", ignore=settings_only)  # what Modal ships is what `up` hashes
)

environment = settings.environment or None
volumes = {path: modal.Volume.from_name(name, environment_name=environment) for path, name in settings.volumes.items()}
secrets = [modal.Secret.from_name(name, environment_name=environment) for name in settings.secrets]


@app.cls(
    image=image,
    gpu=settings.gpu_arg,
    volumes=volumes,
    secrets=secrets,
    min_containers=settings.min_containers,
    max_containers=settings.max_containers or None,
    scaledown_window=settings.scaledown_window,
    timeout=settings.timeout,
    startup_timeout=settings.startup_timeout_arg,  # `start` downloads three pinned snapshots
    env=settings.container_env(),
)
class HatCat:
    @modal.enter()
    def start(self) -> None:
        from huggingface_hub import snapshot_download

        # Every model at the commit the stack pinned; the Gemmas land in HF_HOME on the /models
        # volume (cached across containers), the lens pack where HatCat looks for it.
        token = os.environ.get("HF_TOKEN")
        models = pinned_models()
        for key in ("gemma3", "gemma2"):
            snapshot_download(models[key].id, revision=models[key].revision, token=token)
        snapshot_download(models["lens"].id, revision=models["lens"].revision, token=token, local_dir=LENS_DIR)
        self.backend = subprocess.Popen(
            ["python", "-m", "uvicorn", "src.ui.openwebui.server:app", "--host", "127.0.0.1", "--port", "8765"],
            cwd="/app",
            env={**os.environ, "PYTHONPATH": "/app"},
        )
        self.ui = subprocess.Popen(
            ["open-webui", "serve", "--port", str(UI_PORT)],
            env={**os.environ, "DATA_DIR": "/data", "OPENAI_API_BASE_URL": "http://127.0.0.1:8765/v1", "OPENAI_API_KEY": "sk-local"},
        )

    @modal.web_server(UI_PORT, startup_timeout=600, requires_proxy_auth=settings.proxy_auth)
    def ui(self) -> None:
        """OpenWebUI (and, behind it, the HatCat backend) on one URL; public only if the stack says so."""

    @modal.method()
    def ping(self) -> str:
        return "warm"

    @modal.exit()
    def stop(self) -> None:
        for process in (self.ui, self.backend):
            process.terminate()


if settings.warm_schedule:

    @app.function(image=image, schedule=modal.Cron(settings.warm_schedule), env=settings.container_env())
    def keep_warm() -> None:
        """Business hours: touch the class so a container is up before the first user arrives."""
        HatCat().ping.remote()
