"""`LocalStack`: a stack's gateway and workers running on 127.0.0.1 with the environment the program gave them.

    runtime = capture("dev")
    with LocalStack(runtime, run_dir) as stack:      # checks the contract, starts everything, waits
        stack.gateway_url, stack.api_key, stack.workers["flux"].model_dir

Start order: the contract check (nothing starts if it fails), a tiny model per worker, the
Firestore emulator, the Runpod queue stand-in, the gateway, then the workers; ready means every
worker's readiness callback reached the gateway (GET /v1/models shows it) and the gateway's
/readyz passes. Stop undoes all of it, in reverse, whatever state start got to.

Each process gets the program's environment for it, with its URLs rewritten to loopback
(components/local/rewrite.py), plus only what the platform itself would add or what running
here needs, listed in `*_OVERLAY` and the functions below; an overlay never replaces a value the
program set, except GATEWAY_WEBHOOK_ALLOW_CIDRS, which gets loopback appended.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from components.local import contract, tiny
from components.local.capture import Runtime, ServiceRuntime, WorkerRuntime
from components.local.emulator import start_firestore
from components.local.processes import (
    HOST,
    Process,
    ServerThread,
    StartError,
    base_environment,
    free_port,
    http_ok,
    python,
)
from components.local.rewrite import remap_mounts, rewrite_urls
from components.local.runpod_queue import RunpodQueue
from components.offline import REPO_ROOT

READY_TIMEOUT = 240.0
LOOPBACK_CIDR = "127.0.0.1/32"
# What every local worker gets on top of its environment: the tiny model's directory instead of a
# Hub download (MODELSTACK_MODEL_PATH is the worker's first source), never the Hub, and the CPU.
WORKER_OVERLAY = {"HF_HUB_OFFLINE": "1", "MODELSTACK_DEVICE": "cpu"}
# Runpod runs its system and GPU fitness checks in real workers; a CPU-only machine fails them.
RUNPOD_OVERLAY = {"RUNPOD_SKIP_GPU_CHECK": "true", "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true", "RUNPOD_LOG_LEVEL": "INFO"}


@dataclass
class LocalWorker:
    runtime: WorkerRuntime
    url: str
    """Where the gateway reaches it: the queue's /v2/<id> (Runpod) or the web endpoint (Modal)."""
    model_dir: Path
    process: Process | None = None


