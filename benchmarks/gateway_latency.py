"""Gateway overhead, anchored: the gateway's cost over a bare ASGI proxy's, on the same server.

    python benchmarks/gateway_latency.py [--seconds 5] [--rates 50,200,500] [--rounds 6]
                                         [--ramp-seconds 3] [--profile DIR]

Everything runs on 127.0.0.1 in separate processes: a minimal Runpod responder
(benchmarks/echo_backend.py), the anchor (benchmarks/bare_proxy.py: one route forwarding the body
with one pooled aiohttp session, no auth, no limits, under the gateway's own uvicorn settings), the
gateway (its real entry point, `python -m inference.gateway.serve`, configured through env) and
this load generator. Both servers run one worker. The Firestore emulator backs the job store
because the gateway needs one to start; the predict path measured here never touches it.

Three sides are measured: direct (client -> backend), bare (client -> bare proxy -> backend) and
gateway (client -> gateway -> backend, `POST /v1/models/bench:predict` with a Bearer key). The
backend receives the same body from all three.

How to read it. "overhead" is a side's latency minus direct's at the same percentile: what the hop
adds. The bare proxy's overhead is the floor for any Python ASGI proxy on this machine (server,
event loop, HTTP client, loopback). The ratio `gateway overhead / bare overhead` is what the
gateway's own code (auth, rate limit, routing, validation, payload building, error mapping) costs
on top, as a multiple of that floor: 1.00x means nothing, 2.00x means the gateway's hop costs
twice what the least possible hop costs. Unlike absolute milliseconds, the ratio carries over
between machines, because both sides share the same server, client, backend and load.

Phases:
- For each rate in --rates, the three sides run interleaved in --rounds rounds (each round runs
  direct, bare, gateway for seconds/rounds each), so drift in the machine's load hits all sides
  alike; latencies are pooled per side.
- "serial": 1,000 requests one at a time per side (closed loop), in rounds too: the per-request
  cost without queueing.
- A ramp for bare and gateway (interleaved per step): 500, 1000, ... 5000 requests/s for
  --ramp-seconds each, stopping a side at its first step with p99 >= 50 ms or any error. It prints
  the highest rate each sustains and their ratio.
- Server CPU per request: bare and gateway at 1,000/s (below both ceilings), in rounds, each
  server's CPU time (from /proc) divided by the requests it served. On a machine this small the
  ramp's ceiling moves from run to run with whatever the client and backend take; CPU per request
  does not, and it is what bounds the rate one process sustains on a core of its own (a Cloud Run
  instance), so `bare us / gateway us` is printed as the sustained-rate estimate.
- /healthz on the gateway at 200/s.
- With --profile DIR: py-spy samples the gateway during a 300/s predict phase and a 200/s healthz
  phase (raw collapsed stacks in DIR), and the top frames by inclusive and by self share are
  printed. Profiling slows the gateway, so these phases are not part of the numbers above.
- A closing "targets" block sets the issue's targets beside what was measured: gateway/bare
  overhead at p50 <= 1.3x and gateway p99 overhead <= 2 ms at 200/s, /healthz p99 <= 1 ms, and a
  sustained rate >= 0.8x the bare proxy's. Its last line is the ramp's verdict, with any
  client-bound steps named. Errors are counted per side with their kinds (HTTP status or exception).

Load is open-loop: request i is due at start + i/rate whether or not earlier ones have answered, so
a stalled server queues requests rather than slowing the client down. Latency counts from when the
request was sent (connection set-up included); how late the client sent it (send time - due time)
is recorded apart as "client lag" and its p99 printed, so a lagging client is visible instead of
being charged to the server. A ramp step whose client lag p99 exceeds 5 ms is marked client-bound:
it says more about this load generator than about the server. The client is a minimal HTTP/1.1
keep-alive client on asyncio streams (uvloop when installed), identical for every side. Bounded:
each phase sends a fixed number of requests, every request has a timeout, and every child process
is stopped (SIGTERM, then kill) when the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

API_KEY = "bench-key-0123456789abcdef"
RUNPOD_KEY = "rp-test-key-0123456789abcdef"  # what benchmarks/echo_backend.py accepts
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 1000  # far above what a sustained rate needs (5000/s x 50 ms = 250 in flight)
P99_LIMIT_MS = 50.0
CLIENT_LAG_LIMIT_MS = 5.0
RAMP_RATES = tuple(range(500, 5001, 500))
PAUSE = 0.2  # between phases, so one side's stragglers never overlap the next side's requests
CPU_RATE = 1000.0  # requests/s for the CPU-per-request phase: below either server's ceiling here
START_TIMEOUT = 60.0


# --- statistics -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (an observed value, no interpolation); NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


@dataclass
class Sample:
    """One side's pooled results: latencies (ms, from send), client lags (ms) and failures."""

    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    """What the errors were: an HTTP status or an exception's name."""

    def fail(self, kind: str) -> None:
        self.errors += 1
        self.kinds[kind] += 1

    def extend(self, other: Sample) -> None:
        self.latencies += other.latencies
        self.lags += other.lags
        self.sent += other.sent
        self.errors += other.errors
        self.kinds += other.kinds

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    @property
    def lag_p99(self) -> float:
        return percentile(self.lags, 99) if self.lags else 0.0


