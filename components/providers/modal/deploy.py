"""Deploy one Modal app file, in a process of its own: `python -m components.providers.modal.deploy`.

`ModalApp` runs this module as a subprocess for every deploy, so that importing one app file (its
module state, its `modal.App` and decorators, `sys.modules`, the client's caches) can never leak into
another app deployed by the same `pulumi up`.

Protocol: one JSON request on stdin (token included: never on the command line or in the
environment, where other processes could read it); the result is written as JSON to the file the
request names. stdout and stderr carry only logs.

    request: {token: {id, secret}, name, environment, sourceFile, tag, strategy, webEndpoints,
              env: {...settings and plain env...}, resultPath}
    result:  {appId, version, webUrls: {endpoint: url}}
          or {error: {type, message, transient}}
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def module_for(source: Path) -> tuple[str, Path]:
    """The import name of `source` and the directory to put on sys.path.

    A file inside a package (every directory up to some root has __init__.py) is imported as part of
    it, as `python -m` would, so Modal mounts the whole top-level package into the container. A
    loose file is imported by its stem, as `modal deploy path/to/file.py` does.
    """
    parts = [source.stem]
    directory = source.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts), directory


def find_app(module: Any, source: Path) -> Any:
    import modal

    candidate = getattr(module, "app", None)
    if isinstance(candidate, modal.App):
        return candidate
    apps = [value for value in vars(module).values() if isinstance(value, modal.App)]
    if len(apps) == 1:
        return apps[0]
    if not apps:
        raise LookupError(f"{source} defines no modal.App")
    raise LookupError(f"{source} defines {len(apps)} modal.App objects; name the one to deploy `app`")


def web_urls(name: str, environment: str, endpoints: list[str], client: Any) -> dict[str, str]:
    """Each requested endpoint's URL as the deployed app reports it (`Cls.method` or `function`)."""
    import modal

    urls: dict[str, str] = {}
    for endpoint in endpoints:
        if "." in endpoint:
            cls_name, method = endpoint.split(".", 1)
            instance = modal.Cls.from_name(name, cls_name, environment_name=environment, client=client)()
            url = getattr(instance, method).get_web_url()
        else:
            url = modal.Function.from_name(name, endpoint, environment_name=environment, client=client).get_web_url()
        if not url:
            raise LookupError(f"{endpoint} is not a web endpoint of app {name!r}")
        urls[endpoint] = url
    return urls


def deploy(request: dict[str, Any]) -> dict[str, Any]:
    import modal

    name, environment = request["name"], request["environment"]
    source = Path(request["sourceFile"]).resolve()
    if not source.is_file():
        raise FileNotFoundError(f"app file {request['sourceFile']!r} not found")

    # The app file reads its settings at import time; a stray MODAL_ENVIRONMENT must not disagree.
    os.environ.update(request.get("env") or {})
    os.environ["MODAL_ENVIRONMENT"] = environment
    module_name, path_root = module_for(source)
    sys.path.insert(0, str(path_root))
    module = importlib.import_module(module_name)
    app = find_app(module, source)

    token = request["token"]
    client = modal.Client.from_credentials(token["id"], token["secret"])
    try:
        app.deploy(
            name=name,
            environment_name=environment,
            tag=request.get("tag") or "",
            client=client,
            strategy=request.get("strategy") or "rolling",
        )
        deployed = modal.App.lookup(name, environment_name=environment, client=client)
        info = deployed.info()
        return {
            "appId": deployed.app_id,
            "version": int(info.lifecycle.version or 0),
            "webUrls": web_urls(name, environment, list(request.get("webEndpoints") or []), client),
        }
    finally:
        client.close()


def _transient(exc: BaseException) -> bool:
    import modal.exception as mx

    return isinstance(exc, (mx.ServiceError, mx.InternalError, mx.ConnectionError, mx.TimeoutError, ConnectionError, TimeoutError))


def main() -> int:
    request = json.loads(sys.stdin.read())
    result_path = Path(request["resultPath"])
    try:
        result: dict[str, Any] = deploy(request)
        status = 0
    except BaseException as exc:  # reported to the provider, which names the resource and operation
        result = {"error": {"type": type(exc).__name__, "message": str(exc), "transient": _transient(exc)}}
        status = 1
    result_path.write_text(json.dumps(result))
    return status


if __name__ == "__main__":
    sys.exit(main())
