"""What the program configures for the runtime: each service's and worker's environment, secrets included.

`capture(stack)` runs the real program under `LocalDeployMocks` and reads back, from the resources it
registered, the environment each runtime would start with once the clouds have done their part:

- the gateway (a Cloud Run service): its plain `envs`, and each `secretKeyRef` resolved the way
  Cloud Run does, to the Secret Manager version the program wrote for that secret id;
- a Runpod worker: its template's `env`, with each `{{ RUNPOD_SECRET_<name> }}` reference replaced
  by the value of the Runpod secret of that name, as Runpod does when it starts a worker;
- a Modal worker: the app's inputs normalised by the provider's own `check`, turned into the
  settings the deploy hands the app file (`settings_env`), plus the values of the Modal secrets
  attached by name, as Modal does in the container.

Secret values in the stack file are `secure:` ciphertext that cannot be decrypted here, so each gets
a fresh random value for this run (`Runtime.secrets`, by config path); one value per path, so two
sides that should share a secret get the same value and two that should not, do not.
Problems found while reading (a reference to a secret the stack does not create...) are collected in
`Runtime.problems` for `contract.check` to report with the rest.
"""

from __future__ import annotations

import json
import re
import secrets as random_secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from components.config import StackConfig, validate_flat
from components.local.mocks import PROJECT_NUMBER, LocalDeployMocks
from components.offline import (
    REPO_ROOT,
    SECRET_PLACEHOLDER,
    ProgramRun,
    Registration,
    StackFile,
    load_stack_file,
    run_program,
    unwrap,
)

GATEWAY_IMAGE = "images/gateway"
WORKER_IMAGE = "images/worker"
MODAL_APP_FILE = "inference/modal_app.py"
_RUNPOD_SECRET_REF = re.compile(r"^\{\{\s*RUNPOD_SECRET_(\S+)\s*\}\}$")


@dataclass(frozen=True)
class Problem:
    """One contract problem: which runtime, which variable, what is wrong. Never holds a value."""

    where: str
    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.variable}: {self.message}"


@dataclass
class ServiceRuntime:
    key: str
    name: str
    """The Cloud Run service name."""
    urls: tuple[str, ...]
    """Where it answers: the URL Cloud Run reports and the deterministic one workers are given."""
    env: dict[str, str]
    secret_env: dict[str, str]
    """Variable -> value, each from a Secret Manager secret."""
    runnable: bool
    """Our gateway image (images/gateway); other services run the user's own image."""

    @property
    def environment(self) -> dict[str, str]:
        return {**self.env, **self.secret_env}


@dataclass
class WorkerRuntime:
    model: str
    provider: Literal["runpod", "modal"]
    endpoint_id: str
    url: str
    """Runpod: the job API base; Modal: the web endpoint URL."""
    env: dict[str, str]
    """The container environment as the provider sets it, secret values included."""
    secret_vars: frozenset[str]
    runnable: bool
    """Our worker (images/worker, or our Modal app file); anything else is the user's own code."""
    proxy_auth: bool = False
    volumes: dict[str, str] = field(default_factory=dict)
    """Modal: mount path -> volume name."""
    unmanaged_secrets: tuple[str, ...] = ()
    """Modal secrets attached by name that the stack does not create: their values are unknown here."""


@dataclass
class Runtime:
    stack: str
    config: StackConfig
    services: dict[str, ServiceRuntime]
    workers: dict[str, WorkerRuntime]
    secrets: dict[str, str]
    """Config path (`secrets.gatewayApiKeys.value`, `credentials.runpodApiKey`) -> this run's value."""
    problems: list[Problem] = field(default_factory=list)

    def secret(self, name: str) -> str:
        """This run's value of stack secret `name` (a `modelstack:secrets` key)."""
        return self.secrets[f"secrets.{name}.value"]


