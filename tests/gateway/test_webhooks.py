"""User webhooks: SSRF targets refused (after DNS resolution), signed delivery over real https,
retries with backoff, delivery state on the job, and DNS rebinding caught at delivery time."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator

import httpx
import pytest

from inference import signing
from inference.gateway.app import Overrides
from tests.gateway.fakes import Receiver
from tests.gateway.harness import WEBHOOK_SECRET, ServerThread
from tests.gateway.tls import self_signed, trusting

pytestmark = [pytest.mark.emulator]

HOOK_HOST = "hooks.example.test"
PUBLIC_IP = "93.184.216.34"


class Dns:
    """The resolver the gateway uses in these tests: a table the test can change."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise OSError("NXDOMAIN")
        return list(self.answers[host])


@pytest.fixture
def dns() -> Dns:
    return Dns()


@pytest.fixture
def receiver(tmp_path) -> Iterator[tuple[Receiver, ServerThread, httpx.AsyncClient]]:
    cert, key = self_signed(tmp_path, HOOK_HOST)
    hook = Receiver()
    server = ServerThread(hook.app(), ssl_certfile=str(cert), ssl_keyfile=str(key)).start()
    client = httpx.AsyncClient(verify=trusting(cert), trust_env=False, follow_redirects=False)
    yield hook, server, client
    server.stop()


@pytest.mark.parametrize(
    ("url", "answers", "reason"),
    [
        ("http://hooks.example.test/x", {}, "must use https"),
        ("https://user:pw@hooks.example.test/x", {}, "credentials"),
        ("https:///nohost", {}, "no host"),
        ("https://127.0.0.1/x", {}, "private, loopback"),
        ("https://[::1]/x", {}, "private, loopback"),
        ("https://10.0.0.5/x", {}, "private, loopback"),
        ("https://169.254.169.254/computeMetadata/v1/", {}, "private, loopback"),
        ("https://[::ffff:127.0.0.1]/x", {}, "private, loopback"),
        ("https://0.0.0.0/x", {}, "private, loopback"),
        ("https://100.64.0.1/x", {}, "private, loopback"),
        ("https://[fe80::1]/x", {}, "private, loopback"),
        ("https://[fd00::1]/x", {}, "private, loopback"),
        ("https://localhost.test/x", {"localhost.test": ["127.0.0.1"]}, "private, loopback"),
        ("https://metadata.test/x", {"metadata.test": ["169.254.169.254"]}, "private, loopback"),
        ("https://mixed.test/x", {"mixed.test": [PUBLIC_IP, "10.1.2.3"]}, "private, loopback"),
        ("https://lan.test/x", {"lan.test": ["192.168.1.10"]}, "private, loopback"),
        ("https://v6lan.test/x", {"v6lan.test": ["fd12:3456::1"]}, "private, loopback"),
        ("https://nxdomain.test/x", {}, "does not resolve"),
    ],
)
def test_ssrf_targets_are_refused_when_the_job_is_created(gateways, fake, db, dns, url, answers, reason):
    dns.answers.update(answers)
    gateway = gateways(Overrides(resolver=dns))
    r = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {}, "webhook": url})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "webhook_rejected" and reason in r.json()["error"]["message"]
    assert list(db.collection("jobs").stream()) == [] and fake.state.runs == []


def test_a_public_https_webhook_is_accepted(gateways, dns):
    dns.answers["public.test"] = [PUBLIC_IP]
    gateway = gateways(Overrides(resolver=dns))
    r = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {"hang": True},
                                                "webhook": "https://public.test/hook"})
    assert r.status_code == 202
    assert r.json()["webhook"] == {"url": "https://public.test/hook", "state": "pending", "attempts": 0}


def test_webhooks_need_a_signing_key(gateways):
    gateway = gateways(webhook_secret=None)
    r = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {}, "webhook": "https://x.test/"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "webhooks_disabled"


def _hook_gateway(gateways, dns, receiver, **changes):
    hook, server, client = receiver
    dns.answers[HOOK_HOST] = ["127.0.0.1"]
    # Loopback is allowed explicitly here, as an operator could for an internal receiver.
    gateway = gateways(Overrides(resolver=dns, webhook_client=client),
                       webhook_allow_networks=(ipaddress.ip_network("127.0.0.1/32"),), **changes)
    return gateway, hook, f"https://{HOOK_HOST}:{server.port}/hooks/done?src=test"


