"""What the HuggingFaceModel provider and the model mirror need from the Hugging Face Hub.

A thin layer over the real `huggingface_hub` client:

- `parse_model_ref`: `hf://org/name[@revision]` or `org/name`, validated offline by the Hub's own
  naming rules, so `check` rejects a malformed id without a network call;
- `fetch_snapshot`: one `model_info` call resolving a revision to its commit and listing the files
  (sizes, LFS sha256, git blob ids), plus licence, pipeline tag, library and gating;
- `check_access`: whether the token can download the files of a gated or private repo, with an
  error that says what to do (accept the licence at the model page, or set a token);
- `select_weight_files` / `read_weight_stats`: which files a worker loads, and their parameter
  count and dtype from the safetensors headers (ranged reads, never whole files).

The endpoint comes from `HF_ENDPOINT`, read at call time and passed to `HfApi` explicitly: the
client's own `constants.ENDPOINT` is frozen when huggingface_hub is first imported, so a provider
process (or a test) that sets the variable later would otherwise still talk to huggingface.co.
Every error is a `HubError` whose text names the repo and operation, carries the Hub's message,
and has any secret scrubbed.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.providers import hf_retry

DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT_S = 30.0

# Hub naming rules (huggingface_hub.utils.validate_repo_id, and git's ref rules for revisions).
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_REF = re.compile(rf"^(?:hf://)?(?P<org>{_NAME})/(?P<name>{_NAME})(?:@(?P<revision>[^\s@]*))?$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
_SHA = re.compile(r"^[0-9a-fA-F]{40}$")

SAFETENSORS = ".safetensors"
# Weight formats a worker may load when a repo has no safetensors at all.
LEGACY_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".gguf")
_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


class HubError(Exception):
    """A Hub call failed; the message is safe to show (no token) and says what to do."""


@dataclass(frozen=True)
class ModelRef:
    repo_id: str
    revision: str

    @property
    def source(self) -> str:
        return f"hf://{self.repo_id}@{self.revision}"


def is_commit_sha(revision: str) -> bool:
    return bool(_SHA.match(revision))


def parse_model_ref(source: str) -> ModelRef:
    """Parse `hf://org/name[@revision]` (or `org/name[@revision]`); revision defaults to main.

    Raises ValueError with a message that says what a valid id looks like.
    """
    if not isinstance(source, str):
        raise ValueError(f"model source must be a string like hf://org/name, got {type(source).__name__}")
    match = _REF.match(source.strip())
    hint = "use hf://org/name or hf://org/name@revision (a branch, tag or 40-character commit sha)"
    if not match:
        raise ValueError(f"{source!r} is not a Hugging Face model id; {hint}")
    org, name, revision = match["org"], match["name"], match["revision"]
    for part in (org, name):
        if "--" in part or ".." in part:
            raise ValueError(f"{source!r}: {part!r} may not contain '--' or '..'; {hint}")
    if name.endswith(".git"):
        raise ValueError(f"{source!r}: a repo name may not end in .git; {hint}")
    if revision is None:
        revision = "main"
    elif (
        not _REVISION.match(revision)
        or ".." in revision
        or "//" in revision
        or revision.endswith(("/", ".lock", "."))
    ):
        raise ValueError(f"{source!r}: {revision!r} is not a valid revision; {hint}")
    if is_commit_sha(revision):
        revision = revision.lower()
    return ModelRef(f"{org}/{name}", revision)


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def model_page(repo_id: str) -> str:
    return f"{hub_endpoint()}/{repo_id}"


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[secret]")
    return text


# --------------------------------------------------------------------------------------------
# calls with retries and readable errors
# --------------------------------------------------------------------------------------------

# Retries live in hf_retry.py (the Hub's rate-limit headers, bounded waits); re-exported here.
call_with_retries = hf_retry.call_with_retries
ATTEMPTS = hf_retry.ATTEMPTS
_status = hf_retry.status_of


def describe_hub_error(exc: BaseException, repo_id: str, operation: str, token: str | None, revision: str | None = None) -> HubError:
    """Turn a huggingface_hub/httpx error into a HubError that says what to do."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"huggingface:Model {repo_id}: {operation}"
    hub_said = getattr(exc, "server_message", None) or ""
    if not hub_said:
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        hub_said = lines[-1] if lines else type(exc).__name__
    if isinstance(exc, hf_retry.RateLimitedError):
        message = rate_limited_message(what, exc, token)
    elif isinstance(exc, GatedRepoError):
        message = gated_message(repo_id, token, hub_said)
    elif isinstance(exc, RevisionNotFoundError):
        message = (
            f"{what}: revision {revision!r} does not exist (check the branch, tag or commit sha in "
            f"the model's source); Hub said: {hub_said}"
        )
    elif isinstance(exc, RepositoryNotFoundError):
        access = (
            "the stack's HF token cannot see it"
            if token
            else "no HF token is set (pulumi config set --secret --path credentials.hfToken <token>, or export HF_TOKEN)"
        )
        message = f"{what}: repository not found, or it is private and {access}; Hub said: {hub_said}"
    elif isinstance(exc, HfHubHTTPError) and _status(exc) == 401:
        message = (
            f"{what}: the Hub rejected the HF token (invalid or expired); create a new read token at "
            f"{hub_endpoint()}/settings/tokens and set it with pulumi config set --secret --path "
            f"credentials.hfToken <token>; Hub said: {hub_said}"
        )
    elif isinstance(exc, HfHubHTTPError):
        message = f"{what}: the Hub answered HTTP {_status(exc)}; Hub said: {hub_said}"
    elif isinstance(exc, httpx2.HTTPError):
        message = f"{what}: could not reach the Hub at {hub_endpoint()}: {type(exc).__name__}: {exc}"
    else:
        message = f"{what}: {type(exc).__name__}: {exc}"
    return HubError(scrub(message, [token]))