@dataclass(frozen=True)
class Step:
    """One ramp step of one side."""

    rate: float
    p99: float
    errors: int
    lag_p99: float = 0.0

    @property
    def ok(self) -> bool:
        # A NaN p99 (nothing answered) is not a pass: NaN < limit is False.
        return self.errors == 0 and self.p99 < P99_LIMIT_MS

    @property
    def client_bound(self) -> bool:
        return self.lag_p99 > CLIENT_LAG_LIMIT_MS


def sustained(steps: Sequence[Step]) -> float:
    """The highest rate sustained: the last step before the first failing one (steps in rising
    order), 0 when the first step already fails."""
    best = 0.0
    for step in steps:
        if not step.ok:
            break
        best = step.rate
    return best


def ratio(numerator: float, denominator: float) -> str:
    # A bare overhead at or below zero is noise (the proxy cannot be faster than no proxy).
    if not denominator > 0.005 or math.isnan(numerator):
        return "n/a"
    return f"{numerator / denominator:.2f}x"


# --- a minimal HTTP/1.1 client ------------------------------------------------------------------


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

    def close(self) -> None:
        self.writer.close()


class PoolExhaustedError(Exception):
    pass


FAILURES = (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ValueError, IndexError, PoolExhaustedError)


class Pool:
    """Idle keep-alive connections, opened on demand; a failed connection is closed, not reused."""

    def __init__(self, port: int):
        self.port = port
        self.idle: list[Connection] = []
        self.open_count = 0

    async def call(self, raw: bytes) -> int:
        conn = self.idle.pop() if self.idle else await self._open()
        try:
            status = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT)
        except BaseException:
            self.open_count -= 1
            conn.close()
            raise
        self.idle.append(conn)
        return status

    async def _open(self) -> Connection:
        if self.open_count >= MAX_CONNECTIONS:
            raise PoolExhaustedError  # the server is far behind; more sockets would not help it
        self.open_count += 1
        try:
            return await asyncio.wait_for(Connection.open(self.port), REQUEST_TIMEOUT)
        except BaseException:
            self.open_count -= 1
            raise

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def post(path: str, body: dict, headers: dict[str, str]) -> bytes:
    data = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


# --- load -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    name: str
    port: int
    request: bytes


