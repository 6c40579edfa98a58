"""The gateway's environment contract, parsed once at startup into a frozen `Settings`.

Every variable the gateway reads is named here and nowhere else. Parsing collects every problem
before failing, and messages name the variable, never its value: several of these are secrets.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from inference import contract
from inference.gateway.apikeys import ApiKeyError, ApiKeys

# --- set by the platform (names shared with it in inference/contract.py) ---
STACK = contract.SERVICE_STACK
ENVIRONMENT = contract.SERVICE_ENVIRONMENT
PROJECT = contract.GCP_PROJECT
DATABASE = contract.FIRESTORE_DATABASE
RESULTS_BUCKET = contract.RESULTS_BUCKET
MODELS = contract.SERVICE_MODELS
# --- secrets (Secret Manager, mounted as env) ---
API_KEYS = contract.GATEWAY_API_KEYS
CALLBACK_KEY = contract.WORKER_CALLBACK_KEY
WEBHOOK_KEY = contract.WEBHOOK_SIGNING_KEY
RUNPOD_API_KEY = contract.RUNPOD_API_KEY
MODAL_PROXY_TOKEN_ID = contract.MODAL_PROXY_TOKEN_ID
MODAL_PROXY_TOKEN_SECRET = contract.MODAL_PROXY_TOKEN_SECRET
# --- tuning, all optional ---
RATE_LIMIT_RPS = "GATEWAY_RATE_LIMIT_RPS"
RATE_LIMIT_BURST = "GATEWAY_RATE_LIMIT_BURST"
MAX_BODY_BYTES = "GATEWAY_MAX_BODY_BYTES"
MAX_JOB_INPUT_BYTES = "GATEWAY_MAX_JOB_INPUT_BYTES"
RESULT_INLINE_BYTES = "GATEWAY_RESULT_INLINE_BYTES"
RESULT_URL_TTL = "GATEWAY_RESULT_URL_TTL_SECONDS"
POLL_INTERVAL = "GATEWAY_POLL_INTERVAL_SECONDS"
LEASE_SECONDS = "GATEWAY_LEASE_SECONDS"
WEBHOOK_MAX_ATTEMPTS = "GATEWAY_WEBHOOK_MAX_ATTEMPTS"
WEBHOOK_BACKOFF = "GATEWAY_WEBHOOK_BACKOFF_SECONDS"
WEBHOOK_ALLOW_CIDRS = "GATEWAY_WEBHOOK_ALLOW_CIDRS"
WEBHOOK_CA_FILE = "GATEWAY_WEBHOOK_CA_FILE"
"""PEM file of extra CAs trusted for webhook deliveries, on top of the public roots: receivers on a
private network (see GATEWAY_WEBHOOK_ALLOW_CIDRS) often have certificates from a private CA."""
COLLECTION_PREFIX = "GATEWAY_COLLECTION_PREFIX"

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Firestore caps a document at 1 MiB; the input and an inline output share one job document.
_FIRESTORE_SAFE_BYTES = 900 * 1024
# V4 signed URLs cannot live longer than seven days.
_MAX_SIGNED_URL_TTL = 7 * 24 * 3600


class ConfigError(ValueError):
    """One line per problem, each naming the variable. Never includes a value."""


class Secret:
    """A value that must not appear in logs, reprs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__


@dataclass(frozen=True)
class ModelRoute:
    name: str
    provider: Literal["runpod", "modal"]
    url: str
    """Runpod: the job API base `https://api.runpod.ai/v2/<endpoint id>`; Modal: the web endpoint URL."""
    timeout_seconds: float
    """The whole budget of one request or job, queueing included; past it the job is FAILED."""


