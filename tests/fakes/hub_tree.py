"""The fake Hub's tree listing and rate-limit headers, as the real Hub serves them.

Kept apart from hub_server.py (which routes requests) so each module stays small.

Tree (`GET /api/models/{repo}/tree/{revision}[/{path}]?recursive=&expand=`), what
`HfApi.list_repo_tree`, `list_repo_files` and `snapshot_download` read:
- entries `{"type": "file", "oid", "size", "path", "lfs"?}` and `{"type": "directory", "oid",
  "size": 0, "path"}`; `oid` is the git object id, so an LFS file's is its pointer's, with the
  content's sha256 under `lfs.oid` (the same ids model_info's `siblings` give);
- `expand=true` adds `lastCommit` (`id`, `title`, `date`) and `securityFileStatus`;
- pages of at most 1000 entries (50 with `expand`), cursor-based: a `Link: <url&cursor=...>;
  rel="next"` header names the next page, which the client follows (huggingface_hub
  utils/_pagination.py). The cursor is opaque to clients; here it encodes the offset.

Rate limits: the Hub answers every API call with `RateLimit: "api";r=<remaining>;t=<seconds to
reset>` and `RateLimit-Policy: "fixed window";"api";q=<quota>;w=<window>` (IETF draft
httpapi-ratelimit-headers, parsed by huggingface_hub.utils.parse_ratelimit_headers), and a 429 when
the window's quota is spent: then `r=0` and `t` is the wait. The client only treats the header as the
reason for a 429 when `r=0`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

PAGE_SIZE = 1000
EXPANDED_PAGE_SIZE = 50


class TreeBlob(Protocol):
    size: int
    sha256: str
    lfs: bool

    @property
    def blob_id(self) -> str: ...

    @property
    def pointer(self) -> bytes: ...


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    title: str
    date: str
    """ISO 8601 with milliseconds and Z, like the Hub's JSON."""


def _folder(path: str) -> dict[str, Any]:
    return {"type": "directory", "oid": hashlib.sha1(f"tree {path}".encode()).hexdigest(), "size": 0, "path": path}


def tree_entries(files: Mapping[str, TreeBlob], under: str, recursive: bool) -> list[dict[str, Any]] | None:
    """Entries below `under` (the repo root when empty); None when `under` names nothing."""
    prefix = f"{under.strip('/')}/" if under.strip("/") else ""
    entries: dict[str, dict[str, Any]] = {}
    for path, blob in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        parts = rest.split("/")[:-1]
        if parts and not recursive:
            folder = prefix + parts[0]
            entries.setdefault(folder, _folder(folder))
            continue
        for depth in range(1, len(parts) + 1):
            folder = prefix + "/".join(parts[:depth])
            entries.setdefault(folder, _folder(folder))
        entry: dict[str, Any] = {"type": "file", "oid": blob.blob_id, "size": blob.size, "path": path}
        if blob.lfs:
            entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": len(blob.pointer)}
        entries[path] = entry
    if prefix and not entries:
        return None
    return list(entries.values())


def expand(entries: Sequence[dict[str, Any]], last_commit: Callable[[str], CommitInfo]) -> list[dict[str, Any]]:
    """`expand=true`: the commit that last touched each path, and the (always clean) scan status."""
    out = []
    for entry in entries:
        commit = last_commit(entry["path"])
        extra: dict[str, Any] = {"lastCommit": {"id": commit.sha, "title": commit.title, "date": commit.date}}
        if entry["type"] == "file":
            extra["securityFileStatus"] = {
                "status": "safe",
                "avScan": {"virusFound": False, "virusNames": None},
                "pickleImportScan": None,
            }
        out.append({**entry, **extra})
    return out


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("Invalid cursor") from None


def page(
    entries: Sequence[dict[str, Any]], query: Mapping[str, list[str]], url: str, page_size: int
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One page of `entries` and its headers: a `Link` to the next page if there is one.

    `url` is this request's absolute URL without its query; the next link repeats the query
    (`recursive`, `expand`) with the cursor, as the Hub's does. Raises ValueError on a bad cursor.
    """
    start = _offset(query.get("cursor", [None])[0])
    chunk = list(entries[start : start + page_size])
    headers: dict[str, str] = {}
    if start + page_size < len(entries):
        params = [(k, v) for k, values in query.items() if k != "cursor" for v in values]
        params.append(("cursor", _cursor(start + page_size)))
        headers["Link"] = f'<{url}?{urlencode(params)}>; rel="next"'
    return chunk, headers


# ------------------------------------------------------------------------------ rate limits


@dataclass
class RateLimits:
    """A fixed-window quota per resource type ("api", "resolvers"), plus injected 429s.

    `quota` is far above what a test makes, so only `deny()` produces a 429 unless a test lowers
    it; every answer still carries the headers, as the Hub's do.
    """

    quota: int = 10_000
    window_s: int = 300
    clock: Callable[[], float] = time.monotonic
    _used: dict[str, int] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    _denials: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deny(self, times: int, reset_s: int, resource: str = "api") -> None:
        """Refuse the next `times` calls on `resource` with a 429 saying "retry in `reset_s` s"."""
        with self._lock:
            self._denials.setdefault(resource, []).extend([reset_s] * times)

    def take(self, resource: str) -> tuple[bool, dict[str, str]]:
        """Count one call; (allowed, headers to send with the answer)."""
        with self._lock:
            now = self.clock()
            started = self._started.setdefault(resource, now)
            if now - started >= self.window_s:
                self._started[resource], self._used[resource] = now, 0
                started = now
            reset = max(1, int(self.window_s - (now - started)))
            denials = self._denials.get(resource)
            if denials:
                return False, self._headers(resource, 0, denials.pop(0))
            used = self._used.get(resource, 0)
            if used >= self.quota:
                return False, self._headers(resource, 0, reset)
            self._used[resource] = used + 1
            return True, self._headers(resource, self.quota - used - 1, reset)

    def _headers(self, resource: str, remaining: int, reset_s: int) -> dict[str, str]:
        return {
            "RateLimit": f'"{resource}";r={remaining};t={reset_s}',
            "RateLimit-Policy": f'"fixed window";"{resource}";q={self.quota};w={self.window_s}',
        }
