"""The runtime contract, checked offline: what the program configures against what the runtime reads.

Every committed stack must pass `contract.check`. Then the contract is broken on purpose, one side
at a time, and the check must name the variable: a rename in the program (the real program runs
with the rename), a rename in the gateway's settings, a secret mapping dropped from a stack file,
and a route wired to the wrong URL. No process starts here (tests/local/test_e2e.py runs them).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from components.config import ConfigError
from components.local import contract
from components.local.capture import Runtime, capture
from components.local.contract import ContractError, check
from components.local.stack import LocalStack
from components.offline import REPO_ROOT
from inference import env as worker_env
from inference.gateway import settings as gateway_settings

STACKS = [("dev", None), ("prod", None)] + [
    (path.name.split(".")[1], path) for path in sorted((REPO_ROOT / "examples").glob("*/Pulumi.*.yaml"))
]


@pytest.fixture(scope="module")
def dev() -> Runtime:
    return capture("dev")


def messages(runtime: Runtime) -> list[str]:
    return [str(p) for p in check(runtime)]


def assert_no_secret_in(lines: list[str], runtime: Runtime) -> None:
    text = "\n".join(lines)
    for value in runtime.secrets.values():
        assert value not in text


@pytest.mark.parametrize(("stack", "config_file"), STACKS, ids=[s for s, _ in STACKS])
def test_every_stack_keeps_the_contract(stack: str, config_file: Path | None):
    runtime = capture(stack, config_file=config_file)
    assert messages(runtime) == []


def test_dev_captures_what_each_runtime_starts_with(dev: Runtime):
    gateway = dev.services["gateway"]
    assert gateway.secret_env[gateway_settings.CALLBACK_KEY] == dev.secret("workerCallbackKey")
    assert gateway.secret_env[gateway_settings.API_KEYS] == dev.secret("gatewayApiKeys")
    routes = json.loads(gateway.env[gateway_settings.MODELS])
    flux, embedder = dev.workers["flux"], dev.workers["embedder"]
    assert routes["flux"]["url"] == flux.url and routes["embedder"]["url"] == embedder.url
    # Runpod's {{ RUNPOD_SECRET_... }} references are resolved to the secrets' values.
    assert flux.env[worker_env.CALLBACK_SECRET] == dev.secret("workerCallbackKey")
    assert flux.env["AWS_SECRET_ACCESS_KEY"] == dev.secrets["credentials.s3.r2.secretAccessKey"]
    # The Modal app's secret values join the settings the deploy hands the app file.
    assert embedder.env[worker_env.CALLBACK_SECRET] == dev.secret("workerCallbackKey")
    assert embedder.env["MODELSTACK_MODAL_APP_NAME"] == "modelstack-dev-embedder" and embedder.proxy_auth
    assert len(set(dev.secrets.values())) == len(dev.secrets)  # one fresh value per secret


def test_a_rename_in_the_program_names_both_variables(monkeypatch: pytest.MonkeyPatch):
    # The Modal backend names the endpoint for the worker's callback; rename it there only.
    from components.gpu import modal_backend

    monkeypatch.setattr(modal_backend, "ENDPOINT_ID", "MODELSTACK_ENDPOINT_NAME")
    runtime = capture("dev")
    lines = messages(runtime)
    assert "worker embedder: MODELSTACK_ENDPOINT_NAME: is set by the program, but the worker reads no variable of that name" in lines
    assert any(line.startswith(f"worker embedder: {worker_env.ENDPOINT_ID}: is not set") for line in lines)
    assert_no_secret_in(lines, runtime)


def test_a_rename_in_the_gateway_names_both_variables(dev: Runtime, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(gateway_settings, "CALLBACK_KEY", "GATEWAY_CALLBACK_KEY")
    lines = messages(dev)
    assert "service gateway: WORKER_CALLBACK_KEY: is set by the program, but the gateway reads no variable of that name" in lines
    assert (
        "service gateway: GATEWAY_CALLBACK_KEY: is not set, but worker flux sends it signed readiness callbacks: "
        "they would be refused (401)"
    ) in lines
    assert_no_secret_in(lines, dev)


def test_a_dropped_secret_mapping_is_named_and_nothing_starts(tmp_path: Path, dev: Runtime):
    # Dropped from the stack file, the config refuses it before the program runs (issue 12)...
    stack_file = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    del stack_file["config"]["modelstack:services"]["gateway"]["secretEnv"]["RUNPOD_API_KEY"]
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(stack_file))
    with pytest.raises(ConfigError, match="does not start without RUNPOD_API_KEY"):
        capture("dev", config_file=path)
    # ...and lost between the program and the runtime, the contract check names it and nothing starts.
    broken = copy.deepcopy(dev)
    service = broken.services["gateway"]
    for mapping in (service.env, service.secret_env):
        mapping.pop("RUNPOD_API_KEY", None)
    lines = messages(broken)
    # the gateway's own settings refuse it, with the reason inference/contract.py gives
    assert "service gateway: RUNPOD_API_KEY: required; it calls Runpod's job API for provider runpod models with it" in lines
    stack = LocalStack(broken, tmp_path / "run")
    with pytest.raises(ContractError, match="RUNPOD_API_KEY: required"):
        stack.start()
    assert not (tmp_path / "run" / "logs").exists()  # refused before any process started


def test_a_worker_secret_lost_on_the_way_is_named(dev: Runtime):
    broken = copy.deepcopy(dev)
    del broken.workers["flux"].env[worker_env.CALLBACK_SECRET]  # e.g. a Runpod secret reference dropped
    lines = messages(broken)
    assert (
        f"worker flux: {worker_env.CALLBACK_SECRET}: is required with {worker_env.CALLBACK_URL} (callbacks are always signed)"
    ) in lines
    assert any(line.startswith(f"service gateway: {gateway_settings.CALLBACK_KEY}: is not the secret worker flux") for line in lines)


def test_a_route_to_the_wrong_endpoint_is_named(dev: Runtime):
    broken = copy.deepcopy(dev)
    env = broken.services["gateway"].env
    routes = json.loads(env[gateway_settings.MODELS])
    routes["flux"]["url"] = "https://api.runpod.ai/v2/some-other-endpoint"
    env[gateway_settings.MODELS] = json.dumps(routes)
    assert messages(broken) == ["service gateway: MODELSTACK_MODELS.flux.url: is not the URL of model flux's runpod endpoint"]


def test_a_callback_to_a_path_the_gateway_does_not_serve_is_named(dev: Runtime):
    broken = copy.deepcopy(dev)
    env = broken.workers["embedder"].env
    env[worker_env.CALLBACK_URL] = env[worker_env.CALLBACK_URL].replace("/internal/ready", "/internal/readiness")
    lines = messages(broken)
    assert any(line.startswith(f"worker embedder: {worker_env.CALLBACK_URL}: posts readiness to /internal/readiness") for line in lines)


def test_require_raises_with_every_problem(dev: Runtime):
    broken = copy.deepcopy(dev)
    broken.services["gateway"].env["GATEWAY_RATE_LIMT_RPS"] = "5"  # a typo in a stack's env
    with pytest.raises(ContractError) as caught:
        contract.require(broken)
    assert "service gateway: GATEWAY_RATE_LIMT_RPS: is set by the program, but the gateway reads no variable" in str(caught.value)


def test_the_command_checks_the_contract_and_names_what_is_broken(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from components.local.__main__ import main

    assert main(["--stack", "dev", "--check"]) == 0
    assert "stack dev: runtime contract ok (1 service(s), 2 worker(s))" in capsys.readouterr().out

    stack_file = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml").read_text())
    del stack_file["config"]["modelstack:services"]["gateway"]["secretEnv"]["RUNPOD_API_KEY"]
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(stack_file))
    assert main(["--stack", "dev", "--config-file", str(path), "--run-dir", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    # the config refuses the stack file (issue 12) before the contract check runs; the command names it
    assert "does not start without RUNPOD_API_KEY" in err
    assert not (tmp_path / "run").exists()  # nothing started
