"""Run the real program offline: a stack file's config, Pulumi mocks, and a record of what registered.

This is how `python -m components.plan`, the test suite and the benchmarks exercise `__main__.py`
without the Pulumi CLI, a cloud account or the network. It reproduces what the CLI hands a program:

- `Pulumi.yaml` project defaults merged under `Pulumi.<stack>.yaml`, structured values as JSON
  strings, and every top-level key holding a `secure:` value marked secret. Ciphertext cannot be
  decrypted here, so secure values become the placeholder `[secret]`.
- Credentials the stack needs and secret values it declares but does not hold (they are set per
  stack with `pulumi config set --secret`, never committed) are filled with the same placeholder,
  and reported in `StackFile.placeholders` so the plan can say so.

The mock monitor records, for every registration, what the engine would see: type, name, parent,
inputs (secrets still wrapped, so tests can assert they stayed secret), options such as `protect`
and `dependsOn`, and the outputs the mocks computed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import NAMESPACE, PROJECT
from components.providers import credentials as creds

SECRET_PLACEHOLDER = "[secret]"
REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------------
# stack files
# --------------------------------------------------------------------------------------------


@dataclass
class StackFile:
    stack: str
    config: dict[str, str]
    """Full keys (`modelstack:models`) to string values, as the CLI passes them to a program."""
    secret_keys: set[str]
    placeholders: list[str] = field(default_factory=list)
    """Key paths filled with `[secret]` because the file does not (and should not) hold them."""


class StackFileError(Exception):
    """The stack file is missing or is not a Pulumi stack config file."""


def _qualify(key: str) -> str:
    return key if ":" in key else f"{NAMESPACE}{key}"


def _contains_secure(value: Any) -> bool:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return True
        return any(_contains_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_secure(v) for v in value)
    return False


def _replace_secure(value: Any) -> Any:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _replace_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v) for v in value]
    return value


def _project_defaults(root: Path) -> dict[str, Any]:
    project_file = root / "Pulumi.yaml"
    if not project_file.exists():
        return {}
    declared = (yaml.safe_load(project_file.read_text()) or {}).get("config") or {}
    defaults: dict[str, Any] = {}
    for key, spec in declared.items():
        if isinstance(spec, Mapping) and ("default" in spec or "value" in spec):
            defaults[_qualify(key)] = spec.get("value", spec.get("default"))
        elif not isinstance(spec, Mapping):
            defaults[_qualify(key)] = spec
    return defaults


def _encode(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def read_stack_values(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise StackFileError(f"no stack file {path.name}; create it or pick another --stack")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("config", {}), Mapping):
        raise StackFileError(f"{path.name} must have a top-level 'config:' mapping")
    return dict(data.get("config") or {})


def load_stack_file(stack: str, root: Path = REPO_ROOT, path: Path | None = None) -> StackFile:
    """The config the CLI would give the program for `stack`, secure values as placeholders."""
    values = _project_defaults(root)
    values.update({_qualify(k): v for k, v in read_stack_values(path or root / f"Pulumi.{stack}.yaml").items()})
    secret_keys = {k for k, v in values.items() if _contains_secure(v)}
    values = {k: _replace_secure(v) for k, v in values.items()}
    placeholders = _fill_placeholders(values, secret_keys)
    return StackFile(
        stack=stack,
        config={k: _encode(v) for k, v in values.items()},
        secret_keys=secret_keys,
        placeholders=placeholders,
    )


def _fill_placeholders(values: dict[str, Any], secret_keys: set[str]) -> list[str]:
    """Put `[secret]` where a stack needs a secret its committed file rightly does not hold."""
    filled: list[str] = []
    models = values.get(f"{NAMESPACE}models")
    providers = set()
    if isinstance(models, Mapping):
        for model in models.values():
            endpoint = model.get("endpoint") if isinstance(model, Mapping) else None
            if isinstance(endpoint, Mapping) and isinstance(endpoint.get("provider"), str):
                providers.add(endpoint["provider"])
    if values.get(f"{NAMESPACE}apps"):
        providers.add("modal")  # apps run Modal app files
    templates = values.get(f"{NAMESPACE}templates")
    if isinstance(templates, Mapping):
        providers |= {t.get("provider") for t in templates.values() if isinstance(t, Mapping)} - {None}
    needed: list[str] = []
    if "runpod" in providers:
        needed.append(creds.RUNPOD_API_KEY.config_field)
    if "modal" in providers:
        needed += [creds.MODAL_TOKEN_ID.config_field, creds.MODAL_TOKEN_SECRET.config_field]
    needed.append(creds.HF_TOKEN.config_field)

    cred_key = f"{NAMESPACE}credentials"
    credentials = values.get(cred_key)
    credentials = dict(credentials) if isinstance(credentials, Mapping) else {}
    for name in needed:
        if name not in credentials:
            credentials[name] = SECRET_PLACEHOLDER
            filled.append(f"credentials.{name}")
    buckets = values.get(f"{NAMESPACE}buckets")
    if isinstance(buckets, Mapping):
        s3 = dict(credentials.get("s3") or {})
        for bucket in buckets.values():
            if isinstance(bucket, Mapping) and bucket.get("kind") == "s3":
                name = str(bucket.get("credential", "default"))
                if name not in s3:
                    s3[name] = {"accessKeyId": SECRET_PLACEHOLDER, "secretAccessKey": SECRET_PLACEHOLDER}
                    filled.append(f"credentials.s3.{name}")
        if s3:
            credentials["s3"] = s3
    if filled:
        values[cred_key] = credentials
        secret_keys.add(cred_key)

    secrets_key = f"{NAMESPACE}secrets"
    secrets = values.get(secrets_key)
    if isinstance(secrets, Mapping):
        patched = {}
        for name, spec in secrets.items():
            spec = dict(spec) if isinstance(spec, Mapping) else spec
            if isinstance(spec, dict) and "value" not in spec:
                spec["value"] = SECRET_PLACEHOLDER
                filled.append(f"secrets.{name}.value")
            patched[name] = spec
        values[secrets_key] = patched
        if any(isinstance(s, Mapping) and "value" in s for s in patched.values()):
            secret_keys.add(secrets_key)
    return filled


# --------------------------------------------------------------------------------------------
# the mock engine
# --------------------------------------------------------------------------------------------


def is_secret(value: Any) -> bool:
    from pulumi.runtime import rpc

    return rpc.is_rpc_secret(value)


def unwrap(value: Any) -> Any:
    """Deeply unwrap RPC secret markers (for assertions on values, never for printing)."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return unwrap(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Mapping):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


