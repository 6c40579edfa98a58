"""Cloud Run's limits for a service (https://cloud.google.com/run/docs/configuring)."""

from __future__ import annotations

from components.limits.bounds import Bound

DOCS = "https://cloud.google.com/run/docs/configuring"

CPUS = ("1", "2", "4", "8")
"""Whole vCPUs per instance (fractional CPU needs concurrency 1 and is not offered here)."""
MEMORY_MIB = Bound(128, 32 * 1024, f"{DOCS}/services/memory-limits (128 MiB to 32 GiB)", "MiB")
REQUEST_TIMEOUT = Bound(1, 3600, f"{DOCS}/request-timeout (up to 60 minutes)", "s")
CONCURRENCY = Bound(1, 1000, f"{DOCS}/concurrency (up to 1000)")
MIN_INSTANCES = Bound(0, 1000, f"{DOCS}/min-instances")
MAX_INSTANCES = Bound(1, 1000, f"{DOCS}/max-instances (default quota 1000 per region)")
PORT = Bound(1, 65535, f"{DOCS}/containers#configure-port")
PROBE_SECONDS = Bound(1, 240, f"{DOCS}/healthchecks (period and timeout up to 240 s)", "s")
PROBE_INITIAL_DELAY = Bound(0, 240, f"{DOCS}/healthchecks", "s")
PROBE_FAILURE_THRESHOLD = Bound(1, 100, f"{DOCS}/healthchecks")
RESERVED_ENV = frozenset({"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"})
"""Set by Cloud Run itself; the API refuses a service that sets them."""

# Cloud Run regions (https://cloud.google.com/run/docs/locations), which bound where a stack lives.
REGIONS = frozenset(
    ["africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2", "australia-southeast1", "australia-southeast2", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10", "europe-west12", "me-central1", "me-central2", "me-west1", "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1", "southamerica-east1", "southamerica-west1", "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4"]
)
