"""Content hashes that decide whether a Modal resource must be touched.

- `salted_hash`: a secret's values, keyed by a random per-resource salt, so state and diffs can tell
  "changed" from "unchanged" without anyone being able to test guesses against a plain hash.
- `shipped_hash`: the files an app deploy ships (as `shipped.py` lists them) plus its `include`
  paths, so an unchanged source is never redeployed;
- `tree_hash`/`manifest`: the local files a volume is seeded from, so unchanged content is never
  re-uploaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from components.providers.salting import hmac_hex, new_salt  # noqa: F401 - new_salt is re-exported

# Never part of what we deploy or upload: caches and VCS metadata change without the content changing.
IGNORED_DIRS = frozenset({"__pycache__", ".git", ".hg", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".venv"})
IGNORED_SUFFIXES = (".pyc", ".pyo")
IGNORED_FILES = frozenset({".DS_Store"})


def salted_hash(salt: str, values: Mapping[str, str]) -> str:
    canonical = json.dumps(dict(sorted(values.items())), separators=(",", ":"), ensure_ascii=False)
    return "hmac-sha256:" + hmac_hex(salt, canonical)


def _wanted(path: Path, skip_hidden: bool) -> bool:
    if skip_hidden and path.name.startswith("."):
        return False
    return path.name not in IGNORED_FILES and not path.name.endswith(IGNORED_SUFFIXES)


def iter_files(path: Path, skip_hidden: bool = False) -> Iterator[Path]:
    """Regular files under `path` (or `path` itself), sorted, without caches and VCS metadata;
    `skip_hidden` also leaves out dot-files and dot-directories, as Modal does for app source."""
    if path.is_file():
        yield path
        return
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not (skip_hidden and d.startswith(".")))
        for name in sorted(filenames):
            candidate = Path(dirpath) / name
            if _wanted(candidate, skip_hidden) and candidate.is_file():
                yield candidate


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_hash(paths: Iterable[Path], root: Path) -> str:
    """One hash over every file under `paths`: relative path, executable bit and content."""
    digest = hashlib.sha256()
    for top in sorted({Path(p) for p in paths}):
        for file in iter_files(top):
            rel = Path(os.path.relpath(file.resolve(), root.resolve())).as_posix()
            mode = "x" if os.access(file, os.X_OK) else "-"
            digest.update(f"{rel}\0{mode}\0{file_sha256(file)}\n".encode())
    return "sha256:" + digest.hexdigest()


def shipped_hash(shipped: Iterable[tuple[str, str]], include: Iterable[Path], root: Path) -> str:
    """One hash over what an app deploy depends on: each shipped file under its path in the
    container (executable bit and content), then every file under the `include` paths."""
    digest = hashlib.sha256()
    for local, remote in sorted(set(shipped), key=lambda pair: pair[1]):
        file = Path(local)
        mode = "x" if os.access(file, os.X_OK) else "-"
        digest.update(f"ship\0{remote}\0{mode}\0{file_sha256(file)}\n".encode())
    for top in sorted({Path(p) for p in include}):
        for file in iter_files(top, skip_hidden=True):
            rel = Path(os.path.relpath(file.resolve(), root.resolve())).as_posix()
            mode = "x" if os.access(file, os.X_OK) else "-"
            digest.update(f"include\0{rel}\0{mode}\0{file_sha256(file)}\n".encode())
    return "sha256:" + digest.hexdigest()


def manifest(directory: Path) -> dict[str, int]:
    """Relative path -> size of every file a seed uploads from `directory`."""
    return {f.relative_to(directory).as_posix(): f.stat().st_size for f in iter_files(directory)}