@dataclass
class LocalStack:
    runtime: Runtime
    run_dir: Path
    webhook_ca: Path | None = None
    """A CA the gateway trusts for webhook receivers on loopback (GATEWAY_WEBHOOK_CA_FILE)."""
    root: Path = REPO_ROOT
    gateway: ServiceRuntime | None = None
    gateway_url: str = ""
    workers: dict[str, LocalWorker] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Services and workers that run the user's own code, which a local run cannot stand in for."""
    queue: RunpodQueue | None = None
    _processes: list[Process] = field(default_factory=list)
    _queue_server: ServerThread | None = None

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        contract.require(self.runtime)
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()
        if self._queue_server is not None:
            self._queue_server.stop()
            self._queue_server = None

    @property
    def processes(self) -> dict[str, int]:
        """Name -> process id (each the leader of its own process group) of what is running now."""
        return {p.name: p.pid for p in self._processes}

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def api_key(self) -> str:
        """A key the gateway accepts: the first entry of its GATEWAY_API_KEYS (this run's own value)."""
        from inference.gateway import settings

        assert self.gateway is not None
        entry = self.gateway.environment[settings.API_KEYS].replace("\n", ",").split(",")[0].strip()
        return entry.partition(":")[2].strip() if ":" in entry else entry

    # ------------------------------------------------------------------ starting

    def _start(self, timeout: float) -> None:
        runtime = self.runtime
        gateways = [s for s in runtime.services.values() if s.runnable]
        self.skipped = [f"service {s.key}" for s in runtime.services.values() if not s.runnable]
        self.skipped += [f"worker {w.model}" for w in runtime.workers.values() if not w.runnable]
        if len(gateways) != 1:
            raise StartError(
                f"a local run needs exactly one service running our gateway image (images/gateway); "
                f"stack {runtime.stack} has {len(gateways)}"
            )
        self.gateway = gateways[0]
        gateway_port = free_port()
        self.gateway_url = f"http://{HOST}:{gateway_port}"

        runpod = [w for w in runtime.workers.values() if w.runnable and w.provider == "runpod"]
        if runpod:
            from inference.gateway import settings

            key = self.gateway.environment.get(settings.RUNPOD_API_KEY, "")
            self.queue = RunpodQueue([w.endpoint_id for w in runpod], [key] if key else [])
            self._queue_server = ServerThread(self.queue.app()).start()
        bases = {url: self.gateway_url for url in self.gateway.urls}
        for worker in runtime.workers.values():
            if not worker.runnable:
                continue
            if worker.provider == "runpod":
                assert self._queue_server is not None
                local = f"{self._queue_server.url}/v2/{worker.endpoint_id}"
            else:
                local = f"http://{HOST}:{free_port()}"
            bases[worker.url] = local
            task = worker.env.get("MODELSTACK_MODEL_TASK", "")
            directory = tiny.build(task, self.run_dir / "models" / worker.model, f"{runtime.stack}/{worker.model}")
            self.workers[worker.model] = LocalWorker(worker, local, directory)

        emulator, emulator_host = start_firestore(self.root, self.logs)
        self._processes.append(emulator)
        self._start_gateway(gateway_port, emulator_host, bases)
        for local in self.workers.values():
            self._start_worker(local, bases)
        self._wait_ready(timeout)

    def _start_gateway(self, port: int, emulator_host: str, bases: dict[str, str]) -> None:
        from inference.gateway import settings

        assert self.gateway is not None
        env = rewrite_urls(self.gateway.environment, bases)
        overlay = {
            "HOST": HOST,
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
            "FIRESTORE_EMULATOR_HOST": emulator_host,
            # google-cloud-storage: anonymous, and at a closed loopback port rather than Google. Results
            # too large for the job document (GATEWAY_RESULT_INLINE_BYTES) fail here, visibly.
            "STORAGE_EMULATOR_HOST": f"http://{HOST}:{free_port()}",
        }
        if self.webhook_ca is not None:
            overlay[settings.WEBHOOK_CA_FILE] = str(self.webhook_ca)
        _overlay(env, overlay, "the gateway")
        allowed = [c for c in env.get(settings.WEBHOOK_ALLOW_CIDRS, "").split(",") if c.strip()]
        env[settings.WEBHOOK_ALLOW_CIDRS] = ",".join([*allowed, LOOPBACK_CIDR])
        process = Process("gateway", python("inference.gateway.serve"), {**base_environment(self.root), **env},
                          self.root, self.logs)
        self._processes.append(process)
        process.wait_until(lambda: http_ok(f"{self.gateway_url}/healthz"), 60, "answer on /healthz")

    def _start_worker(self, local: LocalWorker, bases: dict[str, str]) -> None:
        from inference import env as names
        from inference import modal_settings

        worker = local.runtime
        env = rewrite_urls(worker.env, bases)
        overlay = {**WORKER_OVERLAY, names.MODEL_PATH: str(local.model_dir)}
        stdin = None
        if worker.provider == "runpod":
            assert self.queue is not None and self._queue_server is not None
            if names.HF_HOME not in env:  # the image's default (/cache) is not writable here
                overlay[names.HF_HOME] = str(self.run_dir / "hf" / worker.model)
            overlay.update(RUNPOD_OVERLAY)
            overlay.update(self.queue.worker_env(self._queue_server.url, worker.endpoint_id, f"{worker.endpoint_id}-local-1"))
            argv = python("inference.worker", "runpod")  # the worker image's entry point and default command
        else:
            mounts = {path: str(self.run_dir / "volumes" / worker.model / path.strip("/")) for path in worker.volumes}
            for directory in mounts.values():
                Path(directory).mkdir(parents=True, exist_ok=True)
            env = remap_mounts(env, mounts, json_vars=(modal_settings.ENV,))
            overlay["MODAL_TASK_ID"] = f"ta-local-{worker.model}"  # Modal sets it in every container
            argv = python("components.local.modal_web", "--port", local.url.rsplit(":", 1)[1])
            stdin = json.dumps({"proxyToken": self._proxy_token()}).encode()
        _overlay(env, overlay, f"worker {worker.model}")
        process = Process(f"worker-{worker.model}", argv, {**base_environment(self.root), **env}, self.root,
                          self.logs, stdin=stdin)
        local.process = process
        self._processes.append(process)

    def _proxy_token(self) -> list[str] | None:
        """The workspace proxy token the Modal stand-in accepts: the one the gateway was given."""
        from inference.gateway import settings

        assert self.gateway is not None
        env = self.gateway.environment
        token_id, secret = env.get(settings.MODAL_PROXY_TOKEN_ID), env.get(settings.MODAL_PROXY_TOKEN_SECRET)
        return [token_id, secret] if token_id and secret else None

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = set(self.workers)
        while pending:
            readiness = self._readiness()
            for name in sorted(pending):
                record = readiness.get(name) or {}
                process = self.workers[name].process
                if record.get("status") == "ready":
                    pending.discard(name)
                elif record.get("status") == "failed" or (process is not None and not process.running()):
                    tail = process.log_tail() if process is not None else ""
                    raise StartError(f"worker {name} did not become ready: {record.get('error', 'it exited')}\n{tail}")
            if pending and time.monotonic() > deadline:
                tails = "\n".join(f"--- {n}\n{self.workers[n].process.log_tail() if self.workers[n].process else ''}" for n in sorted(pending))
                raise StartError(f"no readiness callback reached the gateway from {', '.join(sorted(pending))} "
                                 f"within {timeout:g}s\n{tails}")
            if pending:
                time.sleep(0.5)
        gateway = next(p for p in self._processes if p.name == "gateway")
        gateway.wait_until(lambda: http_ok(f"{self.gateway_url}/readyz"), 30, "pass /readyz")

    def _readiness(self) -> dict[str, dict[str, object]]:
        request = urllib.request.Request(f"{self.gateway_url}/v1/models", headers={"Authorization": f"Bearer {self.api_key}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                models = json.loads(response.read())["models"]
        except (OSError, ValueError, KeyError):
            return {}
        return {m["name"]: m.get("readiness") or {} for m in models}


def _overlay(env: dict[str, str], overlay: dict[str, str], who: str) -> None:
    clash = sorted(set(env) & set(overlay))
    if clash:
        # The run would no longer use the program's value: say so rather than hide it.
        raise StartError(f"{who}: the program sets {', '.join(clash)}, which a local run must set itself")
    env.update(overlay)
