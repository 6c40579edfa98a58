"""Processes and servers of a local run: started on 127.0.0.1, waited for within bounds, always stopped.

`Process` runs one program in a session of its own (so stopping it reaches everything it started:
gcloud's Java emulator, the Runpod SDK's heartbeat process), logs to a file, and is stopped with
SIGTERM, then SIGKILL after a grace period. `ServerThread` serves an ASGI app in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
# What a child process needs from ours to run at all; nothing else is inherited, so a stray
# MODELSTACK_* variable in the caller's shell cannot stand in for one the program failed to set.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "VIRTUAL_ENV", "JAVA_HOME", "CLOUDSDK_CONFIG")


class StartError(RuntimeError):
    """A process or server did not come up; the message says which and ends with its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def base_environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in INHERITED}
    env["PYTHONPATH"] = str(root)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Process:
    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log_dir: Path, stdin: bytes | None = None
    ):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self._popen = subprocess.Popen(
                self.argv, env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE, start_new_session=True,
            )
        if stdin is not None:
            # Secrets for the child go through a pipe, never its argv or environment.
            assert self._popen.stdin is not None
            self._popen.stdin.write(stdin)
            self._popen.stdin.close()

    @property
    def pid(self) -> int:
        return self._popen.pid

    def running(self) -> bool:
        return self._popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready` until it holds; fail at once if the process exits, or after `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise StartError(f"{self.name} exited with {self._popen.returncode} before {what}:\n{self.log_tail()}")
            if ready():
                return
            time.sleep(0.2)
        raise StartError(f"{self.name}: no {what} within {timeout:g}s:\n{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        if self._popen.poll() is None:
            self._signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout=grace)
        # The group too: children (the SDK's heartbeat, gcloud's Java) may outlive the leader.
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=5)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)


def python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def http_ok(url: str, headers: Mapping[str, str] | None = None, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


class ServerThread:
    """uvicorn serving `app` on 127.0.0.1 in a daemon thread of this process."""

    def __init__(self, app: Any, port: int | None = None):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port or 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://{HOST}:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", loop="asyncio",
                                timeout_graceful_shutdown=3)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    def start(self, timeout: float = 20) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise StartError(f"the server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