@dataclass(frozen=True)
class Settings:
    api_keys: ApiKeys
    models: dict[str, ModelRoute]
    stack: str = "local"
    environment: str = "dev"
    project: str = "modelstack-local"
    database: str = "(default)"
    results_bucket: str | None = None
    callback_secret: Secret | None = None
    webhook_secret: Secret | None = None
    runpod_api_key: Secret | None = None
    modal_proxy_token: tuple[Secret, Secret] | None = None
    rate_limit_rps: float = 10.0
    rate_limit_burst: int = 20
    max_body_bytes: int = 10 * 1024 * 1024
    max_job_input_bytes: int = 512 * 1024
    result_inline_bytes: int = 256 * 1024
    result_url_ttl_seconds: int = 24 * 3600
    poll_interval_seconds: float = 2.0
    lease_seconds: float = 30.0
    webhook_max_attempts: int = 5
    webhook_backoff_seconds: float = 2.0
    webhook_allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(default=())
    webhook_ca_file: str | None = None
    collection_prefix: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return _Parser(os.environ if env is None else env).settings()


class _Parser:
    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.problems: list[str] = []

    def settings(self) -> Settings:
        env = self.env
        models = self._models()
        # The settings a stack must give the gateway, declared in inference/contract.py so the stack
        # config checks the same list at plan time (components/config/contracts.py).
        facts = {contract.ROUTES_RUNPOD} if any(m.provider == "runpod" for m in models.values()) else set()
        provided = {name for name, value in env.items() if value.strip()}
        absent = {r.var for r in contract.missing(contract.GATEWAY_REQUIRED, provided, facts)}
        for name in sorted(absent):
            why = next(r.why for r in contract.GATEWAY_REQUIRED if r.var == name)
            self.problems.append(f"{name}: required; {why}")
        keys = self._api_keys() if API_KEYS not in absent else None
        runpod_key = self._secret(RUNPOD_API_KEY)
        token_id, token_secret = self._secret(MODAL_PROXY_TOKEN_ID), self._secret(MODAL_PROXY_TOKEN_SECRET)
        if (token_id is None) != (token_secret is None):
            self.problems.append(f"{MODAL_PROXY_TOKEN_ID} and {MODAL_PROXY_TOKEN_SECRET}: set both or neither")
        defaults = Settings(api_keys=keys or ApiKeys({}), models={})
        settings = Settings(
            api_keys=keys or ApiKeys({}),
            models=models,
            stack=env.get(STACK) or defaults.stack,
            environment=env.get(ENVIRONMENT) or defaults.environment,
            project=env.get(PROJECT) or env.get("GOOGLE_CLOUD_PROJECT") or defaults.project,
            database=env.get(DATABASE) or defaults.database,
            results_bucket=env.get(RESULTS_BUCKET) or None,
            callback_secret=self._secret(CALLBACK_KEY),
            webhook_secret=self._secret(WEBHOOK_KEY),
            runpod_api_key=runpod_key,
            modal_proxy_token=(token_id, token_secret) if token_id and token_secret else None,
            rate_limit_rps=self._number(RATE_LIMIT_RPS, defaults.rate_limit_rps, low=0.001),
            rate_limit_burst=int(self._number(RATE_LIMIT_BURST, defaults.rate_limit_burst, low=1, integer=True)),
            max_body_bytes=int(self._number(MAX_BODY_BYTES, defaults.max_body_bytes, low=1024, integer=True)),
            max_job_input_bytes=int(
                self._number(MAX_JOB_INPUT_BYTES, defaults.max_job_input_bytes, low=1, high=_FIRESTORE_SAFE_BYTES // 2, integer=True)
            ),
            result_inline_bytes=int(
                self._number(RESULT_INLINE_BYTES, defaults.result_inline_bytes, low=0, high=_FIRESTORE_SAFE_BYTES // 2, integer=True)
            ),
            result_url_ttl_seconds=int(
                self._number(RESULT_URL_TTL, defaults.result_url_ttl_seconds, low=60, high=_MAX_SIGNED_URL_TTL, integer=True)
            ),
            poll_interval_seconds=self._number(POLL_INTERVAL, defaults.poll_interval_seconds, low=0.01, high=60),
            lease_seconds=self._number(LEASE_SECONDS, defaults.lease_seconds, low=0.5, high=600),
            webhook_max_attempts=int(
                self._number(WEBHOOK_MAX_ATTEMPTS, defaults.webhook_max_attempts, low=1, high=20, integer=True)
            ),
            webhook_backoff_seconds=self._number(WEBHOOK_BACKOFF, defaults.webhook_backoff_seconds, low=0.01, high=600),
            webhook_allow_networks=self._networks(),
            webhook_ca_file=self._ca_file(),
            collection_prefix=self._prefix(),
        )
        if self.problems:
            raise ConfigError("gateway configuration:\n" + "\n".join(f"- {p}" for p in self.problems))
        return settings

    def _secret(self, name: str) -> Secret | None:
        value = self.env.get(name, "").strip()
        return Secret(value) if value else None

    def _api_keys(self) -> ApiKeys | None:
        raw = self.env.get(API_KEYS, "")
        try:
            return ApiKeys.parse(raw)
        except ApiKeyError as exc:
            self.problems.append(f"{API_KEYS}: {exc}")
            return None

    def _models(self) -> dict[str, ModelRoute]:
        raw = self.env.get(MODELS, "").strip()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.problems.append(f"{MODELS}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
            return {}
        if not isinstance(data, dict):
            self.problems.append(f"{MODELS}: must be a JSON object of model name -> route")
            return {}
        routes: dict[str, ModelRoute] = {}
        for name, spec in data.items():
            where = f"{MODELS}.{name}"
            if not _MODEL_NAME.match(name):
                self.problems.append(f"{where}: model names are 1-64 of A-Z a-z 0-9 _ . - (starting alphanumeric)")
                continue
            if not isinstance(spec, dict):
                self.problems.append(f"{where}: must be an object with provider, url and timeoutSeconds")
                continue
            unknown = sorted(set(spec) - {"provider", "url", "timeoutSeconds"})
            if unknown:
                self.problems.append(f"{where}: unknown keys {', '.join(unknown)}")
            provider = spec.get("provider")
            if provider not in ("runpod", "modal"):
                self.problems.append(f"{where}.provider: must be 'runpod' or 'modal'")
                continue
            url = spec.get("url")
            if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
                self.problems.append(f"{where}.url: must be an http(s) URL")
                continue
            timeout = spec.get("timeoutSeconds", 600)
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 7 * 86400:
                self.problems.append(f"{where}.timeoutSeconds: must be a number of seconds between 1 and 604800")
                continue
            routes[name] = ModelRoute(name=name, provider=provider, url=url.rstrip("/"), timeout_seconds=float(timeout))
        return routes

    def _number(
        self, name: str, default: float, *, low: float, high: float | None = None, integer: bool = False
    ) -> float:
        raw = self.env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            self.problems.append(f"{name}: must be {'an integer' if integer else 'a number'}")
            return default
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"between {low} and {high}"
            self.problems.append(f"{name}: must be {bounds}")
            return default
        return value

    def _networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        raw = self.env.get(WEBHOOK_ALLOW_CIDRS, "").strip()
        networks = []
        for item in filter(None, (p.strip() for p in raw.split(","))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.problems.append(f"{WEBHOOK_ALLOW_CIDRS}: {item!r} is not a CIDR range")
        return tuple(networks)

    def _ca_file(self) -> str | None:
        raw = self.env.get(WEBHOOK_CA_FILE, "").strip()
        if not raw:
            return None
        import ssl

        try:
            ssl.create_default_context(cafile=raw)
        except (OSError, ssl.SSLError):
            self.problems.append(f"{WEBHOOK_CA_FILE}: not a readable PEM file of CA certificates")
            return None
        return raw

    def _prefix(self) -> str:
        raw = self.env.get(COLLECTION_PREFIX, "")
        if raw and not re.match(r"^[A-Za-z0-9_-]{1,40}$", raw):
            self.problems.append(f"{COLLECTION_PREFIX}: 1-40 of A-Z a-z 0-9 _ -")
            return ""
        return raw