def rate_limited_message(what: str, exc: hf_retry.RateLimitedError, token: str | None) -> str:
    limit = f" on its {exc.resource!r} limit" if exc.resource else ""
    waited = f" and still did after {exc.waited_s:.0f} s of waiting" if exc.waited_s else ""
    message = (
        f"{what}: the Hub rate-limited this stack's requests (HTTP 429{limit}){waited}; it asks to "
        f"wait {exc.asked_s:.0f} s more, past the {hf_retry.RATE_LIMIT_BUDGET_S:.0f} s a plan waits "
        "in all: run pulumi up again once the limit resets"
    )
    if not token:
        message += (
            "; requests with an HF token get a higher limit (pulumi config set --secret --path "
            "credentials.hfToken <token>, or export HF_TOKEN)"
        )
    return message


def gated_message(repo_id: str, token: str | None, hub_said: str = "") -> str:
    page = model_page(repo_id)
    if token:
        who = "the stack's HF token has not been granted access"
        todo = (
            f"accept the licence at {page} while logged in as the account that owns the token "
            "(some repos also wait for the authors' approval), then run pulumi up again"
        )
    else:
        who = "no HF token is set"
        todo = (
            f"accept the licence at {page}, then set a read token of that account with "
            "pulumi config set --secret --path credentials.hfToken <token> (or export HF_TOKEN) "
            "and run pulumi up again"
        )
    said = f"; Hub said: {hub_said}" if hub_said else ""
    return f"huggingface:Model {repo_id}: the repo is gated and {who}: {todo}{said}"


# --------------------------------------------------------------------------------------------
# snapshots
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None = None
    """LFS files: sha256 of the content, as the Hub stores it."""
    blob_id: str | None = None
    """Git blob id (sha1 of `blob <size>\\0<content>`) of regular files, or of an LFS pointer."""

    def as_output(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size}
        if self.sha256:
            out["sha256"] = self.sha256
        return out


