"""Container entry point: `python -m inference.gateway.serve`.

Cloud Run sets PORT (HOST defaults to all interfaces). The worker count defaults to the CPUs this container may use (Cloud Run's
`cpu` limit), since one async worker saturates about one core; WEB_CONCURRENCY overrides it.
Each worker is a separate process with its own rate-limit buckets and job runner; jobs are
coordinated through Firestore leases, so any number of workers and instances is safe.
"""

from __future__ import annotations

import os

import uvicorn


def worker_count(env: dict[str, str] | os._Environ[str] = os.environ) -> int:
    raw = env.get("WEB_CONCURRENCY", "").strip()
    if raw:
        return max(1, int(raw))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def main() -> None:
    uvicorn.run(
        "inference.gateway.app:create_app_from_env",
        factory=True,
        # Cloud Run routes to the container on all interfaces; tests and benchmarks set HOST=127.0.0.1.
        host=os.environ.get("HOST", "0.0.0.0"),
        port=int(os.environ.get("PORT", "8080")),
        workers=worker_count(),
        access_log=False,  # Cloud Run logs every request already; ours carry no headers or bodies
        proxy_headers=True,
        forwarded_allow_ips="*",  # only Cloud Run's front end can reach the container
        timeout_graceful_shutdown=8,  # Cloud Run allows 10 s after SIGTERM
    )


if __name__ == "__main__":
    main()