async def open_loop(side: Side, rate: float, count: int) -> Sample:
    """`count` requests at `rate`, each sent when due whatever the earlier ones are doing."""
    pool = Pool(side.port)
    sample = Sample()
    # perf_counter, not loop.time(): uvloop's clock moves in whole milliseconds.
    clock = time.perf_counter
    start = clock() + 0.01

    async def one(due: float) -> None:
        sent = clock()
        sample.sent += 1
        sample.lags.append((sent - due) * 1000)
        try:
            status = await pool.call(side.request)
        except FAILURES as exc:
            sample.fail(type(exc).__name__)
            return
        sample.latencies.append((clock() - sent) * 1000)
        if status >= 300:
            sample.fail(str(status))

    tasks = []
    for i in range(count):
        due = start + i / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    pool.close()
    return sample


async def closed_loop(side: Side, count: int) -> Sample:
    """One request at a time on one connection: the per-request cost without any queueing."""
    pool = Pool(side.port)
    sample = Sample()
    for _ in range(count):
        started = time.perf_counter()
        sample.sent += 1
        try:
            status = await pool.call(side.request)
        except FAILURES as exc:
            sample.fail(type(exc).__name__)
            continue
        sample.latencies.append((time.perf_counter() - started) * 1000)
        if status >= 300:
            sample.fail(str(status))
    pool.close()
    return sample


Phase = Callable[[Side], Awaitable[Sample]]


async def interleaved(sides: Sequence[Side], phase: Phase, rounds: int) -> dict[str, Sample]:
    """Each round runs every side once, in order; results are pooled per side."""
    pooled = {side.name: Sample() for side in sides}
    for _ in range(rounds):
        for side in sides:
            pooled[side.name].extend(await phase(side))
            await asyncio.sleep(PAUSE)
    return pooled


# --- report -----------------------------------------------------------------------------------

HEADER = (
    f"{'':>6} {'n/side':>6} | {'direct':^15} | {'bare':^15} | {'gateway':^15} | {'bare overhead':^15} | "
    f"{'gw overhead':^15} | {'gw/bare ovh':^15} | {'lag':>7} | {'errors':>11}\n"
    f"{'rate':>6} {'':>6} | " + " | ".join([f"{'p50':>7} {'p99':>7}"] * 6) + f" | {'p99':>7} | {'d/b/g':>11}"
)


def row(label: str, samples: dict[str, Sample]) -> str:
    d, b, g = samples["direct"], samples["bare"], samples["gateway"]
    cells = []
    for q in (50, 99):
        cells.append((b.p(q) - d.p(q), g.p(q) - d.p(q)))
    (b50, g50), (b99, g99) = cells
    lag = max(s.lag_p99 for s in samples.values())
    errors = f"{d.errors}/{b.errors}/{g.errors}"
    n = max(s.sent for s in samples.values())
    return (f"{label:>6} {n:>6} | {d.p(50):>7.2f} {d.p(99):>7.2f} | {b.p(50):>7.2f} {b.p(99):>7.2f} | "
            f"{g.p(50):>7.2f} {g.p(99):>7.2f} | {b50:>7.2f} {b99:>7.2f} | {g50:>7.2f} {g99:>7.2f} | "
            f"{ratio(g50, b50):>7} {ratio(g99, b99):>7} | {lag:>7.2f} | {errors:>11}")


def kinds_text(kinds: Counter[str]) -> str:
    return ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common())


def error_lines(samples: dict[str, Sample]) -> list[str]:
    return [f"{'':>13}{name} errors: {kinds_text(s.kinds)}" for name, s in samples.items() if s.errors]


def step_line(side: str, step: Step, kinds: Counter[str]) -> str:
    verdict = "ok" if step.ok else "FAIL"
    bound = "  client-bound" if step.client_bound else ""
    errors = f" ({kinds_text(kinds)})" if kinds else ""
    return (f"ramp {side:>7} {step.rate:>5.0f}/s  p99 {step.p99:>8.2f} ms  "
            f"lag p99 {step.lag_p99:>6.2f} ms  {verdict}{bound}  errors {step.errors}{errors}")


