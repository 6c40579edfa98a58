"""Where the model's files come from: a volume path, a bucket manifest, or the Hugging Face Hub.

Order of preference, fastest first: a directory already on a volume (MODELSTACK_MODEL_PATH), the
stack's own bucket mirror (MODELSTACK_MODEL_MANIFEST), then the Hub at the pinned sha.
"""

from __future__ import annotations

import logging
from pathlib import Path

from inference import contract
from inference.worker.settings import Settings

log = logging.getLogger(__name__)

# Weight formats the worker never reads: skipping them keeps Hub downloads to what loads. Named in
# inference/contract.py, because the program sizes a worker's disk from the same rule.
FOREIGN_FORMATS = list(contract.WORKER_SKIPPED_FILES)
PICKLE_WEIGHTS = list(contract.WORKER_PICKLE_WEIGHTS)


def _has_files(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def hub_snapshot(repo_id: str, revision: str, token: str | None, task: str, local_dir: Path | None = None) -> Path:
    """Download (or reuse from HF_HOME) the pinned snapshot, without formats we would not load."""
    from huggingface_hub import HfApi, snapshot_download

    ignore: list[str] | None = None
    if task != "custom":  # a user's own class may need any file, so it gets the whole repo
        ignore = list(FOREIGN_FORMATS)
        files = HfApi(token=token).list_repo_files(repo_id, revision=revision)
        if any(f.endswith(".safetensors") for f in files):
            ignore += PICKLE_WEIGHTS  # safetensors present: never fetch the pickled duplicates
    return Path(
        snapshot_download(repo_id=repo_id, revision=revision, token=token, ignore_patterns=ignore, local_dir=local_dir)
    )


def resolve_model_dir(settings: Settings) -> Path | None:
    """The local directory holding the model, downloading it first if needed; None when a custom
    class names no model at all."""
    if settings.model_path and _has_files(settings.model_path):
        return settings.model_path
    if settings.model_path:
        log.warning("%s holds no files; trying the other sources", settings.model_path)
    if settings.manifest:
        from inference.worker.manifest import fetch_snapshot

        assert settings.cache_dir is not None
        return fetch_snapshot(settings.manifest, settings.cache_dir, settings.model_id, settings.revision)
    if settings.model_id:
        if not settings.revision:
            raise ValueError(f"{settings.model_id}: no pinned revision to download")
        return hub_snapshot(settings.model_id, settings.revision, settings.hf_token, settings.task)
    if settings.model_path:
        raise FileNotFoundError(f"model directory {settings.model_path} is missing or empty")
    if settings.task == "custom":
        return None
    raise ValueError("no model source configured")
