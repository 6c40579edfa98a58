"""`ModelMirror`: a pinned model snapshot copied into an S3-compatible bucket, with a manifest.

Registers as `pulumi-python:dynamic/s3:ModelMirror`. The destination is
`s3://<bucket>/models/<org>/<name>/<sha>/` and the output `manifestUri`
(`.../<sha>/manifest.json`, the worker's MODELSTACK_MODEL_MANIFEST) points at the sha256 manifest
a worker downloads and verifies the files against. Sources:

- `{"kind": "hf", "repoId": "org/name", "sha": <commit>}`: a HuggingFaceModel's pinned commit
  (use `hub_source(model)`); the HF token is read in `configure()` like the model's.
- `{"kind": "s3", "endpoint", "region", "credential", "bucket", "prefix", "name": "org/name",
  "revision": <label>}`: a private checkpoint already in a bucket (Wasabi, R2). Buckets have no
  commits, so `revision` is the user's immutable label for that checkpoint and names the folder.

Lifecycle: a new sha (or source, bucket) is a replacement: the new snapshot is copied before the
old prefix is deleted, so an endpoint switching to it never sees a half-copied mirror. `include`
changes are updates (copy what is new, remove what is no longer included). `read` compares the
bucket with the manifest: drift (a deleted or overwritten file) shows as `intact: false` and
makes the next `pulumi up` repair it; a mirror deleted wholesale is dropped from state.
Copies resume file by file (see mirror_copy.py).
"""

from __future__ import annotations

import re
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

from components.providers import credentials as creds
from components.providers import hf_hub, mirror_copy, s3_client
from components.providers.unknowns import is_unknown