def sustained_text(steps: Sequence[Step]) -> str:
    rate = sustained(steps)
    ceiling = steps and steps[-1].ok and steps[-1].rate == RAMP_RATES[-1]
    return f">={rate:.0f}/s (the ramp's ceiling)" if ceiling else f"{rate:.0f}/s"


Shares = list[tuple[str, float]]


def top_frames(collapsed: str, count: int = 15) -> tuple[Shares, Shares, int]:
    """From py-spy's raw output (`frame;frame;... samples` per line): the `count` frames with the
    largest inclusive share (on the stack at all) and self share (the leaf), as fractions of all
    samples, and the number of samples. The outermost frames (the entry point down to the event
    loop, all on the same most samples) say nothing and are left out of the inclusive list."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        frames = stack.split(";")
        weight = int(samples)
        total += weight
        for frame in set(frames):  # a recursive frame counts once per sample
            inclusive[frame] += weight
        own[frames[-1]] += weight
    if total == 0:
        return [], [], 0
    outermost = max(inclusive.values())
    telling = [(f, c) for f, c in inclusive.most_common() if c < outermost]
    return ([(f, c / total) for f, c in telling[:count]],
            [(f, c / total) for f, c in own.most_common(count)], total)


def print_profile(path: Path) -> None:
    by_inclusive, by_self, total = top_frames(path.read_text(errors="replace"))
    print(f"  {total} samples holding the GIL (the gateway's Python CPU time)")
    for title, frames in (("inclusive", by_inclusive), ("self", by_self)):
        print(f"  top {len(frames)} by {title} share:")
        for frame, share in frames:
            print(f"    {share * 100:>5.1f}%  {frame}")


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, chars: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-chars:]
    return ""


def wait_http(port: int, path: str, process: subprocess.Popen, what: str, log: Path,
              expect: bytes = b"HTTP/1.1 200") -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.settimeout(5)
            sock.sendall(get(path))
            if sock.recv(64).startswith(expect):
                return
        time.sleep(0.1)  # polling for a process to come up
    raise SystemExit(f"{what} did not start within {START_TIMEOUT:.0f}s:\n{log_tail(log)}")


def stop(children: Sequence[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=5)


@dataclass(frozen=True)
class Ports:
    backend: int
    bare: int
    gateway: int


def gateway_env(ports: Ports, emulator_host: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PORT": str(ports.gateway),
        "WEB_CONCURRENCY": "1",
        "FIRESTORE_EMULATOR_HOST": emulator_host,
        "HOST": "127.0.0.1",  # loopback only, never every interface
        "GCP_PROJECT": "bench",
        "GATEWAY_API_KEYS": f"bench:{API_KEY}",
        "RUNPOD_API_KEY": RUNPOD_KEY,
        "GATEWAY_RATE_LIMIT_RPS": "1000000",
        "GATEWAY_RATE_LIMIT_BURST": "1000000",
        "MODELSTACK_MODELS": json.dumps({"bench": {"provider": "runpod", "timeoutSeconds": 30,
                                                   "url": f"http://127.0.0.1:{ports.backend}/v2/ep-bench"}}),
    }


def bare_env(ports: Ports) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PORT": str(ports.bare), "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "1", "BACKEND_URL": f"http://127.0.0.1:{ports.backend}/v2/ep-bench",
            "RUNPOD_API_KEY": RUNPOD_KEY}


@contextlib.contextmanager
def servers(emulator_host: str, logs: Path) -> Iterator[tuple[Ports, dict[str, subprocess.Popen]]]:
    """Backend, bare proxy and gateway running; yields their ports and processes (by side name).

    Their output goes to log files in `logs` (the gateway logs every start and stop), shown only
    when one fails to start."""
    ports = Ports(free_port(), free_port(), free_port())
    commands = {
        "echo backend": ([sys.executable, str(ROOT / "benchmarks/echo_backend.py"), "--port", str(ports.backend)],
                         None, ports.backend, "/v2/x/health", b"HTTP/1.1 "),  # its 401 will do
        "bare proxy": ([sys.executable, str(ROOT / "benchmarks/bare_proxy.py")], bare_env(ports), ports.bare,
                       "/healthz", b"HTTP/1.1 200"),
        "gateway": ([sys.executable, "-m", "inference.gateway.serve"], gateway_env(ports, emulator_host),
                    ports.gateway, "/healthz", b"HTTP/1.1 200"),
    }
    children: dict[str, subprocess.Popen] = {}
    try:
        for what, (argv, env, *_) in commands.items():
            with open(logs / f"{what.replace(' ', '-')}.log", "wb") as log:
                children[what] = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                  stdin=subprocess.DEVNULL)
        for what, (_, _, port, path, expect) in commands.items():
            wait_http(port, path, children[what], what, logs / f"{what.replace(' ', '-')}.log", expect)
        yield ports, {"bare": children["bare proxy"], "gateway": children["gateway"]}
    finally:
        stop(list(children.values()))


def sides(ports: Ports) -> tuple[Side, Side, Side]:
    job_input = {"prompt": "a photo of a cat", "steps": 1}
    # What the gateway sends the backend for this model, so the backend does the same work for all.
    runpod_body = {"input": job_input, "policy": {"executionTimeout": 30000}}
    runpod_auth = {"Authorization": f"Bearer {RUNPOD_KEY}"}
    return (
        Side("direct", ports.backend, post("/v2/ep-bench/runsync?wait=30000", runpod_body, runpod_auth)),
        Side("bare", ports.bare, post("/runsync", runpod_body, {})),
        Side("gateway", ports.gateway, post("/v1/models/bench:predict", {"input": job_input},
                                            {"Authorization": f"Bearer {API_KEY}"})),
    )


# --- phases -----------------------------------------------------------------------------------


@dataclass
class Results:
    rates: dict[float, dict[str, Sample]] = field(default_factory=dict)
    ramp: dict[str, list[Step]] = field(default_factory=dict)
    healthz: Sample = field(default_factory=Sample)
    cpu_us: dict[str, float | None] = field(default_factory=dict)
    """Server CPU time per request, by side, at CPU_RATE."""


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far, from /proc (None where there is no /proc)."""
    try:
        # Fields after the command name, which is in parentheses and may contain spaces.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(cpu_before: float | None, cpu_after: float | None, requests: int) -> float | None:
    """Microseconds of CPU per request, or None when it could not be read."""
    if cpu_before is None or cpu_after is None or requests <= 0:
        return None
    return (cpu_after - cpu_before) / requests * 1e6


