"""A fake Hugging Face Hub that the real `huggingface_hub` client talks to through `HF_ENDPOINT`.

It speaks the parts of the Hub HTTP API the providers (and the client functions they rely on) use,
with the Hub's status codes and `X-Error-Code` / `X-Error-Message` headers, which is what
`huggingface_hub.utils.hf_raise_for_status` turns into typed errors:

- `GET /api/models/{repo}` and `/api/models/{repo}/revision/{rev}`: model info with `sha`, `gated`,
  `private`, `pipeline_tag`, `library_name`, `cardData`, `tags` and `siblings` (sizes, blob ids and
  LFS sha256 with `?blobs=true`); `?expand=` is accepted.
- `GET /api/models/{repo}/tree/{rev}[/{path}]` (`?recursive=`, `?expand=`): files and folders in
  cursor pages with a `Link` header, what `list_repo_tree`, `list_repo_files` and
  `snapshot_download` read (hub_tree.py).
- `GET /api/models/{repo}/auth-check`: 200, or 401/403 `GatedRepo`, 401/404 `RepoNotFound`.
- `GET|HEAD /{repo}/resolve/{rev}/{path}`: file bytes with `ETag` (git blob id, or sha256 for LFS),
  `X-Repo-Commit`, `Range` support (206). LFS files redirect (302) to a second server on another
  port, like the Hub's CDN on another host: the client must not forward the token there, and it
  reads `X-Linked-Etag` / `X-Linked-Size` / `X-Repo-Commit` from the redirect itself.
- `GET /api/whoami-v2`.

Repos are in-memory commits (path -> bytes or a file on disk, for large benchmark files); refs move
when a test commits, like `main` on the real Hub. Tests can inject a connection drop partway
through a download (`fail_download`), 429/5xx answers from the API (`fail_api`), and read the
request log (`requests`). `rate_limit` makes the next calls answer 429 with the Hub's
`RateLimit: "api";r=0;t=N` header (which huggingface_hub reads as "wait N s"); every API and
resolve answer carries the `RateLimit` / `RateLimit-Policy` headers, as the Hub's do.
Tokens: `tokens` maps valid tokens to user names; an unknown token gets the Hub's 401.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes import hub_tree

LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5", ".msgpack")
LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub stores anything this large in LFS
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Blob:
    size: int
    sha256: str
    git_sha1: str
    data: bytes | None = None
    path: Path | None = None
    lfs: bool = False

    @staticmethod
    def of(name: str, content: bytes | Path) -> Blob:
        if isinstance(content, Path):
            sha256, git = hashlib.sha256(), hashlib.sha1()
            size = content.stat().st_size
            git.update(f"blob {size}\0".encode())
            with content.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    sha256.update(chunk)
                    git.update(chunk)
            data, path = None, content
        else:
            size = len(content)
            sha256 = hashlib.sha256(content)
            git = hashlib.sha1(f"blob {size}\0".encode() + content)
            data, path = content, None
        lfs = name.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE
        return Blob(size, sha256.hexdigest(), git.hexdigest(), data, path, lfs)

    @property
    def pointer(self) -> bytes:
        return f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {self.size}\n".encode()

    @property
    def blob_id(self) -> str:
        """What git stores: the content for regular files, the pointer file for LFS ones."""
        if not self.lfs:
            return self.git_sha1
        pointer = self.pointer
        return hashlib.sha1(f"blob {len(pointer)}\0".encode() + pointer).hexdigest()

    def read(self, start: int, end: int) -> Iterable[bytes]:
        """Bytes [start, end) in chunks."""
        if self.data is not None:
            for offset in range(start, end, CHUNK):
                yield self.data[offset : min(end, offset + CHUNK)]
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            fh.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = fh.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk


@dataclass
class Repo:
    repo_id: str
    gated: str | None = None
    private: bool = False
    pipeline_tag: str | None = None
    library_name: str | None = None
    license: str | None = None
    access: set[str] = field(default_factory=set)
    """Tokens allowed to download a gated or private repo."""
    commits: dict[str, dict[str, Blob]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    history: dict[str, tuple[str | None, hub_tree.CommitInfo]] = field(default_factory=dict)
    """commit -> (parent, its title and date): what `expand=true` tree listings report."""

    def last_commit(self, sha: str, path: str) -> hub_tree.CommitInfo:
        """The newest commit reachable from `sha` after which `path` (a file, or a folder's
        content) no longer changed: git's "last commit" of a tree entry."""

        def state(commit: str) -> list[tuple[str, str]]:
            tree = self.commits.get(commit, {})
            return sorted((p, b.sha256) for p, b in tree.items() if p == path or p.startswith(f"{path}/"))

        here = state(sha)
        current = sha
        for _ in range(len(self.history)):  # bounded by the number of commits
            parent = self.history.get(current, (None, None))[0]
            if parent is None or parent not in self.commits or state(parent) != here:
                break
            current = parent
        return self.history[current][1]