def capture(stack: str, *, config_file: Path | None = None, root: Path = REPO_ROOT) -> Runtime:
    """Run the program for `stack` and read back what it configures. Raises ConfigError for a bad config."""
    stack_file = load_stack_file(stack, root, config_file)
    values = fill_secrets(stack_file)
    config = validate_flat(stack_file.config, stack=stack, secret_keys=stack_file.secret_keys, root=root)
    run = run_program(stack, root=root, stack_file=stack_file, preview=False, mocks=LocalDeployMocks)
    problems: list[Problem] = []
    services = {key: _service(run, config, key, problems) for key in config.modelstack.services}
    workers = {
        key: _worker(run, config, key, problems)
        for key, model in config.modelstack.models.items()
        if model.endpoint is not None
    }
    return Runtime(stack, config, services, workers, values, problems)


# --------------------------------------------------------------------------------------------
# secret values for this run


def fill_secrets(stack_file: StackFile) -> dict[str, str]:
    """Replace every `[secret]` placeholder in the stack's config with a random value; return them by path."""
    values: dict[str, str] = {}

    def fill(value: Any, path: str) -> Any:
        if value == SECRET_PLACEHOLDER:
            # Hex, 48 characters: valid wherever a key or token is expected (gateway keys need >= 16).
            values[path] = random_secrets.token_hex(24)
            return values[path]
        if isinstance(value, Mapping):
            return {k: fill(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, f"{path}.{i}") for i, v in enumerate(value)]
        return value

    for key, raw in list(stack_file.config.items()):
        short = key.split(":", 1)[1] if key.startswith("modelstack:") else key
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = raw
        filled = fill(decoded, short)
        if filled != decoded:
            stack_file.config[key] = filled if isinstance(filled, str) else json.dumps(filled)
    return values


# --------------------------------------------------------------------------------------------
# reading the registrations


def _component(run: ProgramRun, typ: str, suffix: str) -> Registration:
    matches = [r for r in run.resources if r.type == typ and r.name.endswith(suffix)]
    if len(matches) != 1:
        raise LookupError(f"expected one {typ} named *{suffix}, found {len(matches)}")
    return matches[0]


def _children(run: ProgramRun, parent: Registration, typ: str) -> list[Registration]:
    return [r for r in run.children_of(parent) if r.type == typ]


def _plain(value: Any, where: str, variable: str, problems: list[Problem]) -> str:
    value = unwrap(value)
    if not isinstance(value, str):
        problems.append(Problem(where, variable, f"is not a string once deployed ({type(value).__name__})"))
        return str(value)
    return value


def _service(run: ProgramRun, config: StackConfig, key: str, problems: list[Problem]) -> ServiceRuntime:
    where = f"service {key}"
    component = _component(run, "modelstack:gcp:Service", f"-service-{key}")
    (service,) = _children(run, component, "gcp:cloudrunv2/service:Service")
    container = unwrap(service.inputs["template"])["containers"][0]
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}
    for entry in container.get("envs") or []:
        name = str(entry["name"])
        if "valueSource" in entry:
            ref = entry["valueSource"]["secretKeyRef"]
            value = _secret_manager_value(run, ref["secret"], str(ref["version"]), where, name, problems)
            if value is not None:
                secret_env[name] = value
        else:
            env[name] = _plain(entry.get("value", ""), where, name, problems)
    name = str(service.inputs["name"])
    region = config.region
    urls = (
        str(service.outputs.get("uri", "")),
        # Cloud Run's deterministic URL, which the platform predicts for workers' callbacks.
        f"https://{name}-{PROJECT_NUMBER}.{region}.run.app",
    )
    runnable = config.modelstack.services[key].image == GATEWAY_IMAGE
    return ServiceRuntime(key, name, tuple(u for u in urls if u), env, secret_env, runnable)


def _secret_manager_value(
    run: ProgramRun, secret_id: str, version: str, where: str, variable: str, problems: list[Problem]
) -> str | None:
    secrets = [r for r in run.of_type("gcp:secretmanager/secret:Secret") if r.value("secretId") == secret_id]
    if len(secrets) != 1:
        problems.append(Problem(where, variable, f"refers to Secret Manager secret {secret_id!r}, which the stack does not create"))
        return None
    versions = [r for r in run.of_type("gcp:secretmanager/secretVersion:SecretVersion") if r.value("secret") == secrets[0].id]
    if not versions:
        problems.append(Problem(where, variable, f"secret {secret_id!r} has no version"))
        return None
    written = versions[0]
    if str(written.outputs.get("version")) != version:
        problems.append(Problem(where, variable, f"pins version {version} of {secret_id!r}, which is not the version the stack wrote"))
    return _plain(written.inputs.get("secretDataWo"), where, variable, problems)


