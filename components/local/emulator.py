"""The Firestore emulator (`gcloud emulators firestore start`) as the gateway's database, on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

from components.local.processes import HOST, Process, StartError, base_environment, free_port, http_ok

START_TIMEOUT = 90.0


def start_firestore(root: Path, log_dir: Path) -> tuple[Process, str]:
    """Start the emulator; returns the process and its `host:port` (for FIRESTORE_EMULATOR_HOST)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StartError(
            "the local run needs the Firestore emulator: install the Google Cloud CLI (`gcloud`) with its "
            "cloud-firestore-emulator component and Java 11+"
        )
    host = f"{HOST}:{free_port()}"
    process = Process(
        "firestore-emulator", [gcloud, "emulators", "firestore", "start", f"--host-port={host}", "--quiet"],
        base_environment(root), root, log_dir,
    )
    try:
        process.wait_until(lambda: http_ok(f"http://{host}/", timeout=1), START_TIMEOUT, "emulator answering")
    except StartError:
        process.stop()
        raise
    return process, host
