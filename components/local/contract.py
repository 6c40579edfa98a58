"""The runtime contract: does what the program configures match what the gateway and the workers read?

`check(runtime)` takes what `capture` read back from the program and asks the runtime code itself:

- each side's own parser (`inference.gateway.settings.Settings.from_env`,
  `inference.worker.settings.Settings.from_env`, `inference.modal_settings.ModalSettings.from_env`)
  must accept the environment the program gives it;
- every variable the program sets for our gateway must be one the gateway reads, and every
  `MODELSTACK_*` variable it sets for our worker one the worker reads: a variable renamed on one
  side only shows up here as one that nobody reads (and, usually, as one that is missing);
- the two sides must agree with each other: the gateway routes each model to that model's endpoint
  URL; it holds the key for Runpod and the proxy token for a Modal endpoint behind proxy auth; each
  worker's readiness callback goes to a route the gateway serves, signed with the secret the
  gateway verifies, naming the model under the key the gateway files it by.

Which names each side reads is taken from the modules that name them, at call time:
`inference/gateway/settings.py` says every variable the gateway reads is named there and nowhere
else, and `inference/env.py` names the worker's. Messages name variables, never values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import ModuleType
from urllib.parse import urlsplit

from components.local.capture import Problem, Runtime, ServiceRuntime, WorkerRuntime

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
# Read by the gateway's container entry point (serve.py) and by the Google client libraries.
GATEWAY_PROCESS_VARS = frozenset({"PORT", "HOST", "WEB_CONCURRENCY", "GOOGLE_CLOUD_PROJECT", "FIRESTORE_EMULATOR_HOST"})
# Workers also get the user's own env (for their code) and the platform's variables, so only names
# in our namespace can be judged unread.
WORKER_PREFIX = "MODELSTACK_"


class ContractError(Exception):
    """The program and the runtime disagree; one line per problem, each naming the variable."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__(
            "the stack's runtime contract is broken:\n" + "\n".join(f"  - {p}" for p in self.problems)
        )


def names_in(module: ModuleType) -> frozenset[str]:
    """The environment variable names a module defines as its public upper-case string constants."""
    return frozenset(
        value
        for attr, value in vars(module).items()
        if attr.isupper() and not attr.startswith("_") and isinstance(value, str) and _ENV_NAME.match(value)
    )


def gateway_reads() -> frozenset[str]:
    from inference.gateway import settings

    return names_in(settings) | GATEWAY_PROCESS_VARS


def worker_reads(provider: str) -> frozenset[str]:
    from inference import env, modal_settings

    names = names_in(env)
    # The Modal app file reads its settings in the container too (inference/modal_app.py).
    return names | names_in(modal_settings) if provider == "modal" else names


def check(runtime: Runtime) -> list[Problem]:
    problems = list(runtime.problems)
    for service in runtime.services.values():
        if service.runnable:
            problems += _gateway(runtime, service)
    for worker in runtime.workers.values():
        if worker.runnable:
            problems += _worker(runtime, worker)
    return problems


def require(runtime: Runtime) -> None:
    """Raise ContractError unless `check` finds nothing."""
    problems = check(runtime)
    if problems:
        raise ContractError(problems)


# --------------------------------------------------------------------------------------------
# the gateway


def _gateway(runtime: Runtime, service: ServiceRuntime) -> list[Problem]:
    from inference.gateway import settings as names
    from inference.gateway.settings import ConfigError, Settings

    where = f"service {service.key}"
    environment = service.environment
    problems: list[Problem] = []
    parsed: Settings | None = None
    try:
        parsed = Settings.from_env(environment)
    except ConfigError as exc:
        problems += _lines(where, str(exc).splitlines()[1:], sep=":")

    reads = gateway_reads()
    for var in sorted(environment):
        if var not in reads:
            problems.append(Problem(where, var, "is set by the program, but the gateway reads no variable of that name"))

    routes = parsed.models if parsed is not None else {}
    for name, route in sorted(routes.items()):
        worker = runtime.workers.get(name)
        key = f"{names.MODELS}.{name}"
        if worker is None:
            problems.append(Problem(where, key, f"routes to model {name!r}, which has no GPU endpoint in this stack"))
            continue
        if route.provider != worker.provider:
            problems.append(Problem(where, f"{key}.provider", f"says {route.provider}, but the model runs on {worker.provider}"))
        if route.url != worker.url.rstrip("/"):
            problems.append(Problem(where, f"{key}.url", f"is not the URL of model {name}'s {worker.provider} endpoint"))
        if worker.provider == "modal" and worker.proxy_auth and parsed is not None and parsed.modal_proxy_token is None:
            problems.append(Problem(
                where, names.MODAL_PROXY_TOKEN_ID,
                f"is not set, but model {name}'s Modal web endpoint requires proxy auth (Modal-Key/Modal-Secret headers)",
            ))

    for worker in runtime.workers.values():
        if worker.runnable and _calls_back_to(worker, service):
            problems += _callback(where, environment, worker, names.CALLBACK_KEY)
    return problems


