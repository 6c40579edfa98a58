"""HatCat on Modal: OpenWebUI in front of the HatCat backend, two gated Gemma models and the lens
pack, all in one T4 container that scales to zero (seed: "HatCat Cloud Deployment").

This file stands in for HatCat's own `scripts/deploy/modal_app.py`, written the modelstack way: it
hard-codes nothing that belongs to the stack. The GPU, scale-down window, volumes, secrets, warm
schedule and the two pinned models arrive as settings (`inference.modal_settings`) that `pulumi up`
passes in, so the stack file decides them and a config change redeploys.

Container layout:
    /models  Modal volume: Hugging Face cache (HF_HOME), so a cold start does not re-download Gemma
    /data    Modal volume: OpenWebUI's users and chats (the first user to sign up becomes admin)
"""

import os
import subprocess

import modal

from inference.modal_settings import ModalSettings

settings = ModalSettings.from_env()
app = modal.App(settings.app_name)

UI_PORT = 8080
image = (
    modal.Image.debian_slim(python_version="3.11")
    .apt_install("git")
    .pip_install("huggingface_hub>=0.30,<3", "open-webui>=0.6,<1")
    # HatCat's backend at the repository and ref the stack file names (env HATCAT_GIT_URL, HATCAT_REF).
    .run_commands(
        'git clone --depth 1 --branch "$HATCAT_REF" "$HATCAT_GIT_URL" /opt/hatcat'
        " && pip install -r /opt/hatcat/requirements.txt",
        env={"HATCAT_GIT_URL": settings.env.get("HATCAT_GIT_URL", ""), "HATCAT_REF": settings.env.get("HATCAT_REF", "main")},
    )
    .add_local_python_source("inference")
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
    env=settings.container_env(),
)
class HatCat:
    @modal.enter()
    def start(self) -> None:
        from huggingface_hub import snapshot_download

        # Both models at the commits the stack pinned; the token comes from the stack's secret.
        for repo, revision in (
            (os.environ["MODELSTACK_MODEL_ID"], os.environ["MODELSTACK_MODEL_REVISION"]),
            (os.environ["HATCAT_SECOND_MODEL_ID"], os.environ["HATCAT_SECOND_MODEL_REVISION"]),
        ):
            snapshot_download(repo, revision=revision, token=os.environ.get("HF_TOKEN"))
        self.backend = subprocess.Popen(["python", "-m", "hatcat.server", "--port", "8000"], cwd="/opt/hatcat")
        self.ui = subprocess.Popen(
            ["open-webui", "serve", "--port", str(UI_PORT)],
            env={**os.environ, "DATA_DIR": "/data", "OPENAI_API_BASE_URL": "http://127.0.0.1:8000/v1"},
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
