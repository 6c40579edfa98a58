"""`HuggingFaceModel`: a Hub model pinned to a commit, described well enough to size and mirror it.

Registers as `pulumi-python:dynamic/huggingface:Model`. The resource creates nothing on the Hub:
its state *is* the pin. What it guarantees:

- `create` resolves the configured revision (`main`, a tag, a sha) to a commit sha once, checks the
  stack's token can download a gated or private repo, and records the snapshot's files, licence,
  pipeline tag, library, parameter count and dtype (from the safetensors headers) and an estimated
  VRAM need (components/gpu/sizing.py documents the headroom per task).
- Pinned means pinned. `pulumi up` compares only the config (`repoId`, `revision`, `task`), so a
  moved `main` never changes anything. An update for another reason (a new `task`) keeps the sha.
  Every ref the resource has resolved is remembered in `pins`, so rolling the config back to
  `main` restores the commit `main` meant then, not whatever it means now.
- `pulumi refresh` reports upstream movement in `latestSha` / `upstreamMoved` (and whether the
  pinned commit still exists, and whether the token still has access) without touching `sha`.
  To move, put the new sha (or another tag) in the config: an in-place update.

The HF token is read in `configure()` from `modelstack:credentials.hfToken` (or `HF_TOKEN`); it is
never an input or output. The Hub endpoint comes from `HF_ENDPOINT` (see hf_hub.py).
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from components.gpu.sizing import HEADROOM, effective_task, estimate_vram
from components.providers import credentials as creds
from components.providers import hf_hub
from components.providers.unknowns import is_unknown

INPUT_KEYS = ("source", "repoId", "revision", "task")
MAX_PINS = 32
"""Bound on the remembered ref -> sha pins, oldest dropped first."""


class HuggingFaceModelProvider(ResourceProvider):
    def __init__(self) -> None:
        # Filled by configure() in the provider process; never pickled with a value.
        self._token: str | None = None

    def configure(self, req: Any) -> None:
        self._token = creds.resolve(creds.HF_TOKEN, creds.from_provider_config(req.config))

    # ---------------------------------------------------------------------------- check / diff

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        source = news.get("source")
        task = news.get("task") or None
        failures: list[CheckFailure] = []
        inputs: dict[str, Any] = {"source": source, "repoId": None, "revision": None, "task": task}
        if is_unknown(source):
            inputs["repoId"] = inputs["revision"] = pulumi.output.Unknown()
        else:
            try:
                ref = hf_hub.parse_model_ref(source)
            except ValueError as exc:
                failures.append(CheckFailure("source", str(exc)))
            else:
                inputs.update(source=ref.source, repoId=ref.repo_id, revision=ref.revision)
        if task is not None and not is_unknown(task) and task not in HEADROOM:
            failures.append(
                CheckFailure("task", f"unknown task {task!r}; use one of {', '.join(HEADROOM)}")
            )
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only the config decides: upstream movement (latestSha) is never a reason to change.
        replaces = ["repoId"] if olds.get("repoId") != news.get("repoId") else []
        changed = [k for k in ("repoId", "revision", "task") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    # ---------------------------------------------------------------------------- lifecycle

    def create(self, props: dict[str, Any]) -> CreateResult:
        repo_id, revision = props["repoId"], props["revision"]
        snapshot = hf_hub.fetch_snapshot(repo_id, revision, self._token, "create: resolve")
        outs = self._describe(props, snapshot, pins={revision: snapshot.sha})
        return CreateResult(repo_id, outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        repo_id, revision = news["repoId"], news["revision"]
        pins = dict(olds.get("pins") or {})
        if olds.get("revision") == revision and olds.get("sha"):
            sha = olds["sha"]  # same ref as pinned: never re-resolve
        elif revision in pins:
            sha = pins[revision]  # a ref this stack pinned before (rollback): the same commit
        else:
            sha = None
        target = sha or revision
        snapshot = hf_hub.fetch_snapshot(repo_id, target, self._token, "update: resolve")
        pins.pop(revision, None)
        pins[revision] = snapshot.sha
        while len(pins) > MAX_PINS:
            pins.pop(next(iter(pins)))
        return UpdateResult(self._describe(news, snapshot, pins=pins))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: where the ref points now, without moving the pin.

        The resource never drops itself on refresh: it owns nothing upstream, and a repo that
        looks missing may only be invisible to a rotated token; dropping the pin would make the
        next `up` re-resolve `main`. Problems are reported in the outputs instead.
        """
        repo_id, revision, sha = props["repoId"], props["revision"], props["sha"]
        token = self._token
        outs = dict(props)
        try:
            latest = hf_hub.resolve_sha(repo_id, revision, token)
        except hf_hub.HubError as exc:
            outs.update(latestSha=None, upstreamMoved=None, upstreamError=str(exc))
        else:
            outs.update(latestSha=latest, upstreamMoved=latest != sha, upstreamError=None)
            if latest != sha:
                try:
                    hf_hub.resolve_sha(repo_id, sha, token)
                    outs["pinAvailable"] = True
                except hf_hub.HubError:
                    outs["pinAvailable"] = False
            else:
                outs["pinAvailable"] = True
        if props.get("gated") or props.get("private"):
            probe = hf_hub.Snapshot(
                repo_id, sha, props.get("gatedMode") or "auto", bool(props.get("private")), None, None, None
            )
            outs["hasAccess"] = hf_hub.has_access(probe, token)
        inputs = {k: props.get(k) for k in INPUT_KEYS}
        return ReadResult(id_, outs, inputs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        return None  # nothing was created on the Hub

    # ---------------------------------------------------------------------------- outputs

    def _describe(self, inputs: dict[str, Any], snapshot: hf_hub.Snapshot, pins: dict[str, str]) -> dict[str, Any]:
        token = self._token
        hf_hub.check_access(snapshot, token)
        weights = hf_hub.select_weight_files(snapshot.files, snapshot.library)
        stats = hf_hub.read_weight_stats(snapshot.repo_id, snapshot.sha, weights, token)
        task = effective_task(inputs.get("task"), snapshot.pipeline_tag)
        vram = estimate_vram(stats.weights_bytes, task)
        need: float | None = vram.need_gb
        basis = vram.basis
        if not weights:
            # A guess from nothing would size every such model onto the smallest GPU.
            need = None
            basis = (
                "no weight files recognised (no safetensors, .bin, .pt, .pth, .ckpt or .gguf files "
                "where a loader looks for them), so the VRAM need is unknown"
            )
        return {
            **{k: inputs.get(k) for k in INPUT_KEYS},
            "sha": snapshot.sha,
            "pinnedSource": f"hf://{snapshot.repo_id}@{snapshot.sha}",
            "pins": pins,
            "latestSha": snapshot.sha,
            "upstreamMoved": False,
            "pinAvailable": True,
            "upstreamError": None,
            "url": hf_hub.model_page(snapshot.repo_id),
            "gated": snapshot.gated is not None,
            "gatedMode": snapshot.gated or "",
            "private": snapshot.private,
            "hasAccess": True,
            "license": snapshot.license or "",
            "pipelineTag": snapshot.pipeline_tag or "",
            "library": snapshot.library or "",
            "effectiveTask": task,
            "files": [f.as_output() for f in snapshot.files],
            "weightFiles": [{"path": f.path, "size": f.size} for f in weights],
            "weightsBytes": stats.weights_bytes,
            "parameters": stats.parameters,
            "parametersByDtype": stats.parameters_by_dtype,
            "dtype": stats.dtype or "",
            "vramGb": need,
            "vramHeadroom": vram.headroom,
            "vramBasis": basis,
        }


class HuggingFaceModelArgs(TypedDict, total=False):
    source: pulumi.Input[str]
    """hf://org/name[@revision] or org/name; the revision is pinned to a commit sha on create."""
    task: pulumi.Input[str] | None
    """What the worker does with it (sets the VRAM headroom); defaults to the Hub's pipeline tag."""


OUTPUT_KEYS = (
    "sha", "pinnedSource", "pins", "latestSha", "upstreamMoved", "pinAvailable", "upstreamError", "url",
    "gated", "gatedMode", "private", "hasAccess", "license", "pipelineTag", "library", "effectiveTask",
    "files", "weightFiles", "weightsBytes", "parameters", "parametersByDtype", "dtype", "vramGb",
    "vramHeadroom", "vramBasis",
)  # fmt: skip


class HuggingFaceModel(pulumi.dynamic.Resource, module="huggingface", name="Model"):
    """A Hub model pinned to a commit. See the module docstring for the pinning rules."""

    repo_id: pulumi.Output[str]
    revision: pulumi.Output[str]
    sha: pulumi.Output[str]
    pinned_source: pulumi.Output[str]
    latest_sha: pulumi.Output[str]
    upstream_moved: pulumi.Output[bool]
    gated: pulumi.Output[bool]
    has_access: pulumi.Output[bool]
    license: pulumi.Output[str]
    pipeline_tag: pulumi.Output[str]
    library: pulumi.Output[str]
    files: pulumi.Output[list[dict[str, Any]]]
    weight_files: pulumi.Output[list[dict[str, Any]]]
    weights_bytes: pulumi.Output[int]
    parameters: pulumi.Output[int]
    dtype: pulumi.Output[str]
    vram_gb: pulumi.Output[float]
    vram_basis: pulumi.Output[str]

    def __init__(self, name: str, args: HuggingFaceModelArgs, opts: pulumi.ResourceOptions | None = None):
        props: dict[str, Any] = {"source": args["source"], "task": args.get("task")}
        props.update({k: None for k in ("repoId", "revision", *OUTPUT_KEYS)})
        if isinstance(args["source"], str):
            # Known from config: fill them now so previews (and dependents) see them before check runs.
            try:
                ref = hf_hub.parse_model_ref(args["source"])
                props.update(repoId=ref.repo_id, revision=ref.revision)
            except ValueError:
                pass  # check reports it, with the resource's name
        super().__init__(HuggingFaceModelProvider(), name, props, opts)
        # The engine names outputs as the props (camelCase); expose the Python spelling too.
        for key in ("repoId", *OUTPUT_KEYS):
            setattr(self, _snake(key), getattr(self, key))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
