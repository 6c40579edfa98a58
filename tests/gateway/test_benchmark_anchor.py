"""The gateway benchmark's anchor and backend (benchmarks/bare_proxy.py, benchmarks/echo_backend.py)
and its statistics: the bare proxy passes the backend's answer through unchanged, and the
percentile and ramp stop rule mean what the report says they mean. No emulator needed."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import bare_proxy, echo_backend, gateway_latency
from benchmarks.gateway_latency import Step, free_port, percentile, sustained, top_frames
from tests.gateway.harness import ServerThread

ROOT = Path(__file__).resolve().parents[2]
RUNPOD_KEY = echo_backend.RUNPOD_KEY


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def backend() -> Iterator[ServerThread]:
    server = ServerThread(echo_backend.app).start()
    try:
        yield server
    finally:
        server.stop()


def _proxy(backend: ServerThread, key: str) -> ServerThread:
    return ServerThread(bare_proxy.BareProxy(f"{backend.url}/v2/ep-test", key)).start()


@pytest.fixture
def proxy(backend: ServerThread) -> Iterator[ServerThread]:
    server = _proxy(backend, RUNPOD_KEY)
    try:
        yield server
    finally:
        server.stop()


# --- the anchor -------------------------------------------------------------------------------


def test_the_bare_proxy_returns_the_backends_answer_unchanged(proxy: ServerThread) -> None:
    job_input = {"prompt": "a photo of a cat", "steps": 1, "nested": {"list": [1, 2.5, None]}}
    status, answer = _post(f"{proxy.url}/anything", json.dumps({"input": job_input, "policy": {}}).encode())
    assert status == 200
    assert answer["status"] == "COMPLETED"
    assert answer["output"] == job_input
    assert answer["delayTime"] == 0 and answer["executionTime"] == 1
    assert isinstance(answer["id"], str) and answer["id"]


def test_the_backends_refusals_come_through_the_proxy(backend: ServerThread, proxy: ServerThread) -> None:
    assert _post(f"{proxy.url}/x", b"not json") == (400, {"error": "invalid JSON"})
    wrong = _proxy(backend, "rp-wrong-key")
    try:
        assert _post(f"{wrong.url}/x", b'{"input": {}}') == (401, {"error": "Unauthorized"})
    finally:
        wrong.stop()


def test_the_bare_proxy_answers_healthz_itself(proxy: ServerThread) -> None:
    with urllib.request.urlopen(f"{proxy.url}/healthz", timeout=10) as response:
        assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})


def test_the_echo_backend_speaks_runpods_shapes(backend: ServerThread) -> None:
    def get(path: str, key: str | None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(f"{backend.url}{path}", headers=headers),
                                        timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    status, health = get("/v2/ep/health", RUNPOD_KEY)
    assert status == 200 and set(health) == {"jobs", "workers"}
    assert get("/v2/ep/health", None)[0] == 401
    assert get("/v2/ep/status/1", RUNPOD_KEY)[0] == 404


def test_the_bare_proxy_runs_under_the_gateways_uvicorn_settings() -> None:
    options = bare_proxy.uvicorn_options({"HOST": "127.0.0.1", "PORT": "9999", "WEB_CONCURRENCY": "4"})
    assert options["workers"] == 1  # one worker against one, whatever the gateway would pick
    assert (options["host"], options["port"]) == ("127.0.0.1", 9999)
    assert options["access_log"] is False
    assert "factory" not in options


@pytest.mark.subprocess
def test_the_bare_proxy_starts_as_a_script() -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "BACKEND_URL": "http://127.0.0.1:9/v2/x",
           "RUNPOD_API_KEY": RUNPOD_KEY}
    process = subprocess.Popen([sys.executable, str(ROOT / "benchmarks/bare_proxy.py")], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the bare proxy did not start"
                time.sleep(0.1)  # waiting for a process to come up
        # Nothing listens on the backend's port: the proxy answers 502, it does not hang or crash.
        assert _post(f"http://127.0.0.1:{port}/x", b'{"input": {}}')[0] == 502
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --- the statistics ---------------------------------------------------------------------------


def test_percentile_is_the_nearest_rank() -> None:
    hundred = [float(v) for v in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(hundred, 50) == 50
    assert percentile(hundred, 99) == 99
    assert percentile(hundred, 100) == 100
    assert percentile(hundred, 0) == 1
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3  # the median, not a neighbour of it
    assert percentile([7.0], 99) == 7
    assert math.isnan(percentile([], 50))


def test_the_ramp_sustains_the_last_rate_before_the_first_failure() -> None:
    ok = [Step(500, 3.0, 0), Step(1000, 12.0, 0), Step(1500, 49.9, 0)]
    assert sustained(ok) == 1500
    assert sustained([*ok, Step(2000, 50.0, 0)]) == 1500  # p99 at the limit fails
    assert sustained([*ok[:2], Step(1500, 5.0, 1)]) == 1000  # one error fails
    assert sustained([Step(500, 3.0, 0), Step(1000, 80.0, 0), Step(1500, 4.0, 0)]) == 500  # no second chance
    assert sustained([Step(500, float("nan"), 0)]) == 0  # nothing answered
    assert sustained([Step(500, 60.0, 0)]) == 0
    assert sustained([]) == 0


def test_a_step_with_a_lagging_client_is_client_bound() -> None:
    assert Step(3000, 10.0, 0, lag_p99=5.1).client_bound
    assert not Step(3000, 10.0, 0, lag_p99=4.9).client_bound


def test_top_frames_from_collapsed_stacks() -> None:
    collapsed = "main;loop;handle;parse 3\nmain;loop;handle 1\nmain;loop;send 4\nbroken line\n"
    by_inclusive, by_self, total = top_frames(collapsed)
    assert total == 8
    # main and loop are on every sample: they tell nothing and are left out.
    assert by_inclusive == [("handle", 0.5), ("send", 0.5), ("parse", 0.375)]
    assert by_self == [("send", 0.5), ("parse", 0.375), ("handle", 0.125)]
    assert top_frames("") == ([], [], 0)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_cpu_time_is_read_from_proc_and_divided_per_request():
    before = gateway_latency.cpu_seconds(os.getpid())
    started = time.process_time()
    while time.process_time() - started < 0.3:  # burn CPU the kernel will count
        pass
    after = gateway_latency.cpu_seconds(os.getpid())
    assert before is not None and after is not None and after - before >= 0.2
    assert gateway_latency.cpu_seconds(2**22 + 12345) is None  # no such process
    assert gateway_latency.cpu_per_request(1.0, 1.5, 1000) == pytest.approx(500.0)
    assert gateway_latency.cpu_per_request(None, 1.5, 1000) is None
    assert "bare 100 us, gateway 125 us" in gateway_latency.cpu_text({"bare": 100.0, "gateway": 125.0})
    assert "0.80x" in gateway_latency.cpu_text({"bare": 100.0, "gateway": 125.0}).split("estimate")[1]