@dataclass(frozen=True)
class Snapshot:
    repo_id: str
    sha: str
    gated: str | None
    """None when not gated, else the Hub's mode: `auto` or `manual`."""
    private: bool
    license: str | None
    pipeline_tag: str | None
    library: str | None
    files: tuple[HubFile, ...] = field(default_factory=tuple)


def hub_api(token: str | None) -> Any:
    from huggingface_hub import HfApi

    # token=False stops the client from falling back to a token cached on this machine: what the
    # stack config (or HF_TOKEN) says is what the provider uses.
    return HfApi(endpoint=hub_endpoint(), token=token or False, library_name="modelstack")


def _license(info: Any) -> str | None:
    card = getattr(info, "card_data", None)
    value = None
    if card is not None:
        value = card.get("license") if hasattr(card, "get") else getattr(card, "license", None)
    if not value:
        for tag in info.tags or []:
            if tag.startswith("license:"):
                value = tag.split(":", 1)[1]
                break
    return str(value) if value else None


def fetch_snapshot(repo_id: str, revision: str, token: str | None, operation: str = "resolve") -> Snapshot:
    """Resolve `revision` to a commit and describe that commit's files (one `model_info` call)."""
    api = hub_api(token)
    try:
        info = call_with_retries(
            lambda: api.model_info(repo_id, revision=revision, files_metadata=True, timeout=TIMEOUT_S, token=token or False)
        )
    except Exception as exc:
        raise describe_hub_error(exc, repo_id, f"{operation} revision {revision!r}", token, revision) from None
    files = tuple(
        HubFile(
            path=s.rfilename,
            size=int(s.size or (s.lfs.size if s.lfs else 0) or 0),
            sha256=s.lfs.sha256 if s.lfs else None,
            blob_id=s.blob_id,
        )
        for s in info.siblings or []
    )
    library = info.library_name
    if not library and any(f.path == "model_index.json" for f in files):
        library = "diffusers"
    gated = info.gated if info.gated in ("auto", "manual") else None
    return Snapshot(
        repo_id=repo_id,
        sha=str(info.sha),
        gated=gated,
        private=bool(info.private),
        license=_license(info),
        pipeline_tag=info.pipeline_tag,
        library=library,
        files=files,
    )


def resolve_sha(repo_id: str, revision: str, token: str | None) -> str:
    """Only the commit a revision points at now (no file listing): for refresh."""
    api = hub_api(token)
    try:
        info = call_with_retries(
            lambda: api.model_info(repo_id, revision=revision, expand=["sha"], timeout=TIMEOUT_S, token=token or False)
        )
    except Exception as exc:
        raise describe_hub_error(exc, repo_id, f"resolve revision {revision!r}", token, revision) from None
    return str(info.sha)


def check_access(snapshot: Snapshot, token: str | None) -> None:
    """Raise HubError unless the token may download the files (gated and private repos only)."""
    if not snapshot.gated and not snapshot.private:
        return
    from huggingface_hub.errors import GatedRepoError
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    def auth_check() -> None:
        # HfApi.auth_check's request, with a timeout: the client's session has none by default.
        response = get_session().get(
            f"{hub_endpoint()}/api/models/{snapshot.repo_id}/auth-check",
            headers=build_hf_headers(token=token or False, library_name="modelstack"),
            timeout=TIMEOUT_S,
        )
        hf_raise_for_status(response)

    try:
        call_with_retries(auth_check)
    except GatedRepoError as exc:
        raise HubError(scrub(gated_message(snapshot.repo_id, token, getattr(exc, "server_message", "") or ""), [token])) from None
    except Exception as exc:
        raise describe_hub_error(exc, snapshot.repo_id, "check access", token) from None


def has_access(snapshot: Snapshot, token: str | None) -> bool:
    try:
        check_access(snapshot, token)
    except HubError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# which files a worker loads, and what is in them
# --------------------------------------------------------------------------------------------