INPUT_KEYS = ("bucket", "endpoint", "region", "credential", "source", "include", "prefix")
_ENDPOINT = re.compile(r"^https?://[^/\s]+/?$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


def _source_identity(source: Any) -> Any:
    """The parts of a source that decide *what* is mirrored (its credential only says how to read it)."""
    if isinstance(source, dict):
        return {k: v for k, v in source.items() if k != "credential"}
    return source


def _check_source(source: Any) -> tuple[dict[str, Any] | Any, Any, list[CheckFailure]]:
    """Normalised source, the destination prefix (or Unknown), and failures."""
    if is_unknown(source):
        return source, pulumi.output.Unknown(), []
    if not isinstance(source, dict) or source.get("kind") not in ("hf", "s3"):
        return source, None, [CheckFailure("source", "source must be {kind: hf, repoId, sha} or {kind: s3, ...}")]
    failures: list[CheckFailure] = []
    if source["kind"] == "hf":
        repo_id, sha = source.get("repoId"), source.get("sha")
        out = {"kind": "hf", "repoId": repo_id, "sha": sha}
        if not is_unknown(repo_id):
            try:
                ref = hf_hub.parse_model_ref(str(repo_id))
                if ref.revision != "main" or "@" in str(repo_id):
                    raise ValueError(f"repoId {repo_id!r} must be org/name without a revision; pass the sha separately")
            except ValueError as exc:
                failures.append(CheckFailure("source.repoId", str(exc)))
        if not is_unknown(sha) and not (isinstance(sha, str) and _SHA.match(sha)):
            failures.append(CheckFailure("source.sha", f"sha {sha!r} must be a 40-character commit sha (the model's pinned sha)"))
        known = not any(is_unknown(v) for v in (repo_id, sha))
        prefix = mirror_copy.prefix_for(str(repo_id), str(sha)) if known and not failures else None
        return out, prefix if known else pulumi.output.Unknown(), failures
    keys = ("endpoint", "region", "credential", "bucket", "prefix", "name", "revision")
    out = {"kind": "s3", **{k: source.get(k) for k in keys}}
    out["region"] = out["region"] or "auto"
    out["credential"] = out["credential"] or "default"
    out["prefix"] = out["prefix"] or ""
    if isinstance(out["prefix"], str) and out["prefix"] and not out["prefix"].endswith("/"):
        out["prefix"] += "/"
    for key in ("endpoint", "bucket", "name", "revision"):
        if out[key] is None:
            failures.append(CheckFailure(f"source.{key}", f"an s3 source needs {key}"))
    if isinstance(out["endpoint"], str) and not _ENDPOINT.match(out["endpoint"]):
        failures.append(CheckFailure("source.endpoint", f"endpoint {out['endpoint']!r} must be a URL with a scheme and host"))
    if isinstance(out["name"], str):
        try:
            hf_hub.parse_model_ref(out["name"])
        except ValueError:
            failures.append(CheckFailure("source.name", f"name {out['name']!r} must look like org/name; it names the mirror folder"))
    if isinstance(out["revision"], str) and not _LABEL.match(out["revision"]):
        failures.append(
            CheckFailure("source.revision", f"revision {out['revision']!r} must be a label of letters, digits, '.', '_' and '-'")
        )
    if any(is_unknown(out[k]) for k in ("name", "revision")):
        return out, pulumi.output.Unknown(), failures
    prefix = mirror_copy.prefix_for(str(out["name"]), str(out["revision"])) if not failures else None
    return out, prefix, failures


class ModelMirrorProvider(ResourceProvider):
    def __init__(self) -> None:
        self._credentials: dict[str, Any] = {}  # filled by configure() in the provider process
        self._token: str | None = None

    def configure(self, req: Any) -> None:
        self._credentials = creds.from_provider_config(req.config)
        self._token = creds.resolve(creds.HF_TOKEN, self._credentials)

    # ---------------------------------------------------------------------------- check / diff

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        source, prefix, source_failures = _check_source(news.get("source"))
        failures.extend(source_failures)
        inputs: dict[str, Any] = {
            "bucket": news.get("bucket"),
            "endpoint": news.get("endpoint"),
            "region": news.get("region") or "auto",
            "credential": news.get("credential") or "default",
            "source": source,
            "include": news.get("include") or [],
            "prefix": prefix,
        }
        endpoint = inputs["endpoint"]
        if not is_unknown(endpoint):
            if not isinstance(endpoint, str) or not _ENDPOINT.match(endpoint):
                failures.append(CheckFailure("endpoint", f"endpoint {endpoint!r} must be a URL with a scheme and host"))
            else:
                inputs["endpoint"] = endpoint.rstrip("/")
        if not is_unknown(inputs["credential"]) and not creds.is_valid_s3_credential_name(str(inputs["credential"])):
            failures.append(CheckFailure("credential", f"credential {inputs['credential']!r} must be lowercase letters and digits"))
        include = inputs["include"]
        if not is_unknown(include) and (not isinstance(include, list) or not all(isinstance(p, str) and p for p in include)):
            failures.append(CheckFailure("include", "include must be a list of glob patterns such as '*.safetensors'"))
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("bucket", "endpoint", "region", "prefix") if olds.get(k) != news.get(k)]
        if _source_identity(olds.get("source")) != _source_identity(news.get("source")):
            replaces.append("source")
        changed = [k for k in INPUT_KEYS if olds.get(k) != news.get(k)]
        repair = olds.get("intact") is False  # refresh found drift: up puts it back
        same_place = not {"bucket", "endpoint", "prefix"} & set(replaces)
        return DiffResult(
            changes=bool(changed) or repair,
            replaces=replaces,
            delete_before_replace=bool(replaces) and same_place,
        )

    # ---------------------------------------------------------------------------- lifecycle

    def _dest(self, props: dict[str, Any]) -> mirror_copy.Destination:
        client = s3_client.client(props["endpoint"], props["region"], props["credential"], self._credentials)
        return mirror_copy.Destination(client, props["bucket"], props["prefix"])

    def _source(self, props: dict[str, Any]) -> mirror_copy.Source:
        source = props["source"]
        if source["kind"] == "hf":
            return mirror_copy.HubSource(source["repoId"], source["sha"], self._token)
        client = s3_client.client(source["endpoint"], source["region"], source["credential"], self._credentials)
        label = {"endpoint": source["endpoint"], "name": source["name"], "revision": source["revision"]}
        return mirror_copy.BucketSource(client, source["bucket"], source["prefix"], label)

    def _run(self, props: dict[str, Any]) -> dict[str, Any]:
        dest = self._dest(props)
        try:
            result = mirror_copy.mirror(self._source(props), dest, props.get("include") or [])
        except (mirror_copy.MirrorError, hf_hub.HubError, s3_client.S3Error) as exc:
            raise mirror_copy.MirrorError(hf_hub.scrub(str(exc), [self._token])) from None
        return {
            **{k: props.get(k) for k in INPUT_KEYS},
            "uri": f"s3://{dest.bucket}/{dest.prefix}",
            "manifestKey": dest.manifest_key,
            "manifestUri": dest.manifest_uri,
            "manifestSha256": result.manifest_sha256,
            "fileCount": result.manifest["fileCount"],
            "totalBytes": result.manifest["totalBytes"],
            "copiedFiles": len(result.copied),
            "skippedFiles": len(result.skipped),
            "intact": True,
            "problems": [],
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._run(props)
        return CreateResult(outs["uri"], outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._run(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        dest = self._dest(props)
        try:
            found = mirror_copy.verify(dest)
        except Exception as exc:
            if s3_client.is_not_found(exc):
                return ReadResult("", {})  # the bucket is gone, and the mirror with it
            raise s3_client.describe(exc, dest.what("read")) from None
        if found.manifest is None and found.objects == 0:
            return ReadResult("", {})  # deleted out of band: refresh drops it, up copies it again
        outs = dict(props)
        outs.update(intact=not found.problems, problems=found.problems)
        if found.manifest is not None:
            outs.update(
                manifestSha256=found.manifest_sha256,
                fileCount=found.manifest.get("fileCount"),
                totalBytes=found.manifest.get("totalBytes"),
            )
        return ReadResult(id_, outs, {k: props.get(k) for k in INPUT_KEYS})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        dest = self._dest(props)
        try:
            mirror_copy.delete_prefix(dest)
        except Exception as exc:
            raise s3_client.describe(exc, dest.what("delete")) from None


def hub_source(model: Any) -> dict[str, Any]:
    """The source for a HuggingFaceModel's pinned commit (a dict of Outputs: the kind and repo show
    in previews even while the sha is still unknown)."""
    return {"kind": "hf", "repoId": model.repo_id, "sha": model.sha}


def bucket_source(
    *, endpoint: str, bucket: str, prefix: str, name: str, revision: str, region: str = "auto", credential: str = "default"
) -> dict[str, Any]:
    """The source for a checkpoint under `prefix` in another bucket, mirrored as `name`@`revision`."""
    return {
        "kind": "s3", "endpoint": endpoint, "region": region, "credential": credential,
        "bucket": bucket, "prefix": prefix, "name": name, "revision": revision,
    }  # fmt: skip


class ModelMirrorArgs(TypedDict, total=False):
    bucket: pulumi.Input[str]
    """Destination bucket's physical name (an S3Bucket's `bucket_name`)."""
    endpoint: pulumi.Input[str]
    region: pulumi.Input[str]
    credential: pulumi.Input[str]
    """Name of the destination's `credentials.s3.<name>` pair."""
    source: pulumi.Input[dict[str, Any]]
    """`hub_source(model)` or `bucket_source(...)`."""
    include: list[str]
    """Glob patterns of the files to mirror (default: all), e.g. ['*.json', '*.safetensors']."""


OUTPUT_KEYS = (
    "uri", "manifestKey", "manifestUri", "manifestSha256", "fileCount", "totalBytes",
    "copiedFiles", "skippedFiles", "intact", "problems",
)  # fmt: skip


class ModelMirror(pulumi.dynamic.Resource, module="s3", name="ModelMirror"):
    prefix: pulumi.Output[str]
    uri: pulumi.Output[str]
    manifest_uri: pulumi.Output[str]
    manifest_sha256: pulumi.Output[str]
    file_count: pulumi.Output[int]
    total_bytes: pulumi.Output[int]
    intact: pulumi.Output[bool]

    def __init__(self, name: str, args: ModelMirrorArgs, opts: pulumi.ResourceOptions | None = None):
        props: dict[str, Any] = {
            "bucket": args["bucket"],
            "endpoint": args["endpoint"],
            "region": args.get("region", "auto"),
            "credential": args.get("credential", "default"),
            "source": args["source"],
            "include": list(args.get("include") or []),
            "prefix": None,
        }
        props.update({k: None for k in OUTPUT_KEYS})
        super().__init__(ModelMirrorProvider(), name, props, opts)
        # The engine names outputs as the props (camelCase); expose the Python spelling too.
        self.manifest_uri = self.manifestUri  # type: ignore[attr-defined]
        self.manifest_sha256 = self.manifestSha256  # type: ignore[attr-defined]
        self.file_count = self.fileCount  # type: ignore[attr-defined]
        self.total_bytes = self.totalBytes  # type: ignore[attr-defined]
