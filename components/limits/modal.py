"""Modal's limits for a deployed function (`@app.function` / `@app.cls`)."""

from __future__ import annotations

from components.limits.bounds import Bound

SCALEDOWN_WINDOW = Bound(
    2, 3600, "modal client: modal/_functions.py, `scaledown_window` must be between 2 and 3600", "s"
)
"""How long an idle container waits before it stops (config `idleTimeoutSeconds`)."""
TIMEOUT = Bound(1, 24 * 3600, "https://modal.com/docs/guide/timeouts (at most 24 hours)", "s")
"""A call's execution timeout (config `executionTimeoutSeconds`)."""
STARTUP_TIMEOUT = Bound(1, 24 * 3600, "https://modal.com/docs/guide/timeouts (at most 24 hours)", "s")
"""Time for `@modal.enter` (model download and load) before a container counts as failed."""
DEFAULT_STARTUP_TIMEOUT = 20 * 60
"""Without `startup_timeout`, Modal gives `@modal.enter` the function's `timeout` (modal/app.py:
`startup_timeout or timeout`), sized for one request, not for downloading a pinned snapshot on a
cold start; 20 minutes covers a few GB over a slow Hub day."""
CONTAINERS = Bound(0, 1000, "modelstack guard: Modal documents no cap below its workspace limits")
"""min/max/buffer containers; Modal applies workspace limits beyond this guard."""

GPU_COUNT = Bound(1, 8, "https://modal.com/docs/guide/gpu (up to 8 GPUs per container)")
MAX_GPUS_PER_TYPE: dict[str, int] = {"A10G": 4, "A10": 4}
"""Types with a lower cap than GPU_COUNT: 'A10 instances support up to 4 GPUs' (same page)."""


def max_gpu_count(gpu_id: str) -> int:
    """The most GPUs of this type one Modal container can have."""
    return MAX_GPUS_PER_TYPE.get(gpu_id.upper(), int(GPU_COUNT.maximum or 1))

VOLUME_VERSION = Bound(0, 2, "modal_proto api.proto VolumeFsVersion: 0 unspecified (the server's default), 1, 2")
"""The volume filesystem version a new volume is created with."""

CONTAINER_DISK_GUARANTEED_GB = 100
"""Disk a Modal container can count on without `ephemeral_disk=`: 'a per-container disk quota
(100s of GBs)' (https://modal.com/docs/guide/resources, Disk limits); its low end, for warnings."""
EPHEMERAL_DISK = Bound(1, 3 * 1024 * 1024, "https://modal.com/docs/guide/resources (ephemeral_disk, up to 3 TiB)", "MiB")
