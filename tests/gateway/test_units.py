"""Pure units of the gateway: env parsing, API keys, token buckets, webhook address policy, workers."""

from __future__ import annotations

import asyncio
import ipaddress
import json

import pytest

from inference.gateway.apikeys import ApiKeyError, ApiKeys
from inference.gateway.ratelimit import RateLimiter, retry_after_header
from inference.gateway.serve import server_options, worker_count
from inference.gateway.settings import ConfigError, Settings
from inference.gateway.webhooks import WebhookPolicy, WebhookRejectedError, is_public

KEY_A = "a" * 24
KEY_B = "b-0123456789abcdef"


def _env(**extra: str) -> dict[str, str]:
    return {
        "GATEWAY_API_KEYS": f"ci:{KEY_A}, {KEY_B}",
        "RUNPOD_API_KEY": "rp-secret-value-123456",
        "MODELSTACK_MODELS": json.dumps({
            "flux": {"provider": "runpod", "url": "https://api.runpod.ai/v2/abc123/", "timeoutSeconds": 300},
            "embedder": {"provider": "modal", "url": "https://acme--embedder.modal.run"},
        }),
        "GCP_PROJECT": "acme-ml-dev",
        "FIRESTORE_DATABASE": "modelstack-dev",
        "BUCKET_RESULTS": "acme-results",
        "WORKER_CALLBACK_KEY": "cb-secret-value",
        **extra,
    }


def test_settings_from_the_platform_env():
    s = Settings.from_env(_env(GATEWAY_RATE_LIMIT_RPS="2.5", GATEWAY_WEBHOOK_ALLOW_CIDRS="10.8.0.0/16"))
    assert (s.project, s.database, s.results_bucket) == ("acme-ml-dev", "modelstack-dev", "acme-results")
    assert s.models["flux"].url == "https://api.runpod.ai/v2/abc123" and s.models["flux"].timeout_seconds == 300
    assert s.models["embedder"].provider == "modal" and s.models["embedder"].timeout_seconds == 600
    assert s.rate_limit_rps == 2.5 and s.webhook_allow_networks == (ipaddress.ip_network("10.8.0.0/16"),)
    assert s.api_keys.match(KEY_A) == "ci" and s.api_keys.match(KEY_B).startswith("key-")
    assert s.webhook_secret is None and s.modal_proxy_token is None
    shown = repr(s)
    for secret in (KEY_A, KEY_B, "rp-secret-value-123456", "cb-secret-value"):
        assert secret not in shown


def test_settings_report_every_problem_by_name_never_by_value():
    env = _env(
        GATEWAY_API_KEYS="short-secret",
        MODELSTACK_MODELS=json.dumps({"flux": {"provider": "gcp", "url": "x"}, "ok": {"provider": "runpod",
                                      "url": "https://api.runpod.ai/v2/x", "extra": 1}}),
        RUNPOD_API_KEY="",
        GATEWAY_LEASE_SECONDS="forever",
        MODAL_PROXY_TOKEN_ID="wk-only-half",
    )
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    message = str(info.value)
    for name in ("GATEWAY_API_KEYS", "MODELSTACK_MODELS.flux.provider", "MODELSTACK_MODELS.ok: unknown keys extra",
                 "RUNPOD_API_KEY", "GATEWAY_LEASE_SECONDS", "MODAL_PROXY_TOKEN_SECRET"):
        assert name in message
    assert "short-secret" not in message and "wk-only-half" not in message
    with pytest.raises(ConfigError, match="MODELSTACK_MODELS: not valid JSON"):
        Settings.from_env(_env(MODELSTACK_MODELS="{flux"))
    with pytest.raises(ConfigError, match="refuses to start"):
        Settings.from_env(_env(GATEWAY_API_KEYS=" , "))