async def cpu_cost(cpu_sides: Sequence[Side], processes: dict[str, subprocess.Popen], rounds: int,
                   seconds: float) -> dict[str, float | None]:
    """Each server's CPU time per request at CPU_RATE, interleaved in rounds.

    The ramp's ceiling on this machine is noisy: client, backend and both servers share its cores.
    CPU per request is not: it is what bounds the rate one server process sustains on a core of its
    own (a Cloud Run instance), so `bare / gateway` estimates the sustained-rate ratio."""
    spent = {side.name: 0.0 for side in cpu_sides}
    served = {side.name: 0 for side in cpu_sides}
    readable = True
    for _ in range(rounds):
        for side in cpu_sides:
            pid = processes[side.name].pid
            before = cpu_seconds(pid)
            sample = await open_loop(side, CPU_RATE, round(CPU_RATE * seconds))
            after = cpu_seconds(pid)
            if before is None or after is None:
                readable = False
            else:
                spent[side.name] += after - before
                served[side.name] += sample.sent
            await asyncio.sleep(PAUSE)
    if not readable:
        return {name: None for name in spent}
    return {name: cpu_per_request(0.0, spent[name], served[name]) for name in spent}


def cpu_text(cpu_us: dict[str, float | None]) -> str:
    bare, gateway = cpu_us.get("bare"), cpu_us.get("gateway")
    if bare is None or gateway is None:
        return "server CPU per request: not measured (no /proc on this system)"
    return (f"server CPU per request at {CPU_RATE:.0f}/s: bare {bare:.0f} us, gateway {gateway:.0f} us; "
            f"sustained-rate estimate gateway/bare {ratio(bare, gateway)} (target >= 0.80x)")


