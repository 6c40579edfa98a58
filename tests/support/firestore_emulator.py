"""The real Firestore emulator (`gcloud emulators firestore start`) for tests, one per session.

Use the `firestore_emulator` fixture (import it into a conftest). It sets FIRESTORE_EMULATOR_HOST
for the session, so Firestore clients created in the tests talk to the emulator. Isolate tests
with a unique project id each (`emulator.new_project()`): the emulator keeps projects apart, so
nothing needs resetting, and `reset(project)` clears one when a test wants a clean slate.

If gcloud or its emulator component is missing the fixture fails with a message saying what to
install; it never skips.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

START_TIMEOUT = 90


class EmulatorError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FirestoreEmulator:
    def __init__(self, host: str, process: subprocess.Popen[bytes], log_path: str):
        self.host = host
        self._process = process
        self._log_path = log_path

    @staticmethod
    def new_project() -> str:
        return f"test-{uuid.uuid4().hex[:12]}"

    def reset(self, project: str, database: str = "(default)") -> None:
        """Delete every document of one project's database (the emulator's REST reset)."""
        url = f"http://{self.host}/emulator/v1/projects/{project}/databases/{database}/documents"
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10) as response:
            response.read()

    def log_tail(self, chars: int = 2000) -> str:
        with open(self._log_path, errors="replace") as fh:
            return fh.read()[-chars:]

    @classmethod
    def start(cls) -> FirestoreEmulator:
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise EmulatorError(
                "the Firestore emulator tests need the Google Cloud CLI: install `gcloud` with the "
                "cloud-firestore-emulator component (and Java 11+); these tests are not skipped"
            )
        host = f"127.0.0.1:{_free_port()}"
        log = tempfile.NamedTemporaryFile(prefix="firestore-emulator-", suffix=".log", delete=False)  # noqa: SIM115
        # A session of its own, so stopping it can signal gcloud and the Java server it starts.
        process = subprocess.Popen(
            [gcloud, "emulators", "firestore", "start", f"--host-port={host}", "--quiet"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        emulator = cls(host, process, log.name)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EmulatorError(f"the Firestore emulator exited with {process.returncode}:\n{emulator.log_tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://{host}/", timeout=1) as response:
                if response.status == 200:
                    return emulator
            time.sleep(0.2)  # waiting for a process to come up, not for a test condition
        emulator.stop()
        raise EmulatorError(f"the Firestore emulator did not start within {START_TIMEOUT}s:\n{emulator.log_tail()}")

    def stop(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=5)
        with contextlib.suppress(OSError):
            os.unlink(self._log_path)


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    emulator = FirestoreEmulator.start()
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host
    try:
        yield emulator
    finally:
        if previous is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous
        emulator.stop()
