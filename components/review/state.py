"""What a deployed stack's state says about its pinned models, for the offline plan (`--state`).

The plan runs without a cloud, so the facts a deploy learned from the Hub (the commit a model is
pinned to, its files, its VRAM need) are unknown to it, unless it is given the stack's state:

    pulumi stack export --stack prod --file prod.state.json
    python -m components.plan --stack prod --state prod.state.json

From each `pulumi-python:dynamic/huggingface:Model` in the export (the platform names them
`<platform>-model-<key>-pin`) the plan reads the model's repo, the ref it was pinned from, the
sha (and every ref -> sha it pinned before), the snapshot's files and the VRAM need. A model counts
as known only when its state matches the config: the same repo, and a ref this state has pinned,
which is exactly when `pulumi up` would keep that sha (components/providers/huggingface.py).
Secret values in the export stay encrypted and are never read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import StackConfig
from components.gpu import disk

HF_MODEL = "pulumi-python:dynamic/huggingface:Model"
PIN_NAME = re.compile(r"-model-(?P<key>[A-Za-z0-9-]+)-pin$")


class StateError(Exception):
    """The file is not a `pulumi stack export` document."""


@dataclass(frozen=True)
class PinnedModel:
    key: str
    repo_id: str
    revision: str
    """The ref the config asked for when it was pinned (main, a tag or a sha)."""
    sha: str
    pins: Mapping[str, str] = field(default_factory=dict)
    """Every ref this stack pinned -> the commit it meant then."""
    files: tuple[Mapping[str, Any], ...] = ()
    task: str = ""
    """The task the worker serves (the config's, else the Hub's pipeline tag)."""
    vram_gb: float | None = None

    def sha_for(self, repo_id: str, revision: str) -> str | None:
        """The commit `pulumi up` would deploy for this repo and ref, when the state decides it."""
        if repo_id != self.repo_id:
            return None
        if revision == self.revision and self.sha:
            return self.sha
        return self.pins.get(revision) or (revision if revision == self.sha else None)


def _plain(value: Any) -> Any:
    """Outputs marked secret in the export are objects with a signature key; never read them."""
    if isinstance(value, Mapping) and "4dabf18193072939515e22adb298388d" in value:
        return None
    return value


def load_state(path: Path) -> dict[str, PinnedModel]:
    """Model key -> what the state knows about its pin."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StateError(f"--state: cannot read {path.name} as JSON ({exc})") from None
    deployment = data.get("deployment") if isinstance(data, Mapping) else None
    resources = deployment.get("resources") if isinstance(deployment, Mapping) else None
    if not isinstance(resources, list):
        raise StateError(f"--state: {path.name} is not a `pulumi stack export` file (no deployment.resources)")
    found: dict[str, PinnedModel] = {}
    for resource in resources:
        if not isinstance(resource, Mapping) or resource.get("type") != HF_MODEL:
            continue
        match = PIN_NAME.search(str(resource.get("urn", "")).rsplit("::", 1)[-1])
        outputs = resource.get("outputs") or {}
        if match is None or not isinstance(outputs, Mapping):
            continue
        sha = _plain(outputs.get("sha"))
        if not isinstance(sha, str) or not sha:
            continue
        files = _plain(outputs.get("files"))
        vram = _plain(outputs.get("vramGb"))
        pins = _plain(outputs.get("pins"))
        found[match["key"]] = PinnedModel(
            key=match["key"],
            repo_id=str(_plain(outputs.get("repoId")) or ""),
            revision=str(_plain(outputs.get("revision")) or ""),
            sha=sha,
            pins={str(k): str(v) for k, v in pins.items()} if isinstance(pins, Mapping) else {},
            files=tuple(f for f in files if isinstance(f, Mapping)) if isinstance(files, list) else (),
            task=str(_plain(outputs.get("effectiveTask")) or ""),
            vram_gb=float(vram) if isinstance(vram, int | float) and not isinstance(vram, bool) else None,
        )
    return found


@dataclass
class StateFacts:
    """What the plan can decide once it knows the pinned models (see `facts`)."""

    vram_needs: dict[str, float] = field(default_factory=dict)
    """Model key -> measured VRAM need, for pricing `minVramGb: auto` endpoints."""
    pinned_shas: dict[str, str] = field(default_factory=dict)
    """Hugging Face model resource name -> the sha `pulumi up` keeps, for the pin policy's message."""
    problems: list[str] = field(default_factory=list)
    """What `pulumi up` would stop at (a Runpod disk too small for the snapshot)."""
    warnings: list[str] = field(default_factory=list)


def facts(config: StackConfig, known: Mapping[str, PinnedModel], platform: str = "modelstack") -> StateFacts:
    """Match the state's pins with the config and decide what they let the plan know."""
    out = StateFacts()
    for key, model in config.modelstack.models.items():
        pinned = known.get(key)
        sha = pinned.sha_for(model.repo_id, model.revision) if pinned is not None and model.on_hub else None
        if pinned is None or sha is None:
            continue  # not deployed, or the config now asks for another repo or ref: the Hub decides
        out.pinned_shas[f"{platform}-model-{key}-pin"] = sha
        endpoint = model.endpoint
        if endpoint is None or sha != pinned.sha:
            continue  # a rollback to an earlier pin: the files and need recorded are another commit's
        if endpoint.gpu.min_vram_gb == "auto" and pinned.vram_gb is not None:
            out.vram_needs[key] = pinned.vram_gb
        if not pinned.files:
            continue
        snapshot = disk.download_bytes(pinned.files, model.task or pinned.task or None)
        where = f"modelstack:models.{key}.endpoint"
        if endpoint.provider == "runpod":
            runpod = endpoint.runpod
            if runpod is not None and runpod.network_volume is not None:  # the cache is on the volume
                size = runpod.network_volume.size_gb
                problem = disk.runpod_volume_problem(size, snapshot, f"{where}.runpod.networkVolume.sizeGb", model.repo_id)
            else:
                configured = runpod.container_disk_gb if runpod is not None else None
                problem = disk.runpod_disk_problem(configured, snapshot, f"{where}.runpod.containerDiskGb", model.repo_id)
            if problem:
                out.problems.append(problem)
        elif not disk.modal_caches_on_volume(endpoint.modal):
            warning = disk.modal_disk_warning(snapshot, where, model.repo_id)
            if warning:
                out.warnings.append(warning)
    return out