def _variant(path: str) -> str | None:
    """`fp16` for `unet/diffusion_pytorch_model.fp16.safetensors` (diffusers variants)."""
    stem = path.rsplit("/", 1)[-1][: -len(SAFETENSORS)]
    stem = _SHARD.sub("", stem)
    return stem.rsplit(".", 1)[1] if "." in stem else None


def select_weight_files(files: Sequence[HubFile], library: str | None) -> list[HubFile]:
    """The weight files a worker loads with `from_pretrained()` (no variant), for sizing.

    - diffusers pipelines (`model_index.json`): the safetensors of each component folder; the
      single-file checkpoints some repos also keep at the root (FLUX's `flux1-schnell.safetensors`)
      are the same weights again and are not loaded.
    - everything else: the root-level `model*.safetensors` (shards included), else any root-level
      safetensors, else legacy formats (`.bin`, `.pt`, ...) at the root.
    Within a folder the default files win over variants (`.fp16.safetensors`) when both exist,
    which is what `from_pretrained()` without `variant=` loads: the conservative choice.
    """
    safetensors = [f for f in files if f.path.endswith(SAFETENSORS)]
    is_pipeline = library == "diffusers" or any(f.path == "model_index.json" for f in files)
    if is_pipeline:
        chosen = [f for f in safetensors if "/" in f.path]
    else:
        root = [f for f in safetensors if "/" not in f.path]
        chosen = [f for f in root if f.path.startswith("model")] or root
    if chosen:
        by_folder: dict[str, list[HubFile]] = {}
        for f in chosen:
            by_folder.setdefault(f.path.rsplit("/", 1)[0] if "/" in f.path else "", []).append(f)
        picked: list[HubFile] = []
        for group in by_folder.values():
            default = [f for f in group if _variant(f.path) is None]
            if default:
                picked.extend(default)
            else:  # only variants: take the smallest variant set, what a worker would pick
                variants: dict[str | None, list[HubFile]] = {}
                for f in group:
                    variants.setdefault(_variant(f.path), []).append(f)
                picked.extend(min(variants.values(), key=lambda g: sum(f.size for f in g)))
        return sorted(picked, key=lambda f: f.path)
    legacy = [f for f in files if "/" not in f.path and f.path.endswith(LEGACY_WEIGHT_SUFFIXES)]
    return sorted(legacy, key=lambda f: f.path)


@dataclass(frozen=True)
class WeightStats:
    weights_bytes: int
    parameters: int | None
    """None when the weights are not safetensors (no header to count from)."""
    parameters_by_dtype: dict[str, int]

    @property
    def dtype(self) -> str | None:
        if not self.parameters_by_dtype:
            return None
        return max(self.parameters_by_dtype.items(), key=lambda kv: (kv[1], kv[0]))[0]


def read_weight_stats(repo_id: str, sha: str, weight_files: Sequence[HubFile], token: str | None) -> WeightStats:
    """Parameter counts from each safetensors header (two ranged GETs per file at most)."""
    weights_bytes = sum(f.size for f in weight_files)
    safetensors = [f for f in weight_files if f.path.endswith(SAFETENSORS)]
    if not safetensors:
        return WeightStats(weights_bytes, None, {})
    api = hub_api(token)
    by_dtype: dict[str, int] = {}
    for f in safetensors:
        try:
            meta = call_with_retries(
                lambda f=f: api.parse_safetensors_file_metadata(
                    repo_id, f.path, revision=sha, token=token or False, timeout=TIMEOUT_S
                )
            )
        except Exception as exc:
            raise describe_hub_error(exc, repo_id, f"read safetensors header of {f.path}", token) from None
        for dtype, count in meta.parameter_count.items():
            by_dtype[str(dtype)] = by_dtype.get(str(dtype), 0) + int(count)
    return WeightStats(weights_bytes, sum(by_dtype.values()), by_dtype)


def matches_any(path: str, patterns: Sequence[str]) -> bool:
    """Glob match as `snapshot_download(allow_patterns=...)` does; no patterns means everything."""
    return not patterns or any(fnmatch.fnmatch(path, p) for p in patterns)