UNKNOWN_PLACEHOLDER = "(known after deploy)"


def redact(value: Any) -> Any:
    """For display: every secret (and everything inside it) becomes `[secret]`, and every value
    the engine only knows at deploy time `(known after deploy)`."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN_PLACEHOLDER
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    """As serialized by the SDK: secrets are still wrapped (see `is_secret`)."""
    outputs: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    protect: bool = False
    depends_on: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)
    retain_on_delete: bool = False
    registered_outputs: dict[str, Any] = field(default_factory=dict)

    def value(self, key: str) -> Any:
        """An input with secrets unwrapped."""
        return unwrap(self.inputs.get(key))


def _fake_digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def _computed_outputs(typ: str, name: str, inputs: dict[str, Any], project: str, region: str) -> dict[str, Any]:
    """Outputs a real provider would compute, shaped like the real thing, deterministic."""
    short = hashlib.sha256(name.encode()).hexdigest()[:10]
    out: dict[str, Any] = {}
    if typ == "gcp:cloudrunv2/service:Service":
        out["uri"] = f"https://{inputs.get('name', name)}-{short}-uc.a.run.app"
        out["latestReadyRevision"] = f"{inputs.get('name', name)}-00001-abc"
    elif typ == "gcp:serviceaccount/account:Account":
        out["email"] = f"{inputs.get('accountId', name)}@{project}.iam.gserviceaccount.com"
        out["member"] = f"serviceAccount:{out['email']}"
        out["name"] = f"projects/{project}/serviceAccounts/{out['email']}"
    elif typ == "gcp:storage/bucket:Bucket":
        out["url"] = f"gs://{inputs.get('name', name)}"
        out["selfLink"] = f"https://www.googleapis.com/storage/v1/b/{inputs.get('name', name)}"
    elif typ == "gcp:secretmanager/secret:Secret":
        out["name"] = f"projects/123456789012/secrets/{inputs.get('secretId', name)}"
    elif typ == "gcp:secretmanager/secretVersion:SecretVersion":
        out["version"] = str(int(float(inputs.get("secretDataWoVersion") or 1)))
        out["name"] = f"{inputs.get('secret', '')}/versions/{out['version']}"
    elif typ == "gcp:artifactregistry/repository:Repository":
        out["registryUri"] = f"{region}-docker.pkg.dev/{project}/{inputs.get('repositoryId', name)}"
    elif typ == "docker:index/image:Image":
        image = str(inputs.get("imageName", name))
        repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
        out["repoDigest"] = f"{repo}@{_fake_digest(image)}"
        out["imageName"] = image
    elif typ == "gcp:firestore/database:Database":
        out["uid"] = f"db-{short}"
    elif typ == "pulumi-python:dynamic/huggingface:Model":
        # A config that pins a commit names the sha the deploy will use; otherwise the Hub resolves
        # it at deploy time and the plan shows it as not yet known.
        revision = str(inputs.get("revision") or "")
        if re.fullmatch(r"[0-9a-f]{40}", revision):
            out["sha"] = revision
    return out


class PlanMocks:
    """`pulumi.runtime.Mocks` for offline runs: echo inputs, add realistic computed outputs."""

    def __init__(self, project: str = "mock-project", region: str = "us-central1"):
        self.project = project
        self.region = region

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        state.update(_computed_outputs(args.typ, args.name, args.inputs, self.project, self.region))
        resource_id = state.get("id") or f"{args.name}-id"
        return str(resource_id), state

    def call(self, args: Any) -> dict[str, Any]:
        if args.token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"accessToken": "mock-access-token", "project": self.project, "region": self.region, "id": "cfg"}
        if args.token == "gcp:organizations/getProject:getProject":
            return {"number": "123456789012", "projectId": self.project, "id": self.project}
        return {}

    # The SDK checks for these optional hooks on Mocks subclasses.
    def register_transform(self, transform: Any) -> None:  # pragma: no cover - not used
        pass

    def register_invoke_transform(self, transform: Any) -> None:  # pragma: no cover - not used
        pass


def _recording_monitor_class() -> type:
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.sync_await import _ensure_event_loop

    class RecordingMonitor(MockMonitor):  # type: ignore[misc]
        def __init__(self, mocks: Any):
            super().__init__(mocks)
            self.registrations: dict[str, Registration] = {}
            self.order: list[str] = []

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            _ensure_event_loop()
            response = super().RegisterResource(request)
            urn = self.make_urn(request.parent, request.type, request.name)
            inputs = rpc.deserialize_properties(request.object)
            registered = self.resources.get(urn)
            self.registrations[urn] = Registration(
                urn=urn,
                type=request.type,
                name=request.name,
                parent=request.parent,
                custom=bool(request.custom),
                inputs=dict(inputs),
                outputs=dict(registered.state) if registered else {},
                id=registered.id if registered else "",
                protect=bool(request.protect),
                depends_on=list(request.dependencies),
                delete_before_replace=bool(request.deleteBeforeReplace),
                ignore_changes=list(request.ignoreChanges),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                retain_on_delete=bool(request.retainOnDelete),
            )
            self.order.append(urn)
            return response

        def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802
            _ensure_event_loop()
            if request.urn in self.registrations:
                self.registrations[request.urn].registered_outputs = dict(
                    rpc.deserialize_properties(request.outputs)
                )
            return super().RegisterResourceOutputs(request)

    return RecordingMonitor


# --------------------------------------------------------------------------------------------
# running the program
# --------------------------------------------------------------------------------------------


@dataclass
class StackOutput:
    value: Any
    secret: bool


@dataclass
class ProgramRun:
    stack: str
    resources: list[Registration]
    outputs: dict[str, StackOutput]
    placeholders: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """What the program logged with `pulumi.log.warn`: what `pulumi preview` would print as warnings."""

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str) -> Registration:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self, urn: str) -> Registration:
        for r in self.resources:
            if r.urn == urn:
                return r
        raise KeyError(urn)

    def children_of(self, parent: Registration) -> list[Registration]:
        return [r for r in self.resources if r.parent == parent.urn]

    def walk(self) -> Iterator[tuple[int, Registration]]:
        """Depth-first over the resource tree, in registration order."""
        children: dict[str, list[Registration]] = {}
        urns = {r.urn for r in self.resources}
        for r in self.resources:
            children.setdefault(r.parent if r.parent in urns else "", []).append(r)

        def visit(parent: str, depth: int) -> Iterator[tuple[int, Registration]]:
            for r in children.get(parent, []):
                yield depth, r
                yield from visit(r.urn, depth + 1)

        yield from visit("", 0)


def run_program(
    stack: str,
    *,
    root: Path = REPO_ROOT,
    stack_file: StackFile | None = None,
    preview: bool = True,
    program: Callable[[], None] | None = None,
    mocks: type[PlanMocks] | None = None,
) -> ProgramRun:
    """Run `root/__main__.py` (or `program`) under mocks with `stack`'s config and record it.

    `preview=True` (the default) runs as `pulumi preview` does: outputs a provider only learns at
    deploy time stay unknown. Tests that need them pass `preview=False` with `mocks`, a `PlanMocks`
    subclass that invents deploy-time outputs.

    Raises whatever the program raises, e.g. `components.config.ConfigError` for a bad config.
    """
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    stack_file = stack_file or load_stack_file(stack, root)
    project_id = _plain(stack_file.config.get("gcp:project")) or "mock-project"
    region = _plain(stack_file.config.get("gcp:region")) or "us-central1"
    mock = (mocks or PlanMocks)(project_id, region)
    monitor = _recording_monitor_class()(mock)
    engine_log = _EngineLog()

    _ensure_open_event_loop()
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mock, project=PROJECT, stack=stack, preview=preview, logger=engine_log, monitor=monitor)
    pulumi.runtime.set_all_config(dict(stack_file.config), sorted(stack_file.secret_keys))

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

    def body() -> None:
        if program is not None:
            program()
        else:
            runpy.run_path(str(root / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(body))

    outputs: dict[str, StackOutput] = {}
    root_resource = settings.get_root_resource()
    for key, value in getattr(root_resource, "outputs", {}).items():
        out = pulumi.Output.from_input(value)
        resolved = _sync_await(out.future(with_unknowns=True))
        outputs[key] = StackOutput(value=resolved, secret=bool(_sync_await(out.is_secret())))

    resources = [monitor.registrations[urn] for urn in monitor.order]
    return ProgramRun(
        stack=stack,
        resources=resources,
        outputs=outputs,
        placeholders=stack_file.placeholders,
        warnings=list(dict.fromkeys(engine_log.warnings)),
    )


class _EngineLog(logging.Logger):
    """The logger the mock engine writes `pulumi.log.*` calls to: warnings are kept for the plan
    (the CLI prints them under the resource), the rest is dropped as the CLI's default does."""

    def __init__(self) -> None:
        super().__init__("modelstack.offline.engine", logging.WARNING)
        self.propagate = False
        self.warnings: list[str] = []

    def handle(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.warnings.append(record.getMessage())


def _ensure_open_event_loop() -> None:
    """The Pulumi runtime uses the thread's current event loop; code that ran `asyncio.run()` in
    this thread before (a test, an embedding tool) leaves none set, or a closed one."""
    import asyncio
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:
            loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def _plain(value: str | None) -> str | None:
    if value is None or value == SECRET_PLACEHOLDER:
        return None
    return value