@dataclass
class Fault:
    repo_id: str
    path: str
    after_bytes: int
    times: int


@dataclass
class Request:
    method: str
    path: str
    authorized: bool
    range: str | None
    body: bool = False
    """Whether file bytes were sent (a 200/206 GET of a file, not a redirect or an error)."""


class FakeHub:
    def __init__(self, tokens: Mapping[str, str] | None = None):
        self.tokens: dict[str, str] = dict(tokens or {})
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.api_faults: list[tuple[int, int | None]] = []
        self.limits = hub_tree.RateLimits()
        self.tree_page_size = hub_tree.PAGE_SIZE
        self.expanded_tree_page_size = hub_tree.EXPANDED_PAGE_SIZE
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._counter = 0

    # ------------------------------------------------------------------ server lifecycle

    @property
    def url(self) -> str:
        """The Hub endpoint (what HF_ENDPOINT should be)."""
        assert self._servers, "start() the fake Hub first"
        return _url_of(self._servers[0])

    @property
    def cdn_url(self) -> str:
        return _url_of(self._servers[1])

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        for _ in range(2):  # the API, and the "CDN" on another origin
            server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            server.daemon_threads = True
            # A short poll interval keeps shutdown() (fixture teardown) fast.
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ repos

    def add_repo(
        self,
        repo_id: str,
        *,
        gated: str | None = None,
        private: bool = False,
        pipeline_tag: str | None = None,
        library_name: str | None = None,
        license: str | None = None,
        access: Iterable[str] = (),
    ) -> Repo:
        repo = Repo(repo_id, gated, private, pipeline_tag, library_name, license, set(access))
        self.repos[repo_id] = repo
        return repo

    def commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes | Path],
        branch: str = "main",
        delete: Iterable[str] = (),
        message: str = "Upload folder using huggingface_hub",
    ) -> str:
        """A new commit on `branch` on top of its head: `files` added or replaced, `delete` removed."""
        repo = self.repos[repo_id]
        with self._lock:
            parent = repo.refs.get(branch)
            tree = dict(repo.commits[parent]) if parent else {}
            for path in delete:
                tree.pop(path, None)
            tree.update({path: Blob.of(path, content) for path, content in files.items()})
            self._counter += 1
            digest = hashlib.sha1(
                json.dumps([repo_id, parent, self._counter, sorted((p, b.sha256) for p, b in tree.items())]).encode()
            ).hexdigest()
            repo.commits[digest] = tree
            repo.refs[branch] = digest
            date = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            repo.history[digest] = (parent, hub_tree.CommitInfo(digest, message, date))
        return digest

    def tag(self, repo_id: str, tag: str, sha: str) -> None:
        self.repos[repo_id].refs[tag] = sha

    def force_push(self, repo_id: str, branch: str, sha: str, drop: Iterable[str] = ()) -> None:
        """Point `branch` at `sha`, dropping commits (a history rewrite upstream)."""
        repo = self.repos[repo_id]
        repo.refs[branch] = sha
        for old in drop:
            repo.commits.pop(old, None)

    def fail_api(self, status: int, times: int, retry_after: int | None = None) -> None:
        """Answer the next `times` /api/ requests with `status` (429 or 5xx), like an overloaded Hub."""
        self.api_faults.extend([(status, retry_after)] * times)

    def rate_limit(self, times: int, reset_s: int, resource: str = "api") -> None:
        """Answer the next `times` calls on `resource` ("api": /api/..., "resolvers": file
        downloads) with the Hub's 429: `RateLimit: "<resource>";r=0;t=<reset_s>`, no Retry-After."""
        self.limits.deny(times, reset_s, resource)

    def fail_download(self, repo_id: str, path: str, after_bytes: int, times: int = 1) -> None:
        """Drop the connection after `after_bytes` of the body, the next `times` downloads of `path`."""
        self.faults.append(Fault(repo_id, path, after_bytes, times))

    def downloads(self, path_suffix: str) -> list[Request]:
        """Requests that sent the bytes of a file whose path ends with the suffix."""
        return [r for r in self.requests if r.body and r.path.endswith(path_suffix)]

    # ------------------------------------------------------------------ lookups used by the handler

    def resolve(self, repo: Repo, revision: str) -> str | None:
        if revision in repo.refs:
            return repo.refs[revision]
        if re.fullmatch(r"[0-9a-f]{40}", revision) and revision in repo.commits:
            return revision
        return None

    def take_fault(self, repo_id: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.repo_id == repo_id and fault.path == path and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def blob_by_sha256(self, sha256: str) -> tuple[Repo, str, Blob] | None:
        for repo in self.repos.values():
            for tree in repo.commits.values():
                for path, blob in tree.items():
                    if blob.sha256 == sha256:
                        return repo, path, blob
        return None


def _url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str):
        self.status, self.code, self.message = status, code, message


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"  # keep-alive, like the real Hub; every response has a length

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read `fake.requests` instead

    # ------------------------------------------------------------------ plumbing

    def end_headers(self) -> None:
        for k, v in getattr(self, "_limit_headers", {}).items():
            self.send_header(k, v)
        super().end_headers()

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_error(self, exc: HubError) -> None:
        headers = {"X-Error-Message": exc.message}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        self._send_json(exc.status, {"error": exc.message}, headers)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path = split.path
        query = parse_qs(split.query)
        token = self._token()
        self._record = Request(self.command, unquote(path), token is not None, self.headers.get("Range"))
        self.fake.requests.append(self._record)
        self._limit_headers: dict[str, str] = {}
        try:
            if token is not None and token not in self.fake.tokens:
                raise HubError(401, None, "Invalid credentials in Authorization header")
            if path == "/api/whoami-v2":
                if token is None:
                    raise HubError(401, None, "Invalid credentials in Authorization header")
                self._send_json(200, {"type": "user", "name": self.fake.tokens[token], "auth": {"type": "access_token"}})
                return
            if path.startswith("/__cdn__/"):
                self._serve_cdn(path)
                return
            if path.startswith("/api/") and self.fake.api_faults:
                status, retry_after = self.fake.api_faults.pop(0)
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                self._send_json(status, {"error": f"HTTP {status} injected by the test"}, headers)
                return
            resource = "api" if path.startswith("/api/") else "resolvers" if "/resolve/" in path else None
            if resource is not None:
                allowed, self._limit_headers = self.fake.limits.take(resource)
                if not allowed:
                    message = f"Rate limited: too many '{resource}' requests in this window; retry later"
                    raise HubError(429, None, message)
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.+))?", path)
            if m:
                repo = self._repo(unquote(m[1]), token, listing=True)
                self._tree(repo, unquote(m[2]), unquote(m[3] or ""), query, path)
                return
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/(revision)/(.+)|/(auth-check))?", path)
            if m:
                repo = self._repo(unquote(m[1]), token, listing=True)
                if m[4]:
                    self._require_file_access(repo, token)
                    self._send_json(200, {"message": "OK"})
                    return
                self._model_info(repo, unquote(m[3]) if m[2] else "main", query)
                return
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                repo = self._repo(unquote(m[1]), token, listing=False)
                self._require_file_access(repo, token)
                self._serve_file(repo, unquote(m[2]), unquote(m[3]))
                return
            raise HubError(404, None, "Not Found")
        except HubError as exc:
            self._send_error(exc)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ------------------------------------------------------------------ API

    def _repo(self, repo_id: str, token: str | None, listing: bool) -> Repo:
        repo = self.fake.repos.get(repo_id)
        visible = repo is not None and (not repo.private or (token is not None and token in repo.access))
        if not visible:
            # The Hub answers 401 to anonymous callers and 404 to signed-in ones for missing or
            # private repos, with RepoNotFound either way.
            raise HubError(401 if token is None else 404, "RepoNotFound", "Repository not found")
        assert repo is not None
        return repo

    def _require_file_access(self, repo: Repo, token: str | None) -> None:
        if not repo.gated:
            return
        if token is None:
            raise HubError(
                401,
                "GatedRepo",
                f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                "authenticated to access it. Please log in.",
            )
        if token not in repo.access:
            raise HubError(
                403,
                "GatedRepo",
                f"Access to model {repo.repo_id} is restricted and you are not in the authorized list. "
                f"Visit {self._base()}/{repo.repo_id} to ask for access.",
            )

    def _base(self) -> str:
        return self.fake.url

    def _model_info(self, repo: Repo, revision: str, query: Mapping[str, list[str]]) -> None:
        sha = self.fake.resolve(repo, revision)
        if sha is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        tree = repo.commits[sha]
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for path in sorted(tree):
            blob = tree[path]
            entry: dict[str, Any] = {"rfilename": path}
            if blobs:
                entry.update(size=blob.size, blobId=blob.blob_id)
                if blob.lfs:
                    entry["lfs"] = {"size": blob.size, "sha256": blob.sha256, "pointerSize": len(blob.pointer)}
            siblings.append(entry)
        tags = [f"license:{repo.license}"] if repo.license else []
        if repo.library_name:
            tags.append(repo.library_name)
        org = repo.repo_id.split("/")[0]
        body: dict[str, Any] = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": org,
            "sha": sha,
            "lastModified": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "private": repo.private,
            "gated": repo.gated or False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": tags,
            "pipeline_tag": repo.pipeline_tag,
            "library_name": repo.library_name,
            "cardData": {"license": repo.license} if repo.license else {},
            "siblings": siblings,
        }
        if "expand" in query or "expand[]" in query:
            wanted = set(query.get("expand", []) + query.get("expand[]", []))
            body = {k: v for k, v in body.items() if k in wanted or k in ("_id", "id")}
        self._send_json(200, {k: v for k, v in body.items() if v is not None})

    def _tree(self, repo: Repo, revision: str, under: str, query: Mapping[str, list[str]], path: str) -> None:
        """`list_repo_tree`: files (with their git and LFS ids) and folders, in cursor pages."""
        sha = self.fake.resolve(repo, revision)
        if sha is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        expanded = query.get("expand", ["false"])[0].lower() == "true"
        entries = hub_tree.tree_entries(repo.commits[sha], under, recursive)
        if entries is None:
            raise HubError(404, "EntryNotFound", f"{under} does not exist on \"{revision}\"")
        size = self.fake.expanded_tree_page_size if expanded else self.fake.tree_page_size
        try:
            chunk, headers = hub_tree.page(entries, query, f"{self._base()}{path}", size)
        except ValueError as exc:
            raise HubError(400, None, str(exc)) from None
        if expanded:
            chunk = hub_tree.expand(chunk, lambda p: repo.last_commit(sha, p))
        self._send_json(200, chunk, headers)

    # ------------------------------------------------------------------ files

    def _serve_file(self, repo: Repo, revision: str, filename: str) -> None:
        sha = self.fake.resolve(repo, revision)
        if sha is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        blob = repo.commits[sha].get(filename)
        if blob is None:
            raise HubError(404, "EntryNotFound", f"{filename} does not exist on \"{revision}\"")
        common = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if blob.lfs:
            # Like the Hub: LFS content is served by a CDN; the redirect carries the real ETag.
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", f"{self.fake.cdn_url}/__cdn__/{blob.sha256}/{quote(filename)}")
            self.send_header("ETag", f'"{blob.blob_id}"')
            self.send_header("X-Linked-Etag", f'"{blob.sha256}"')
            self.send_header("X-Linked-Size", str(blob.size))
            self.send_header("Content-Length", "0")
            for k, v in common.items():
                self.send_header(k, v)
            self.end_headers()
            return
        self._send_bytes(repo, filename, blob, f'"{blob.git_sha1}"', common)

    def _serve_cdn(self, path: str) -> None:
        m = re.fullmatch(r"/__cdn__/([0-9a-f]{64})/(.+)", path)
        found = self.fake.blob_by_sha256(m[1]) if m else None
        if found is None:
            raise HubError(404, None, "Not Found")
        repo, _, blob = found
        self._send_bytes(repo, unquote(m[2]), blob, f'"{blob.sha256}"', {})

    def _send_bytes(self, repo: Repo, filename: str, blob: Blob, etag: str, extra: Mapping[str, str]) -> None:
        start, end, status = 0, blob.size, 200
        wanted = self.headers.get("Range")
        if wanted:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted.strip())
            if not m or (not m[1] and not m[2]):
                raise HubError(416, None, "Invalid range")
            if m[1]:
                start = int(m[1])
                end = min(blob.size, int(m[2]) + 1) if m[2] else blob.size
            else:  # suffix range: the last N bytes
                start = max(0, blob.size - int(m[2]))
            if start >= blob.size:
                raise HubError(416, None, "Range not satisfiable")
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("ETag", etag)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{blob.size}")
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        self._record.body = True
        fault = self.fake.take_fault(repo.repo_id, filename) if status == 200 else None
        sent = 0
        for chunk in blob.read(start, end):
            if fault is not None and sent + len(chunk) > fault.after_bytes:
                self.wfile.write(chunk[: max(0, fault.after_bytes - sent)])
                self.wfile.flush()
                self.close_connection = True  # the body stops short of Content-Length
                return
            self.wfile.write(chunk)
            sent += len(chunk)
