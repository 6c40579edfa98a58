"""2,000 jobs through the gateway on loopback: none lost, none duplicated, each with its own answer.

Clients retry a tenth of their requests with the same Idempotency-Key (as a client whose response
was lost would), so duplicates would show up as extra documents or extra backend runs.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from tests.gateway.harness import ALICE_KEY

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

JOBS = 2000
CONCURRENCY = 32
BUDGET_SECONDS = 150  # bounded: the test fails rather than running on


async def _submit_all(url: str) -> dict[int, str]:
    ids: dict[int, str] = {}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {ALICE_KEY}"},
                                 timeout=60, limits=limits, trust_env=False) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(JOBS):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                body = {"model": "flux", "input": {"n": n}}
                headers = {"Idempotency-Key": f"load-{n}"}
                r = await client.post("/v1/jobs", json=body, headers=headers)
                assert r.status_code == 202, r.text
                ids[n] = r.json()["id"]
                if n % 10 == 0:  # the retry of a client that never saw the answer
                    again = await client.post("/v1/jobs", json=body, headers=headers)
                    assert again.status_code == 200 and again.json()["id"] == ids[n]

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return ids


def test_two_thousand_jobs_none_lost_none_duplicated(gateways, fake, db):
    gateway = gateways(poll_interval_seconds=0.2, lease_seconds=10.0)
    started = time.monotonic()
    ids = asyncio.run(_submit_all(gateway.url))
    submitted = time.monotonic() - started
    assert len(ids) == JOBS and len(set(ids.values())) == JOBS

    while True:
        docs = {d.id: d.to_dict() for d in db.collection("jobs").stream()}
        pending = [d for d in docs.values() if d["status"] != "COMPLETED"]
        if not pending:
            break
        assert time.monotonic() - started < BUDGET_SECONDS, f"{len(pending)} jobs unfinished"
        assert not [d for d in pending if d["status"] in ("FAILED", "CANCELLED")], pending[:3]
        time.sleep(0.5)
    elapsed = time.monotonic() - started

    assert set(docs) == set(ids.values())  # nothing extra, nothing missing
    for n, job_id in ids.items():
        assert json.loads(docs[job_id]["outputJson"]) == {"echo": {"n": n}}
        assert docs[job_id]["attempts"] == 1 and "leaseUntil" not in docs[job_id]
    sent = sorted(run["input"]["n"] for run in fake.state.runs)
    assert sent == list(range(JOBS))  # every job reached the GPU exactly once
    print(f"\n{JOBS} jobs: submitted in {submitted:.1f}s, all completed in {elapsed:.1f}s")
