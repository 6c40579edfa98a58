"""Asynchronous jobs against the real Firestore emulator and fake backends: lifecycle, failures,
timeouts, cancellation, ownership, idempotency, large results and recovery after a dead instance."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from google.cloud import firestore

from inference.gateway.app import Overrides
from inference.gateway.jobs import IN_PROGRESS, IN_QUEUE, Job, request_hash, to_document
from tests.gateway.fakes import MemoryResultStore
from tests.gateway.harness import BOB_KEY, routes

pytestmark = [pytest.mark.emulator]


def _doc(db: firestore.Client, job_id: str) -> dict:
    return db.collection("jobs").document(job_id).get().to_dict()


def test_runpod_job_lifecycle(gateway, fake, db):
    alice = gateway.client()
    r = alice.post("/v1/jobs", json={"model": "flux", "input": {"steps": 3, "prompt": "a cat"}})
    assert r.status_code == 202
    created = r.json()
    assert created["status"] == "IN_QUEUE" and r.headers["location"] == f"/v1/jobs/{created['id']}"
    seen = []
    job = gateway.wait_for_job(created["id"], until=lambda j: seen.append(j["status"]) or j["status"] == "COMPLETED")
    assert job["output"] == {"echo": {"steps": 3, "prompt": "a cat"}}
    assert job["attempts"] == 1 and job["backendJobId"].startswith("job-")
    assert job["startedAt"] <= job["completedAt"]
    # Status only moves forward.
    order = ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)
    doc = _doc(db, created["id"])
    assert "leaseUntil" not in doc and "leaseOwner" not in doc  # finished jobs leave the lease scan
    assert doc["owner"] == "alice" and json.loads(doc["inputJson"]) == {"steps": 3, "prompt": "a cat"}
    assert [run["input"] for run in fake.state.runs] == [{"steps": 3, "prompt": "a cat"}]


def test_backend_failures_fail_the_job_with_the_reason(gateway):
    alice = gateway.client()
    failed = alice.post("/v1/jobs", json={"model": "flux", "input": {"fail": "CUDA out of memory", "steps": 2}}).json()
    timed_out = alice.post("/v1/jobs", json={"model": "flux", "input": {"timedOut": True}}).json()
    modal_failed = alice.post("/v1/jobs", json={"model": "embedder", "input": {"fail": "bad image"}}).json()
    assert gateway.wait_for_job(failed["id"])["error"] == "CUDA out of memory"
    assert "TIMED_OUT" in gateway.wait_for_job(timed_out["id"])["error"]
    job = gateway.wait_for_job(modal_failed["id"])
    assert (job["status"], job["error"]) == ("FAILED", "bad image")


def test_modal_job_completes(gateway, fake):
    r = gateway.client().post("/v1/jobs", json={"model": "embedder", "input": {"text": "hello"}})
    job = gateway.wait_for_job(r.json()["id"])
    assert job["status"] == "COMPLETED" and job["output"] == {"echo": {"text": "hello"}}
    assert fake.state.modal_calls == [{"text": "hello"}]


def test_worker_dying_mid_job_fails_it_at_the_timeout(gateways, fake, db):
    gateway = gateways(models=routes(fake.url, flux_timeout=1.0))
    r = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {"hang": True}})
    job = gateway.wait_for_job(r.json()["id"])
    assert job["status"] == "FAILED"
    assert job["error"] == "timed out after 1s (last backend status IN_PROGRESS)"
    assert fake.state.cancels == [job["backendJobId"]]  # the GPU stops billing too
    assert "leaseUntil" not in _doc(db, job["id"])


def test_dispatch_is_retried_when_the_backend_errors(gateway, fake):
    r = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {"runErrors": 2, "tag": "r1"}})
    job = gateway.wait_for_job(r.json()["id"])
    assert job["status"] == "COMPLETED" and job["attempts"] == 3
    assert len(fake.state.runs) == 1  # two refused submissions, one accepted


def test_cancel_stops_the_backend_job(gateway, fake):
    alice = gateway.client()
    created = alice.post("/v1/jobs", json={"model": "flux", "input": {"hang": True}}).json()
    running = gateway.wait_for_job(created["id"], until=lambda j: j["status"] == "IN_PROGRESS")
    r = alice.delete(f"/v1/jobs/{created['id']}")
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["error"]) == ("CANCELLED", "cancelled by the caller")
    assert fake.state.cancels == [running["backendJobId"]]
    assert alice.get(f"/v1/jobs/{created['id']}").json()["status"] == "CANCELLED"
    assert alice.delete(f"/v1/jobs/{created['id']}").status_code == 200  # idempotent
    done = alice.post("/v1/jobs", json={"model": "flux", "input": {}}).json()
    gateway.wait_for_job(done["id"])
    r = alice.delete(f"/v1/jobs/{done['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "job_finished"


def test_jobs_are_visible_only_to_the_key_that_created_them(gateway):
    alice, bob = gateway.client(), gateway.client(BOB_KEY)
    job = alice.post("/v1/jobs", json={"model": "flux", "input": {"hang": True}}).json()
    assert bob.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert bob.delete(f"/v1/jobs/{job['id']}").status_code == 404
    assert alice.get(f"/v1/jobs/{job['id']}").status_code == 200
    for missing in ("0" * 32, "not..valid", "a" * 200):
        assert alice.get(f"/v1/jobs/{missing}").status_code == 404


# --- idempotency -------------------------------------------------------------------------------


def test_idempotent_retries_return_the_first_job(gateway, fake, db):
    alice = gateway.client()
    body = {"model": "flux", "input": {"prompt": "same"}}
    first = alice.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    again = alice.post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]

    changed = alice.post("/v1/jobs", json={**body, "input": {"prompt": "other"}}, headers={"Idempotency-Key": "order-42"})
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
    # Keys are per caller: Bob's "order-42" is his own job.
    bobs = gateway.client(BOB_KEY).post("/v1/jobs", json=body, headers={"Idempotency-Key": "order-42"})
    assert bobs.status_code == 202 and bobs.json()["id"] != first.json()["id"]

    bad = alice.post("/v1/jobs", json=body, headers={"Idempotency-Key": "has space"})
    assert bad.status_code == 400
    for job_id in (first.json()["id"], bobs.json()["id"]):
        gateway.wait_for_job(job_id, key=BOB_KEY if job_id == bobs.json()["id"] else "alice-key-0123456789abcdef")
    assert len(fake.state.runs) == 2
    assert len(list(db.collection("jobs").stream())) == 2


def test_concurrent_retries_with_one_key_create_exactly_one_job(gateways, fake, db):
    gateway = gateways()
    body = {"model": "flux", "input": {"steps": 2}}

    def post(_: int):
        client = gateway.client()
        return client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "burst-1"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(post, range(32)))
    assert sorted(r.status_code for r in responses) == [200] * 31 + [202]
    assert len({r.json()["id"] for r in responses}) == 1
    job = gateway.wait_for_job(responses[0].json()["id"])
    assert job["status"] == "COMPLETED"
    assert len(fake.state.runs) == 1
    assert len(list(db.collection("jobs").stream())) == 1


# --- large results -----------------------------------------------------------------------------


def test_large_outputs_go_to_the_results_bucket_with_a_signed_url(gateways, db):
    results = MemoryResultStore()
    gateway = gateways(Overrides(results=results), result_inline_bytes=1024, result_url_ttl_seconds=600)
    alice = gateway.client()
    small = alice.post("/v1/jobs", json={"model": "flux", "input": {"outputBytes": 100}}).json()
    large = alice.post("/v1/jobs", json={"model": "flux", "input": {"outputBytes": 5000}}).json()
    assert gateway.wait_for_job(small["id"])["output"] == "x" * 100
    job = gateway.wait_for_job(large["id"])
    assert job["status"] == "COMPLETED" and "output" not in job
    path = f"results/{large['id']}.json"
    assert job["outputUrl"].startswith(f"https://storage.example.test/results-bucket/{path}?")
    assert results.objects[path] == (json.dumps("x" * 5000).encode(), "application/json")
    assert results.signed[0] == (path, 600)
    assert "outputJson" not in _doc(db, large["id"])


def test_expired_result_urls_are_signed_again_on_read(gateways, db):
    results = MemoryResultStore()
    gateway = gateways(Overrides(results=results), result_inline_bytes=10)
    job = gateway.wait_for_job(gateway.client().post("/v1/jobs", json={"model": "flux", "input": {"outputBytes": 50}}).json()["id"])
    db.collection("jobs").document(job["id"]).update({"outputUrlExpiresAt": time.time() - 1})
    again = gateway.client().get(f"/v1/jobs/{job['id']}").json()
    assert again["outputUrl"] != job["outputUrl"] and len(results.signed) == 2
    assert _doc(db, job["id"])["outputUrlExpiresAt"] > time.time()


def test_large_output_without_a_bucket_fails_with_a_reason(gateways):
    gateway = gateways(result_inline_bytes=1024)
    job = gateway.client().post("/v1/jobs", json={"model": "flux", "input": {"outputBytes": 5000}}).json()
    job = gateway.wait_for_job(job["id"])
    assert job["status"] == "FAILED" and "BUCKET_RESULTS" in job["error"] and "5002 bytes" in job["error"]


# --- recovery ----------------------------------------------------------------------------------


def test_a_surviving_instance_takes_over_a_dead_instances_jobs(gateways, fake):
    first = gateways()
    created = first.client().post("/v1/jobs", json={"model": "flux", "input": {"steps": 30}}).json()
    first.wait_for_job(created["id"], until=lambda j: "backendJobId" in j)
    first.server.run(first.state.runner.stop())  # the instance dies: nobody renews the lease
    second = gateways()
    job = second.wait_for_job(created["id"])
    assert job["status"] == "COMPLETED" and job["attempts"] == 1
    assert len(fake.state.runs) == 1  # resumed by polling, not sent to the GPU again


def _orphan(db: firestore.Client, job_id: str, deadline_in: float = 30, **fields) -> None:
    """A job document as a dead instance left it: lease expired, nobody driving it."""
    now = time.time()
    job = Job(id=job_id, owner="alice", model="flux", provider="runpod", input_json='{"orphan":true}',
              request_hash=request_hash("flux", {"orphan": True}, None), status=IN_QUEUE,
              created_at=now - 2, updated_at=now - 2, deadline=now + deadline_in, lease_owner="dead", lease_until=now - 1)
    db.collection("jobs").document(job_id).create({**to_document(job), **fields})


def test_a_job_created_but_never_dispatched_is_dispatched_after_a_crash(gateway, fake, db):
    _orphan(db, "orphan1")
    job = gateway.wait_for_job("orphan1")
    assert job["status"] == "COMPLETED" and job["output"] == {"echo": {"orphan": True}}
    assert len(fake.state.runs) == 1


def test_a_modal_call_lost_with_its_instance_fails_at_the_deadline(gateway, db):
    _orphan(db, "orphan2", model="embedder", provider="modal", status=IN_PROGRESS, attempts=1,
            deadline_in=-0.5)
    job = gateway.wait_for_job("orphan2")
    assert job["status"] == "FAILED" and job["error"] == "timed out after 1.5s (the Modal call did not return)"