async def rate_rows(all_sides: Sequence[Side], args: argparse.Namespace, results: Results) -> None:
    print(HEADER)
    for rate in (float(r) for r in args.rates.split(",")):
        count = max(1, round(rate * args.seconds / args.rounds))
        pooled = await interleaved(all_sides, lambda side, r=rate, c=count: open_loop(side, r, c), args.rounds)
        results.rates[rate] = pooled
        print("\n".join([row(f"{rate:.0f}", pooled), *error_lines(pooled)]), flush=True)
    per_round = math.ceil(1000 / args.rounds)
    serial = await interleaved(all_sides, lambda side: closed_loop(side, per_round), args.rounds)
    print("\n".join([row("serial", serial), *error_lines(serial)]), flush=True)
    print("(latencies and overheads in ms; overhead = side - direct at that percentile; lag = client lag p99)")


async def ramp(ramp_sides: Sequence[Side], seconds: float) -> dict[str, list[Step]]:
    """Both sides step up together (interleaved per step), each stopping at its first failing step."""
    steps: dict[str, list[Step]] = {side.name: [] for side in ramp_sides}
    for rate in RAMP_RATES:
        going = [side for side in ramp_sides if all(step.ok for step in steps[side.name])]
        if not going:
            break
        for side in going:
            sample = await open_loop(side, rate, round(rate * seconds))
            step = Step(rate, sample.p(99), sample.errors, sample.lag_p99)
            steps[side.name].append(step)
            print(step_line(side.name, step, sample.kinds), flush=True)
            # An overloaded server may still be working off abandoned requests: let it drain.
            await asyncio.sleep(PAUSE if step.ok else 2.0)
    return steps