def test_webhook_is_signed_delivered_once_and_recorded(gateways, dns, receiver):
    gateway, hook, url = _hook_gateway(gateways, dns, receiver)
    created = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {"n": 1}, "webhook": url}).json()
    job = gateway.wait_for_job(created["id"], until=lambda j: j.get("webhook", {}).get("state") != "pending")
    assert job["webhook"]["state"] == "delivered" and job["webhook"]["attempts"] == 1
    assert job["webhook"]["lastStatus"] == 200 and "deliveredAt" in job["webhook"]
    assert len(hook.deliveries) == 1
    headers, body = hook.deliveries[0]
    signing.verify(WEBHOOK_SECRET, headers, body)  # raises if forged or stale
    with pytest.raises(signing.SignatureError):
        signing.verify("some-other-secret", headers, body)
    payload = json.loads(body)
    assert payload["event"] == "job.completed"
    assert payload["job"]["id"] == created["id"] and payload["job"]["output"] == {"echo": {"n": 1}}
    assert headers["host"] == f"{HOOK_HOST}:{url.split(':')[2].split('/')[0]}"
    assert headers["x-modelstack-delivery"] == f"{created['id']}.1"


def test_webhook_is_retried_with_backoff_until_delivered(gateways, dns, receiver):
    gateway, hook, url = _hook_gateway(gateways, dns, receiver)
    hook.statuses[:] = [500, 503]
    created = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {}, "webhook": url}).json()
    job = gateway.wait_for_job(created["id"], until=lambda j: j.get("webhook", {}).get("state") != "pending")
    assert job["webhook"]["state"] == "delivered" and job["webhook"]["attempts"] == 3
    assert [h["x-modelstack-delivery"] for h, _ in hook.deliveries] == [f"{created['id']}.{n}" for n in (1, 2, 3)]


def test_webhook_gives_up_after_the_last_attempt(gateways, dns, receiver, db):
    gateway, hook, url = _hook_gateway(gateways, dns, receiver, webhook_max_attempts=3)
    hook.statuses[:] = [500] * 10
    created = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {"fail": "boom"}, "webhook": url}).json()
    job = gateway.wait_for_job(created["id"], until=lambda j: j.get("webhook", {}).get("state") != "pending")
    assert job["status"] == "FAILED"
    assert job["webhook"] == {"url": url, "state": "failed", "attempts": 3, "lastStatus": 500,
                              "lastError": "receiver answered 500"}
    assert len(hook.deliveries) == 3
    assert json.loads(hook.deliveries[0][1])["event"] == "job.failed"
    assert "leaseUntil" not in db.collection("jobs").document(created["id"]).get().to_dict()


def test_cancelled_jobs_notify_too(gateways, dns, receiver):
    gateway, hook, url = _hook_gateway(gateways, dns, receiver)
    alice = gateway.client()
    created = alice.post("/v1/jobs", json={"model": "flux", "input": {"hang": True}, "webhook": url}).json()
    gateway.wait_for_job(created["id"], until=lambda j: j["status"] == "IN_PROGRESS")
    assert alice.delete(f"/v1/jobs/{created['id']}").status_code == 200
    job = gateway.wait_for_job(created["id"], until=lambda j: j.get("webhook", {}).get("state") != "pending")
    assert job["webhook"]["state"] == "delivered"
    assert [json.loads(b)["event"] for _, b in hook.deliveries] == ["job.cancelled"]


def test_dns_rebinding_after_creation_is_refused_at_delivery(gateways, fake, dns):
    dns.answers["rebind.test"] = [PUBLIC_IP]
    gateway = gateways(Overrides(resolver=dns), webhook_max_attempts=2)
    alice = gateway.client()
    created = alice.post("/v1/jobs", json={"model": "flux", "input": {"steps": 5},
                                           "webhook": "https://rebind.test/hook"}).json()
    dns.answers["rebind.test"] = ["10.0.0.7"]  # the attacker's DNS now points inside
    job = gateway.wait_for_job(created["id"], until=lambda j: j.get("webhook", {}).get("state") != "pending")
    assert job["webhook"]["state"] == "failed" and job["webhook"]["attempts"] == 2
    assert "private, loopback" in job["webhook"]["lastError"]
    assert dns.lookups.count("rebind.test") == 3  # at creation, then before each delivery
