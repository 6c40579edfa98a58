"""Runpod's limits for serverless endpoints, templates and network volumes (REST v2)."""

from __future__ import annotations

from components.limits.bounds import Bound

OPENAPI = "Runpod REST v2 OpenAPI schema (tests/fakes/specs/runpod)"

IDLE_TIMEOUT = Bound(1, 3600, f"{OPENAPI}: EndpointWorkers.idleTimeout", "s")
EXECUTION_TIMEOUT = Bound(
    1, 7 * 24 * 3600, "https://docs.runpod.io/serverless/endpoints/endpoint-configurations (up to 7 days)", "s"
)
QUEUE_DELAY = Bound(0.5, None, f"{OPENAPI}: QueueDelayScaling.queueDelay", "s")
REQUEST_COUNT = Bound(1, None, f"{OPENAPI}: RequestCountScaling.requestCount")
WORKERS = Bound(0, 100, f"{OPENAPI}: EndpointWorkers.min/max (>= 0); 100 is modelstack's guard")
GPU_COUNT = Bound(1, 8, f"{OPENAPI}: BaseEndpointGpuConfig.count (>= 1); serverless workers have at most 8")
CONTAINER_DISK = Bound(1, 1000, f"{OPENAPI}: BaseContainerConfig.disk (>= 1); 1000 GB is Runpod's console maximum", "GB")
NETWORK_VOLUME_SIZE = Bound(10, 4096, f"{OPENAPI}: NetworkVolume.size", "GB")
CPU_VCPUS = Bound(2, None, f"{OPENAPI}: BaseCpuConfig.vcpuCount")

GPU_COUNT_PER_TYPE_SOURCE = (
    "none offline: Runpod's REST v2 schema bounds a serverless worker's gpu count only by >= 1 "
    "(BaseEndpointGpuConfig.count); per-type caps exist only at run time, as GET /v2/catalog/gpus "
    "GpuType.maxCount (pods, per cloud), so modelstack applies GPU_COUNT to every type"
)
"""Why Runpod has no per-type GPU-count table here (Modal does: components/limits/modal.py)."""
CONTAINER_DISK_DEFAULT_GB = 50
"""Disk for a worker whose model is not on the Hub (a bucket checkpoint): no file sizes to size from."""