def _calls_back_to(worker: WorkerRuntime, service: ServiceRuntime) -> bool:
    from inference import env

    url = worker.env.get(env.CALLBACK_URL, "")
    return any(url.startswith(base.rstrip("/") + "/") for base in service.urls)


def _callback(where: str, environment: dict[str, str], worker: WorkerRuntime, key_var: str) -> list[Problem]:
    from inference import env
    from inference.gateway.api import router

    problems: list[Problem] = []
    path = urlsplit(worker.env[env.CALLBACK_URL]).path
    served = {r.path for r in router.routes if "POST" in (getattr(r, "methods", None) or ())}
    if path not in served:
        problems.append(Problem(
            f"worker {worker.model}", env.CALLBACK_URL,
            f"posts readiness to {path}, which the gateway does not serve (it takes POST {', '.join(sorted(served))})",
        ))
    secret = environment.get(key_var, "")
    if not secret:
        problems.append(Problem(
            where, key_var,
            f"is not set, but worker {worker.model} sends it signed readiness callbacks: they would be refused (401)",
        ))
    elif secret != worker.env.get(env.CALLBACK_SECRET, ""):
        problems.append(Problem(
            where, key_var,
            f"is not the secret worker {worker.model} signs its readiness callbacks with ({env.CALLBACK_SECRET}): "
            "they would be refused (401)",
        ))
    return problems


# --------------------------------------------------------------------------------------------
# the workers


def _worker(runtime: Runtime, worker: WorkerRuntime) -> list[Problem]:
    from inference import env
    from inference.worker.settings import Settings, SettingsError

    where = f"worker {worker.model}"
    problems: list[Problem] = []
    try:
        Settings.from_env(worker.env)
    except SettingsError as exc:
        problems += _lines(where, exc.problems, sep=" ")

    reads = worker_reads(worker.provider)
    for var in sorted(worker.env):
        if var.startswith(WORKER_PREFIX) and var not in reads:
            problems.append(Problem(where, var, "is set by the program, but the worker reads no variable of that name"))

    if worker.env.get(env.MODEL_KEY) != worker.model:
        problems.append(Problem(
            where, env.MODEL_KEY,
            f"must be the model's key {worker.model!r}: the gateway files readiness reports and routes by it",
        ))
    if worker.provider == "modal":
        problems += _modal(where, worker)
    return problems


def _modal(where: str, worker: WorkerRuntime) -> list[Problem]:
    from inference import env, modal_settings

    problems: list[Problem] = []
    try:
        modal_settings.ModalSettings.from_env(worker.env)
    except (RuntimeError, ValueError) as exc:
        variable = next((n for n in sorted(names_in(modal_settings)) if n in str(exc)), "settings")
        problems.append(Problem(where, variable, str(exc).replace(variable, "", 1).strip(" :") or "is invalid"))
    if worker.env.get(env.CALLBACK_URL) and not worker.env.get(env.ENDPOINT_ID):
        problems.append(Problem(
            where, env.ENDPOINT_ID,
            "is not set: Modal names no endpoint in the container, and the gateway refuses a readiness report without one",
        ))
    return problems


def _lines(where: str, lines: Iterable[str], sep: str) -> list[Problem]:
    """Problems from a runtime parser's own lines, which start with the variable they are about."""
    problems = []
    for line in lines:
        text = line.strip().removeprefix("- ")
        head, _, rest = text.partition(sep)
        variable = head.split("=", 1)[0].strip()
        problems.append(Problem(where, variable, rest.strip() or text))
    return problems
