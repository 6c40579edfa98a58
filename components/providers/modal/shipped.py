"""Which local files a deploy of a Modal app file ships, as the `modal` client itself decides.

`ModalApp.check` hashes exactly these, so an edit to a shipped file redeploys and an edit to
anything else (a file Modal leaves out, a dot-file, a package the app does not add) does not. The
answer depends on the app file's code: Modal mounts the function's own source (its top-level
package, or the loose file) unless `include_source=False`, plus every `image.add_local_*` layer,
with each call's own ignore rules. So the app file is imported, in a process of its own as for a
deploy (`deploy.py`), and the local mounts its functions and classes depend on are asked for their
files, the way `modal serve` finds what to watch. Nothing is sent anywhere: Modal objects are lazy
and importing an app file makes no call. The child gets no credentials (no token variables, an
empty config file) and a server address nothing listens on, so an app file that did call Modal at
import would fail fast instead of reaching a workspace. Importing takes about a second per app file
(`benchmarks/modal_shipped.py`), about what importing `modal` itself costs.

This reads the client's private mount objects (`_deps`, `_entries`), which requirements.txt pins
to one minor version of `modal`; tests/modal/test_source_hash.py fails if they change shape.

What an image *build* reads (a requirements file, `copy=True` layers) is not visible this way; the
app's `include` input names those.

    python -m components.providers.modal.shipped
    request (stdin): {sourceFile, environment, env: {...settings...}, resultPath}
    result:          {files: [[local path, remote path], ...]} or {error: {type, message}}
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 120
CHECKOUT = Path(__file__).resolve().parents[3]
UNREACHABLE_SERVER = "http://127.0.0.1:9"
"""The discard port: refused at once, so a stray call fails instead of waiting."""


class ShippedFilesError(Exception):
    """The app file could not be imported to see what it ships; the message says why."""


def _local_mounts(app: Any) -> list[Any]:
    """Every local `_Mount` reachable from the app's functions and classes (through their images)."""
    from modal._utils.async_utils import synchronizer
    from modal.mount import _Mount

    inner = synchronizer._translate_in(app)
    seen: set[int] = set()
    found: list[Any] = []
    pending: list[Any] = [*inner._local_state.functions.values(), *inner._local_state.classes.values()]
    while pending:  # bounded: every object is visited once
        obj = pending.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, _Mount) and obj.is_local():
            found.append(obj)
        deps = getattr(obj, "_deps", None)
        if callable(deps):
            pending.extend(deps())
    return found


def list_files(request: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(local path, path in the container) of every file the app file's deploy would upload."""
    from components.providers.modal.deploy import find_app, module_for

    source = Path(request["sourceFile"]).resolve()
    os.environ.update(request.get("env") or {})
    os.environ["MODAL_ENVIRONMENT"] = request.get("environment") or os.environ.get("MODAL_ENVIRONMENT", "")
    module_name, path_root = module_for(source)
    sys.path.insert(0, str(path_root))
    app = find_app(importlib.import_module(module_name), source)
    files: set[tuple[str, str]] = set()
    for mount in _local_mounts(app):
        for entry in mount._entries or ():
            for local, remote in entry.get_files_to_upload():
                files.add((str(local), str(remote)))
    return sorted(files)


def shipped_files(source_file: str, environment: str, env: Mapping[str, str], cwd: Path) -> list[tuple[str, str]]:
    """Run `list_files` in a subprocess (the app file's module state must not leak into ours)."""
    with tempfile.TemporaryDirectory(prefix="modelstack-modal-shipped-") as tmp:
        result_path = Path(tmp) / "result.json"
        request = {"sourceFile": source_file, "environment": environment, "env": dict(env), "resultPath": str(result_path)}
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
        # No credentials, no profile, no reachable server: listing files must never need or use them.
        child_env["MODAL_CONFIG_PATH"] = str(Path(tmp) / "no-modal.toml")
        child_env["MODAL_SERVER_URL"] = UNREACHABLE_SERVER
        # The project (the app file's imports) first, then this checkout (for `-m` below).
        child_env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(CHECKOUT), *filter(None, [child_env.get("PYTHONPATH")])])
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "components.providers.modal.shipped"],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=TIMEOUT_SECONDS,
                cwd=cwd,
                env=child_env,
            )
        except subprocess.TimeoutExpired:
            raise ShippedFilesError(f"importing {source_file} took more than {TIMEOUT_SECONDS}s") from None
        if not result_path.is_file():
            raise ShippedFilesError(f"importing {source_file} failed: {(proc.stderr or proc.stdout)[-1000:]}")
        result = json.loads(result_path.read_text())
    if "error" in result:
        raise ShippedFilesError(f"importing {source_file} failed: {result['error']['type']}: {result['error']['message']}")
    return [(local, remote) for local, remote in result["files"]]


def main() -> int:
    request = json.loads(sys.stdin.read())
    result_path = Path(request["resultPath"])
    try:
        result: dict[str, Any] = {"files": list_files(request)}
        status = 0
    except BaseException as exc:  # reported to check(), which names the input
        result = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        status = 1
    result_path.write_text(json.dumps(result))
    return status


if __name__ == "__main__":
    sys.exit(main())
