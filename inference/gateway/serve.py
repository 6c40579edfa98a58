"""Container entry point: `python -m inference.gateway.serve`, and the server settings it runs with.

Cloud Run sets PORT (HOST defaults to all interfaces). The settings below were picked on the
numbers of `benchmarks/gateway_latency.py` (see the README's benchmark section):

- loop uvloop, HTTP httptools: the C event loop and parser. On the predict path most of the
  remaining CPU is socket writes; the pure-Python asyncio loop and h11 parser cost more per request.
- one worker per CPU the container may use. One async worker saturates about one core, and a
  second process on the same core only adds context switches. Cloud Run's `cpu` limit is a CFS
  quota: the affinity mask can show every host CPU, so the quota (cgroup v2 `cpu.max`, v1
  `cpu.cfs_quota_us`) is what counts. WEB_CONCURRENCY overrides it.
- keep-alive 620 s: Cloud Run's front end keeps connections to the container open up to 600 s; a
  server that closed idle connections earlier would race a request sent on one it is closing
  (a 502 for the caller). uvicorn's default is 5 s.
- no access log: Cloud Run logs every request already, and a log line per request is hot-path work.
- no X-Forwarded-* rewriting: the gateway never reads the client address or scheme.

Each worker is a separate process with its own rate-limit buckets and job runner; jobs are
coordinated through Firestore leases, so any number of workers and instances is safe.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import uvicorn

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Above the 600 s for which Cloud Run's front end reuses an idle connection to the container.
KEEP_ALIVE_SECONDS = 620


def cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the container may use by its CFS quota, or None when there is no quota."""
    v2 = cgroup_root / "cpu.max"
    try:
        if v2.is_file():
            quota, _, period = v2.read_text().strip().partition(" ")
            return None if quota == "max" else int(quota) / int(period or 100000)
        v1 = cgroup_root / "cpu"
        quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
        period_us = int((v1 / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(env: Mapping[str, str] = os.environ, cgroup_root: Path = CGROUP_ROOT) -> int:
    raw = env.get("WEB_CONCURRENCY", "").strip()
    if raw:
        return max(1, int(raw))
    cpus = _usable_cpus()
    quota = cpu_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def server_options(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """`uvicorn.run` keyword arguments shared by the gateway and the benchmark's bare proxy."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "workers": worker_count(env),
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "access_log": False,
        # Nothing in the gateway reads the client's address or scheme (responses carry relative
        # Location headers), so uvicorn's X-Forwarded-* rewriting would be per-request work for nothing.
        "proxy_headers": False,
    }


def main() -> None:
    uvicorn.run(
        "inference.gateway.app:create_app_from_env",
        factory=True,
        # Cloud Run routes to the container on all interfaces; tests and benchmarks set HOST=127.0.0.1.
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8080")),
        timeout_graceful_shutdown=8,  # Cloud Run allows 10 s after SIGTERM
        **server_options(),
    )


if __name__ == "__main__":
    main()