def _worker(run: ProgramRun, config: StackConfig, key: str, problems: list[Problem]) -> WorkerRuntime:
    endpoint = config.modelstack.models[key].endpoint
    assert endpoint is not None
    component = _component(run, "modelstack:gpu:Endpoint", f"-endpoint-{key}")
    if endpoint.provider == "runpod":
        return _runpod_worker(run, component, key, endpoint.image == WORKER_IMAGE, problems)
    app_file = endpoint.modal.app_file if endpoint.modal else MODAL_APP_FILE
    return _modal_worker(run, component, key, app_file == MODAL_APP_FILE, problems)


def _runpod_worker(run: ProgramRun, component: Registration, key: str, ours: bool, problems: list[Problem]) -> WorkerRuntime:
    where = f"worker {key}"
    (template,) = _children(run, component, "pulumi-python:dynamic/runpod:Template")
    (endpoint,) = _children(run, component, "pulumi-python:dynamic/runpod:Endpoint")
    by_name = {str(s.value("name")): s for s in _children(run, component, "pulumi-python:dynamic/runpod:Secret")}
    env: dict[str, str] = {}
    secret_vars: set[str] = set()
    for var, raw in (unwrap(template.inputs.get("env")) or {}).items():
        value = str(raw)
        match = _RUNPOD_SECRET_REF.match(value)
        if match:
            secret = by_name.get(match.group(1))
            if secret is None:
                problems.append(Problem(where, var, f"refers to Runpod secret {match.group(1)!r}, which the stack does not create"))
                continue
            value = _plain(secret.inputs.get("value"), where, var, problems)
            secret_vars.add(var)
        env[var] = value
    if endpoint.value("templateId") != template.outputs.get("templateId"):
        problems.append(Problem(where, "templateId", "the endpoint does not run the template that holds this environment"))
    return WorkerRuntime(
        model=key,
        provider="runpod",
        endpoint_id=str(endpoint.outputs["endpointId"]),
        url=str(endpoint.outputs["url"]),
        env=env,
        secret_vars=frozenset(secret_vars),
        runnable=ours,
    )


def _modal_worker(run: ProgramRun, component: Registration, key: str, ours: bool, problems: list[Problem]) -> WorkerRuntime:
    from components.providers.modal.app import AppProvider, settings_env

    where = f"worker {key}"
    (app,) = _children(run, component, "pulumi-python:dynamic/modal:App")
    inputs = {k: unwrap(v) for k, v in app.inputs.items() if k != "__provider"}
    # The engine hands the provider's check() result to create(); the deploy uses that, so do we.
    checked = AppProvider().check({}, inputs)
    for failure in checked.failures or []:
        problems.append(Problem(where, f"app.{failure.property}", failure.reason))
    props = checked.inputs
    env = dict(settings_env(props))
    managed = {str(s.value("name")): s for s in _children(run, component, "pulumi-python:dynamic/modal:Secret")}
    secret_vars: set[str] = set()
    unmanaged: list[str] = []
    for name in props.get("secrets") or []:
        secret = managed.get(name)
        if secret is None:
            unmanaged.append(name)
            continue
        for var, value in (unwrap(secret.inputs.get("values")) or {}).items():
            env[var] = str(value)
            secret_vars.add(var)
    return WorkerRuntime(
        model=key,
        provider="modal",
        endpoint_id=str(app.outputs["appId"]),
        url=str(app.outputs["webUrl"]),
        env=env,
        secret_vars=frozenset(secret_vars),
        runnable=ours,
        proxy_auth=props.get("proxyAuth") is not False,
        volumes=dict(props.get("volumes") or {}),
        unmanaged_secrets=tuple(unmanaged),
    )