async def profile_gateway(gateway: subprocess.Popen, predict: Side, healthz: Side, seconds: float,
                          directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    for name, side, rate in (("predict", predict, 300), ("healthz", healthz, 200)):
        output = directory / f"gateway-{name}.txt"
        print(f"\nprofile: gateway {name} at {rate}/s -> {output}", flush=True)
        duration = max(1, math.ceil(seconds))
        command = [str(py_spy if py_spy.exists() else "py-spy"), "record", "--pid", str(gateway.pid),
                   # --gil: only samples holding the GIL, i.e. the gateway's Python CPU time, not
                   # the event loop waiting in epoll or idle threads; --nonblocking: never pause it.
                   "--rate", "500", "--format", "raw", "--function", "--gil", "--nonblocking",
                   "--output", str(output), "--duration", str(duration)]
        try:
            spy = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except OSError as exc:
            print(f"  py-spy cannot run ({exc}); skipping the profile")
            return
        try:
            await asyncio.sleep(0.5)  # attaching takes a moment; load that runs before it is not sampled
            # Load for the whole sampling window, so every sample sees the gateway under load.
            await open_loop(side, rate, round(rate * (duration + 0.5)))
            spy_out, _ = spy.communicate(timeout=duration + 30)
        finally:
            stop([spy])
        if spy.returncode != 0 or not output.exists():
            print(f"  py-spy could not profile the gateway (exit {spy.returncode}): {spy_out.strip()[-500:]}")
            print("  (attaching needs ptrace permission: run as the same user with CAP_SYS_PTRACE or "
                  "kernel.yama.ptrace_scope=0)")
            continue
        print_profile(output)


def summary(results: Results) -> list[str]:
    """The issue's targets, each with the measured value; the last line is the ramp's verdict."""
    lines = ["", "targets:"]
    at200 = results.rates.get(200.0)
    if at200 is not None:
        d, b, g = at200["direct"], at200["bare"], at200["gateway"]
        lines.append(f"  200/s: gateway/bare overhead at p50 {ratio(g.p(50) - d.p(50), b.p(50) - d.p(50))} "
                     f"(target <= 1.30x); gateway overhead at p99 {g.p(99) - d.p(99):.2f} ms (target <= 2 ms)"
                     + (f"; errors d/b/g {d.errors}/{b.errors}/{g.errors}" if d.errors + b.errors + g.errors else ""))
    h = results.healthz
    lines.append(f"  /healthz at 200/s: p99 {h.p(99):.3f} ms, errors {h.errors} (target p99 <= 1 ms)")
    bare, gateway = results.ramp.get("bare", []), results.ramp.get("gateway", [])
    top_bare, top_gateway = sustained(bare), sustained(gateway)
    verdict = (f"  highest rate with p99 < {P99_LIMIT_MS:.0f} ms and no errors: bare {sustained_text(bare)}, "
               f"gateway {sustained_text(gateway)}, gateway/bare {ratio(top_gateway, top_bare)} (target >= 0.80x)")
    bound = [f"{name} {step.rate:.0f}/s" for name, steps in results.ramp.items() for step in steps if step.client_bound]
    if bound:
        verdict += (f"; client-bound at {', '.join(bound)} (client lag p99 > {CLIENT_LAG_LIMIT_MS:.0f} ms): "
                    "those steps say more about the load generator (and the CPUs it shares) than about the server")
    lines.append(verdict)
    lines.append(f"  {cpu_text(results.cpu_us)}")
    return lines


async def measure(ports: Ports, processes: dict[str, subprocess.Popen], args: argparse.Namespace) -> Results:
    direct, bare, through = sides(ports)
    healthz = Side("healthz", ports.gateway, get("/healthz"))
    results = Results()
    # Warm-up: connection pools, code paths, the interpreter's caches, on every side.
    for side in (direct, bare, through):
        await open_loop(side, 200, 400)
        await closed_loop(side, 100)
    await rate_rows((direct, bare, through), args, results)
    print()
    results.ramp = await ramp((bare, through), args.ramp_seconds)
    results.cpu_us = await cpu_cost((bare, through), processes, max(2, args.rounds // 2), args.ramp_seconds)
    print(f"\n{cpu_text(results.cpu_us)}", flush=True)
    results.healthz = await open_loop(healthz, 200, round(200 * args.seconds))
    h = results.healthz
    print(f"\n/healthz (gateway) at 200/s: n={h.sent} p50 {h.p(50):.3f} ms p99 {h.p(99):.3f} ms errors {h.errors}")
    if args.profile:
        await profile_gateway(processes["gateway"], through, healthz, args.seconds, Path(args.profile))
    return results


def run_client(coroutine: Awaitable[Results]) -> Results:
    try:
        import uvloop
    except ImportError:  # the stock loop works too; it costs the client more CPU per request
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each side's share of a rate")
    parser.add_argument("--rates", default="50,200,500", help="requests per second, comma-separated")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds per rate")
    parser.add_argument("--ramp-seconds", type=float, default=3.0, help="duration of each ramp step")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the gateway; raw stacks go to DIR")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.ramp_seconds <= 0:
        parser.error("--seconds and --ramp-seconds must be positive, --rounds at least 1")
    return args


def main() -> None:
    args = parse_args()
    from tests.support.firestore_emulator import FirestoreEmulator

    emulator = FirestoreEmulator.start()
    try:
        with tempfile.TemporaryDirectory(prefix="gateway-latency-") as logs, \
                servers(emulator.host, Path(logs)) as (ports, processes):
            results = run_client(measure(ports, processes, args))
        for line in summary(results):
            print(line)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