def test_api_keys_formats_and_matching():
    keys = ApiKeys.parse(f"ci:{KEY_A}\n{KEY_B}")
    assert len(keys) == 2 and keys.match(KEY_A) == "ci"
    assert keys.match(KEY_A + "x") is None and keys.match("") is None
    assert repr(keys) == "ApiKeys(2 keys)"
    for bad, why in ((f"a:{KEY_A},a:{KEY_B}", "used twice"), (f"a:{KEY_A},b:{KEY_A}", "same key"),
                     ("x:tooshort", "at least 16"), (f"bad name:{KEY_A}", "names are")):
        with pytest.raises(ApiKeyError, match=why) as info:
            ApiKeys.parse(bad)
        assert KEY_A not in str(info.value) and "tooshort" not in str(info.value)


def test_token_bucket_refills_at_the_configured_rate():
    now = [100.0]
    limiter = RateLimiter(rate=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0  # buckets are per caller
    now[0] += 0.5
    assert limiter.acquire("a") == 0
    assert limiter.acquire("a") > 0
    now[0] += 100
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0  # refills to the burst, not beyond
    assert retry_after_header(0.01) == "1" and retry_after_header(2.2) == "3"


@pytest.mark.parametrize(
    ("address", "public"),
    [("93.184.216.34", True), ("2606:2800:220:1::1", True), ("127.0.0.1", False), ("10.1.2.3", False),
     ("172.16.0.1", False), ("192.168.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
     ("0.0.0.0", False), ("224.0.0.1", False), ("::1", False), ("fe80::1", False), ("fc00::1", False),
     ("::ffff:10.0.0.1", False), ("::ffff:93.184.216.34", True), ("192.0.2.1", False)],
)
def test_public_address_classification(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def test_policy_allow_list_admits_only_named_ranges():
    async def resolve(host: str, port: int) -> list[str]:
        return {"vpn.test": ["10.8.1.2"], "lan.test": ["10.9.0.1"]}[host]

    policy = WebhookPolicy(resolve, allow=[ipaddress.ip_network("10.8.0.0/16")])
    target, addresses = asyncio.run(policy.check("https://vpn.test:8443/h"))
    assert (target.host, target.port, addresses) == ("vpn.test", 8443, ["10.8.1.2"])
    with pytest.raises(WebhookRejectedError):
        asyncio.run(policy.check("https://lan.test/h"))


def test_worker_count_defaults_to_usable_cpus(monkeypatch, tmp_path):
    import os

    assert worker_count({"WEB_CONCURRENCY": "3"}, tmp_path) == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    assert worker_count({}, tmp_path) == 2  # no cgroup files: the affinity mask decides


@pytest.mark.parametrize(
    ("files", "affinity", "workers"),
    [
        ({"cpu.max": "max 100000\n"}, 8, 8),  # v2, no quota
        ({"cpu.max": "100000 100000\n"}, 8, 1),  # Cloud Run cpu=1 on a big host
        ({"cpu.max": "200000 100000\n"}, 8, 2),
        ({"cpu.max": "150000 100000\n"}, 8, 2),  # 1.5 CPUs: the second worker gets the half
        ({"cpu.max": "400000 100000\n"}, 2, 2),  # quota above the CPUs this process may run on
        ({"cpu.max": "50000 100000\n"}, 8, 1),  # fractional CPU: still one worker
        ({"cpu/cpu.cfs_quota_us": "400000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 8, 4),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 8, 8),  # v1, no quota
        ({"cpu.max": "garbage"}, 3, 3),  # unreadable: fall back to the affinity mask
    ],
)
def test_worker_count_follows_the_cgroup_cpu_quota(monkeypatch, tmp_path, files, affinity, workers):
    import os

    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(affinity)), raising=False)
    assert worker_count({}, tmp_path) == workers


def test_server_options_are_the_measured_ones():
    options = server_options({"WEB_CONCURRENCY": "1"})
    assert options == {"loop": "uvloop", "http": "httptools", "workers": 1, "timeout_keep_alive": 620,
                       "access_log": False, "proxy_headers": False}
    # The loop and parser named must be importable in the image, or uvicorn would fail at start.
    import httptools  # noqa: F401
    import uvloop  # noqa: F401

    assert options["timeout_keep_alive"] > 600  # Cloud Run's front end idles connections up to 600 s
