"""Gateway overhead: a direct call to a fake Runpod endpoint vs the same call through the gateway.

    python benchmarks/gateway_latency.py [--seconds 5] [--rates 50,200,500]

Everything runs on 127.0.0.1 in separate processes: the fake backend (uvicorn), the gateway (its
real entry point, `python -m inference.gateway.serve`, one worker, configured through env) and
this load generator. The Firestore emulator backs the job store because the gateway needs one to
start; the predict path measured here never touches it.

A last "serial" row sends 1,000 requests one at a time (closed loop) to each side: the per-request
cost without queueing, which is what stays comparable on a machine shared with other work.

Load is open-loop: request i is due at start + i/rate whether or not earlier ones have answered,
and its latency counts from when it was due, so a stalled server cannot hide its queueing
(no coordinated omission). The client is a minimal HTTP/1.1 keep-alive client on asyncio streams,
so its own cost stays small and identical on both sides of the comparison. Bounded: each phase
runs a fixed number of requests (rate x seconds) and every request has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

API_KEY = "bench-key-0123456789abcdef"
RUNPOD_KEY = "rp-test-key-0123456789abcdef"  # what tests/gateway/fakes.py accepts
REQUEST_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    """One keep-alive HTTP/1.1 connection; responses must carry Content-Length (uvicorn's do)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


class Pool:
    def __init__(self, port: int):
        self.port = port
        self.idle: list[Connection] = []

    async def call(self, raw: bytes) -> int:
        conn = self.idle.pop() if self.idle else await Connection.open(self.port)
        status = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
        self.idle.append(conn)
        return status


def _post(path: str, body: dict, headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


async def open_loop(port: int, raw: bytes, rate: float, count: int) -> tuple[list[float], int]:
    """Latencies in ms (from each request's due time) and the number of non-2xx answers or errors."""
    pool = Pool(port)
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(due: float) -> None:
        nonlocal errors
        try:
            status = await pool.call(raw)
            if status >= 300:
                errors += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            errors += 1
            return
        latencies.append((loop.time() - due) * 1000)

    tasks = []
    for i in range(count):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    for conn in pool.idle:
        conn.writer.close()
    return latencies, errors


async def sequential(port: int, raw: bytes, count: int) -> list[float]:
    """Closed loop, one request at a time: the per-request cost without any queueing."""
    conn = await Connection.open(port)
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
        latencies.append((time.perf_counter() - started) * 1000)
    conn.writer.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def _wait_http(port: int, path: str, process: subprocess.Popen, what: str, expect: bytes = b"HTTP/1.1 200") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(_get(path))
                if sock.recv(64).startswith(expect):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def serve_fake(port: int) -> None:
    import uvicorn

    from tests.gateway.fakes import FakeState, build_app

    uvicorn.run(build_app(FakeState()), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measured phase")
    parser.add_argument("--rates", default="50,200,500", help="requests per second, comma-separated")
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return

    from tests.support.firestore_emulator import FirestoreEmulator

    emulator = FirestoreEmulator.start()
    fake_port, gateway_port = _free_port(), _free_port()
    children: list[subprocess.Popen] = []
    try:
        fake = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(fake_port)], cwd=ROOT)
        children.append(fake)
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PORT": str(gateway_port),
            "WEB_CONCURRENCY": "1",
            "FIRESTORE_EMULATOR_HOST": emulator.host,
            "HOST": "127.0.0.1",  # loopback only, never every interface
            "GCP_PROJECT": "bench",
            "GATEWAY_API_KEYS": f"bench:{API_KEY}",
            "RUNPOD_API_KEY": RUNPOD_KEY,
            "GATEWAY_RATE_LIMIT_RPS": "1000000",
            "GATEWAY_RATE_LIMIT_BURST": "1000000",
            "MODELSTACK_MODELS": json.dumps({"bench": {"provider": "runpod", "timeoutSeconds": 30,
                                                       "url": f"http://127.0.0.1:{fake_port}/v2/ep-bench"}}),
        }
        gateway = subprocess.Popen([sys.executable, "-m", "inference.gateway.serve"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL)
        children.append(gateway)
        _wait_http(fake_port, "/v2/x/health", fake, "fake backend", expect=b"HTTP/1.1 ")  # any answer will do
        _wait_http(gateway_port, "/healthz", gateway, "gateway")

        job_input = {"prompt": "a photo of a cat", "steps": 1}
        direct = _post("/v2/ep-bench/runsync?wait=30000",
                       {"input": job_input, "policy": {"executionTimeout": 30000}},
                       {"Authorization": f"Bearer {RUNPOD_KEY}"})
        through = _post("/v1/models/bench:predict", {"input": job_input}, {"Authorization": f"Bearer {API_KEY}"})
        health = _get("/healthz")

        async def run() -> None:
            # Warm-up: connection pools, code paths, the JIT-less interpreter's caches.
            await open_loop(fake_port, direct, 200, 400)
            await open_loop(gateway_port, through, 200, 400)
            print(f"{'rate':>6} {'n':>6} {'direct p50':>11} {'direct p99':>11} {'gateway p50':>12} "
                  f"{'gateway p99':>12} {'overhead p50':>13} {'overhead p99':>13} {'errors':>7}")
            for rate in (float(r) for r in args.rates.split(",")):
                count = int(rate * args.seconds)
                d, d_err = await open_loop(fake_port, direct, rate, count)
                await asyncio.sleep(1)  # let stragglers drain so phases do not overlap
                g, g_err = await open_loop(gateway_port, through, rate, count)
                await asyncio.sleep(1)
                dp50, dp99, gp50, gp99 = percentile(d, 50), percentile(d, 99), percentile(g, 50), percentile(g, 99)
                print(f"{rate:>6.0f} {count:>6} {dp50:>9.2f}ms {dp99:>9.2f}ms {gp50:>10.2f}ms {gp99:>10.2f}ms "
                      f"{gp50 - dp50:>11.2f}ms {gp99 - dp99:>11.2f}ms {d_err + g_err:>7}")
            d, g = await sequential(fake_port, direct, 1000), await sequential(gateway_port, through, 1000)
            print(f"{'serial':>6} {1000:>6} {percentile(d, 50):>9.2f}ms {percentile(d, 99):>9.2f}ms "
                  f"{percentile(g, 50):>10.2f}ms {percentile(g, 99):>10.2f}ms "
                  f"{percentile(g, 50) - percentile(d, 50):>11.2f}ms {percentile(g, 99) - percentile(d, 99):>11.2f}ms")
            h, h_err = await open_loop(gateway_port, health, 200, int(200 * args.seconds))
            print(f"/healthz at 200 rps: n={len(h)} p50 {percentile(h, 50):.2f}ms p99 {percentile(h, 99):.2f}ms "
                  f"errors {h_err}")

        asyncio.run(run())
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        emulator.stop()


if __name__ == "__main__":
    main()
