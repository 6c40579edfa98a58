"""`ModalApp`: a deployed Modal app, built from a Python app file with the stack's settings.

The app file is ours (`inference/modal_app.py`) or a user's own. Every setting (GPU, scaling,
secrets, volumes, environment) is handed to it through environment variables (see
`inference/contract.py`), and the deploy itself runs in a subprocess (`deploy.py`) so that
several apps in one stack cannot leak module state into each other.

- id: Modal's app id. Redeploying a name keeps the id and bumps the version, so updates are in place;
  a new name or environment is a new app (replace).
- `check` hashes the source: exactly the files a deploy ships, as the `modal` client itself lists
  them for this app file (`shipped.py`: its own source unless `include_source=False`, every
  `add_local_*` layer, dot-files left out as Modal does), plus any `include` paths (what an image
  build reads, such as requirements files). An unchanged source with unchanged settings never
  redeploys; an edit to a file Modal does not ship never redeploys either.
- `tag` (the git commit) and `strategy` describe how a deploy happens, not what is deployed: they
  never cause a diff.
- `proxyAuth` (default true) makes the app's web endpoints require Modal proxy auth; the app file
  reads it as `ModalSettings.proxy_auth`. Changing it redeploys.
- `startupTimeout` is Modal's `startup_timeout`: the time `@modal.enter` (the model's download and
  load) may take, apart from `timeout`, which bounds one call. Default 20 minutes.
- `triggers` redeploys when any value changes; pass the `secretId` of each `ModalSecret` and the
  `volumeId` of each `ModalVolume` the app uses, because deployed functions hold secrets and volumes
  by id and a re-created one needs a redeploy.
- `read` finds the app by id: stopped or gone -> dropped from state; a version other than ours (a
  `modal deploy` by hand, a rollback in the dashboard) marks the source drifted so `up` redeploys.
- `delete` stops the app (Modal has no delete).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult
from pulumi.output import Unknown

from components.limits import modal as modal_limits
from components.providers import credentials as creds
from components.providers.modal import hashing, refusals, shipped
from components.providers.modal.inputs import (
    ENV_VAR,
    TAG,
    CamelCaseProperties,
    Checker,
    changed,
    has_unknown,
    is_unknown,
)
from components.providers.modal.session import (
    ModalProviderError,
    Target,
    Token,
    auth_hint,
    missing_token_message,
    run,
    scrub,
    token_from,
)
from inference import contract

DEFAULT_SOURCE = "inference/modal_app.py"
DEPLOY_TIMEOUT_SECONDS = 30 * 60
DEPLOY_ATTEMPTS = 2
SETTING_KEYS = (
    "sourceFile", "sourceHash", "include", "gpu", "minContainers", "maxContainers", "bufferContainers",
    "scaledownWindow", "timeout", "startupTimeout", "secrets", "volumes", "env", "warmSchedule", "webEndpoints", "proxyAuth",
    "triggers",
)
STRATEGIES = ("rolling", "recreate")


def _target(props: dict[str, Any]) -> Target:
    return Target("App", str(props.get("name")), str(props.get("environment")))


def git_tag(cwd: Path) -> str:
    """The checked-out commit as a deployment tag (`<sha12>` or `<sha12>-dirty`), or '' outside git."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{sha}-dirty" if dirty else sha


def settings_env(props: dict[str, Any]) -> dict[str, str]:
    """The environment the app file is imported with: its settings plus the plain container env."""
    settings = contract.ModalSettings(
        app_name=props["name"],
        environment=props["environment"],
        gpu=list(props.get("gpu") or []),
        min_containers=int(props.get("minContainers") or 0),
        max_containers=int(props.get("maxContainers") or 0),
        buffer_containers=int(props.get("bufferContainers") or 0),
        scaledown_window=int(props.get("scaledownWindow") or 60),
        timeout=int(props.get("timeout") or 300),
        startup_timeout=int(props.get("startupTimeout") or modal_limits.DEFAULT_STARTUP_TIMEOUT),
        secrets=list(props.get("secrets") or []),
        volumes=dict(props.get("volumes") or {}),
        env=dict(props.get("env") or {}),
        warm_schedule=str(props.get("warmSchedule") or ""),
        # check fills it in; anything but an explicit false keeps the endpoints behind proxy auth.
        proxy_auth=props.get("proxyAuth") is not False,
    )
    return {**settings.env, **settings.to_env()}


def _known_settings(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs without what a preview does not know yet (whole values, list items, map entries)."""
    known: dict[str, Any] = {}
    for key, value in inputs.items():
        if is_unknown(value):
            continue
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if not has_unknown(k) and not has_unknown(v)}
        elif isinstance(value, list):
            value = [v for v in value if not has_unknown(v)]
        known[key] = value
    known.setdefault("name", "app")
    return known


class AppProvider(ResourceProvider):
    def __init__(self) -> None:
        self._token: Token | None = None

    def configure(self, req: Any) -> None:
        self._token = token_from(creds.from_provider_config(req.config))

    # ------------------------------------------------------------------ check and diff (offline)

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        c = Checker(news)
        inputs: dict[str, Any] = {
            "name": c.object_name("name", "App"),
            "environment": c.environment(),
            "sourceFile": c.string("sourceFile", DEFAULT_SOURCE),
            "include": c.string_list("include"),
            "gpu": c.string_list("gpu"),
            "minContainers": c.integer("minContainers", 0, modal_limits.CONTAINERS),
            "maxContainers": c.integer("maxContainers", 0, modal_limits.CONTAINERS),
            "bufferContainers": c.integer("bufferContainers", 0, modal_limits.CONTAINERS),
            "scaledownWindow": c.integer("scaledownWindow", 60, modal_limits.SCALEDOWN_WINDOW),
            "timeout": c.integer("timeout", 300, modal_limits.TIMEOUT),
            "startupTimeout": c.integer("startupTimeout", modal_limits.DEFAULT_STARTUP_TIMEOUT, modal_limits.STARTUP_TIMEOUT),
            "secrets": c.string_list("secrets"),
            "volumes": c.string_map("volumes"),
            "env": c.string_map("env", ENV_VAR, "environment variable name"),
            "warmSchedule": c.string("warmSchedule"),
            "tag": c.string("tag"),
            "strategy": c.string("strategy", "rolling", STRATEGIES),
            "webEndpoints": c.string_list("webEndpoints"),
            "proxyAuth": c.boolean("proxyAuth", True),
            "triggers": c.string_map("triggers"),
        }
        mins, maxs = inputs["minContainers"], inputs["maxContainers"]
        if isinstance(mins, int) and isinstance(maxs, int) and maxs and maxs < mins:
            c.fail("maxContainers", f"must be >= minContainers ({mins}) or 0 for no limit; got {maxs}")
        tag = inputs["tag"]
        if isinstance(tag, str) and tag and not TAG.match(tag):
            c.fail("tag", f"a deployment tag is 1-50 letters, digits, '.', '_' or '-'; got {tag!r}")
        volumes = inputs["volumes"]
        if isinstance(volumes, dict):
            for path in volumes:
                if not str(path).startswith("/"):
                    c.fail(f"volumes.{path}", "mount paths must be absolute, such as /data")
        inputs["sourceHash"] = self._source_hash(c, inputs)
        return CheckResult(inputs, c.failures)

    @staticmethod
    def _source_hash(c: Checker, inputs: dict[str, Any]) -> Any:
        source_file, include = inputs["sourceFile"], inputs["include"]
        if is_unknown(source_file) or has_unknown(include):
            return Unknown()
        if not isinstance(source_file, str) or not Path(source_file).is_file():
            c.fail("sourceFile", f"app file {source_file!r} not found (paths are relative to the project root)")
            return ""
        missing = [p for p in include if not Path(p).exists()]
        for p in missing:
            c.fail("include", f"{p!r} does not exist (paths are relative to the project root)")
        if missing or c.failures:
            return ""
        # What Modal ships depends on the app file's code (its add_local_* layers), which may read
        # its settings: import it with them, the values a preview does not know yet left out.
        known = _known_settings(inputs)
        try:
            files = shipped.shipped_files(source_file, str(known.get("environment") or ""), settings_env(known), Path.cwd())
        except shipped.ShippedFilesError as exc:
            if has_unknown(inputs):
                # A preview: the file may need a value that is not known yet; `up` checks again.
                return Unknown()
            c.fail("sourceFile", f"{exc}; fix the app file so that `modal deploy` could import it")
            return ""
        return hashing.shipped_hash(files, [Path(p) for p in include], Path.cwd())

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed(olds, news, ("name", "environment"))
        updates = changed(olds, news, SETTING_KEYS)
        return DiffResult(changes=bool(replaces or updates), replaces=replaces, delete_before_replace=False)

    # ------------------------------------------------------------------ deploy (create and update)

    def _deploy(self, props: dict[str, Any], operation: str) -> dict[str, Any]:
        target = _target(props)
        if self._token is None:
            raise ModalProviderError(target, operation, missing_token_message())
        tag = props.get("tag") or git_tag(Path.cwd())
        for attempt in range(1, DEPLOY_ATTEMPTS + 1):
            result = self._run_deploy(target, operation, props, tag)
            error = result.get("error")
            if error is None:
                break
            # A refusal of a setting leads with the input to fix; anything else keeps Modal's own words.
            text = refusals.explain(error["type"], error["message"]) or f"{error['type']}: {error['message']}"
            message = scrub(text, [self._token.token_id, self._token.token_secret])
            if error["type"] in ("AuthError", "PermissionDeniedError"):
                raise ModalProviderError(target, operation, auth_hint(message))
            if not error.get("transient") or attempt == DEPLOY_ATTEMPTS:
                suffix = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise ModalProviderError(target, operation, message + suffix)
        return {
            **{k: v for k, v in props.items() if not k.startswith("__")},
            "tag": tag,
            "appId": result["appId"],
            "version": result["version"],
            "webUrls": result["webUrls"],
            "webUrl": next(iter(result["webUrls"].values()), ""),
        }

    def _run_deploy(self, target: Target, operation: str, props: dict[str, Any], tag: str) -> dict[str, Any]:
        assert self._token is not None
        with tempfile.TemporaryDirectory(prefix="modelstack-modal-deploy-") as tmp:
            result_path = Path(tmp) / "result.json"
            request = {
                "token": {"id": self._token.token_id, "secret": self._token.token_secret},
                "name": props["name"],
                "environment": props["environment"],
                "sourceFile": props["sourceFile"],
                "tag": tag,
                "strategy": props.get("strategy") or "rolling",
                "webEndpoints": list(props.get("webEndpoints") or []),
                "env": settings_env(props),
                "resultPath": str(result_path),
            }
            env = {k: v for k, v in os.environ.items() if k not in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET")}
            # The project first (the app file's imports), then this checkout (for `-m` below).
            env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), str(shipped.CHECKOUT), *filter(None, [env.get("PYTHONPATH")])])
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "components.providers.modal.deploy"],
                    input=json.dumps(request),
                    capture_output=True,
                    text=True,
                    timeout=DEPLOY_TIMEOUT_SECONDS,
                    cwd=Path.cwd(),
                    env=env,
                )
            except subprocess.TimeoutExpired:
                raise ModalProviderError(
                    target, operation, f"the deploy did not finish within {DEPLOY_TIMEOUT_SECONDS}s"
                ) from None
            if result_path.is_file():
                return json.loads(result_path.read_text())
            log = scrub((proc.stderr or proc.stdout or "")[-2000:], [self._token.token_id, self._token.token_secret])
            raise ModalProviderError(target, operation, f"the deploy process exited with {proc.returncode}: {log}")

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._deploy(props, "create")
        return CreateResult(outs["appId"], outs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._deploy(news, "update"))

    # ------------------------------------------------------------------ read and delete

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        import modal
        from modal.exception import NotFoundError
        from modal.types import AppState

        def lookup(client: Any) -> int | None:
            try:
                app = modal.App.lookup(id_, client=client)
            except NotFoundError:
                return None
            lifecycle = app.info().lifecycle
            if lifecycle.state in (AppState.STOPPED, AppState.STOPPING, AppState.DISABLED):
                return None
            return int(lifecycle.version or 0)

        version = run(_target(props), "read", self._token, lookup)
        if version is None:
            return ReadResult("", {})
        outs = {**props, "appId": id_, "version": version}
        if version != props.get("version"):
            outs["sourceHash"] = f"drifted: version {version} was deployed outside this stack"
        return ReadResult(id_, outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        import modal
        from modal.exception import NotFoundError
        from modal.types import AppState

        def stop(client: Any) -> None:
            try:
                app = modal.App.lookup(id_, client=client)
            except NotFoundError:
                return
            if app.info().lifecycle.state != AppState.STOPPED:
                app.stop(client=client)

        run(_target(props), "delete", self._token, stop)


class ModalAppArgs(TypedDict, total=False):
    name: pulumi.Input[str]
    """App name, unique in its environment."""
    environment: pulumi.Input[str]
    """Modal environment, always explicit."""
    source_file: pulumi.Input[str]
    """The app file, relative to the project root (default inference/modal_app.py)."""
    include: pulumi.Input[list[str]]
    """More paths whose content a deploy depends on (requirements, data the image copies)."""
    gpu: pulumi.Input[list[str]]
    """Modal GPU names in priority order (`T4`, `A10G:2`); empty for CPU."""
    min_containers: pulumi.Input[int]
    max_containers: pulumi.Input[int]
    """0 for no limit."""
    buffer_containers: pulumi.Input[int]
    scaledown_window: pulumi.Input[int]
    timeout: pulumi.Input[int]
    startup_timeout: pulumi.Input[int]
    """Seconds a container may take to start (`@modal.enter`: model download and load); default 20 min."""
    secrets: pulumi.Input[list[pulumi.Input[str]]]
    """Names of Modal secrets the app attaches."""
    volumes: pulumi.Input[dict[str, pulumi.Input[str]]]
    """Mount path -> Modal volume name."""
    env: pulumi.Input[dict[str, pulumi.Input[str]]]
    """Plain (non-secret) environment for the containers."""
    warm_schedule: pulumi.Input[str]
    """Cron (UTC) for a function that keeps one container warm; empty for none."""
    tag: pulumi.Input[str]
    """Deployment tag; defaults to the checked-out git commit."""
    strategy: pulumi.Input[str]
    """rolling (default) or recreate."""
    web_endpoints: pulumi.Input[list[str]]
    """`Class.method` or `function` names whose web URLs become outputs."""
    proxy_auth: pulumi.Input[bool]
    """Web endpoints require Modal proxy auth (Modal-Key/Modal-Secret headers); default true."""
    triggers: pulumi.Input[dict[str, pulumi.Input[str]]]
    """Any change here redeploys (e.g. the secretId of each secret used)."""


class ModalApp(CamelCaseProperties, pulumi.dynamic.Resource, module="modal", name="App"):
    app_id: pulumi.Output[str]
    version: pulumi.Output[int]
    web_url: pulumi.Output[str]
    web_urls: pulumi.Output[dict[str, str]]

    PROPERTIES = (
        "source_file", "source_hash", "min_containers", "max_containers", "buffer_containers",
        "scaledown_window", "startup_timeout", "warm_schedule", "web_endpoints", "proxy_auth", "app_id", "web_url", "web_urls",
    )

    def __init__(self, resource_name: str, args: ModalAppArgs, opts: pulumi.ResourceOptions | None = None):
        props: dict[str, Any] = {"source_file": DEFAULT_SOURCE, **args}
        props.update({"source_hash": None, "app_id": None, "version": None, "web_url": None, "web_urls": None})
        super().__init__(AppProvider(), resource_name, props, opts)
