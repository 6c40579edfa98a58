"""`python -m components.local --stack dev`: run a stack's gateway and workers on this machine.

Runs the program offline, checks the runtime contract, starts everything on 127.0.0.1 and prints
the gateway's URL; Ctrl-C (or SIGTERM) stops every process it started. `--check` stops after the
contract check. Secret values are this run's own random ones: they go to `<run dir>/secrets.env`
(readable by you only), never to the terminal.

Exit status: 0 ok; 1 invalid config or broken contract; 2 a process did not start.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from components.config import ConfigError
from components.local.capture import Runtime, capture
from components.local.contract import ContractError, check
from components.local.processes import StartError
from components.local.stack import LocalStack
from components.local.tiny import TinyModelError
from components.offline import StackFileError


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.local",
        description="Run a stack's gateway and GPU workers on 127.0.0.1 (tiny CPU models, local stand-ins for the clouds).",
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument("--config-file", type=Path, help="stack file to use instead of Pulumi.<stack>.yaml")
    parser.add_argument("--run-dir", type=Path, help="where models, logs and secrets.env go (default: a new temp dir)")
    parser.add_argument("--webhook-ca", type=Path, help="PEM CA the gateway trusts for webhook receivers on 127.0.0.1")
    parser.add_argument("--check", action="store_true", help="only run the program and check the runtime contract")
    return parser.parse_args(argv)


def write_run_file(stack: LocalStack, runtime: Runtime) -> Path:
    """`local.json` (addresses, no secrets) and `secrets.env` (this run's values, mode 0600)."""
    secrets_path = stack.run_dir / "secrets.env"
    fd = os.open(secrets_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f"GATEWAY_API_KEY={stack.api_key}\n")
        for path, value in sorted(runtime.secrets.items()):
            out.write(f"{path}={value}\n")
    info = {
        "stack": runtime.stack,
        "gateway": stack.gateway_url,
        "secrets": str(secrets_path),
        "logs": str(stack.logs),
        "models": {
            name: {"provider": w.runtime.provider, "endpointId": w.runtime.endpoint_id, "url": w.url,
                   "task": w.runtime.env.get("MODELSTACK_MODEL_TASK"), "revision": w.runtime.env.get("MODELSTACK_MODEL_REVISION"),
                   "modelDir": str(w.model_dir), "pid": w.process.pid if w.process else None}
            for name, w in stack.workers.items()
        },
        "processes": stack.processes,
        "skipped": stack.skipped,
        "pid": os.getpid(),
    }
    path = stack.run_dir / "local.json"
    path.write_text(json.dumps(info, indent=2))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        runtime = capture(args.stack, config_file=args.config_file)
    except (ConfigError, StackFileError) as exc:
        print(exc, file=sys.stderr)
        return 1
    problems = check(runtime)
    if problems:
        print(ContractError(problems), file=sys.stderr)
        return 1
    if args.check:
        print(f"stack {args.stack}: runtime contract ok ({len(runtime.services)} service(s), {len(runtime.workers)} worker(s))")
        return 0

    run_dir = (args.run_dir or Path(tempfile.mkdtemp(prefix=f"modelstack-local-{args.stack}-"))).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = LocalStack(runtime, run_dir, webhook_ca=args.webhook_ca)
    print(f"starting stack {args.stack} on 127.0.0.1 (logs: {stack.logs}) ...", flush=True)
    try:
        stack.start()
    except (StartError, TinyModelError) as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        run_file = write_run_file(stack, runtime)
        print(f"gateway  {stack.gateway_url}")
        for name, worker in stack.workers.items():
            print(f"model    {name}  ({worker.runtime.provider})  {worker.url}")
        for name, worker in stack.workers.items():
            if worker.runtime.unmanaged_secrets:
                print(f"note     {name}: Modal secret(s) {', '.join(worker.runtime.unmanaged_secrets)} are not "
                      "managed by the stack; their values are absent here")
        for what in stack.skipped:
            print(f"skipped  {what}: runs your own code, which a local run does not start")
        print(f"API key  GATEWAY_API_KEY in {run_dir / 'secrets.env'}; details in {run_file}")
        print(f'try      curl -H "Authorization: Bearer $GATEWAY_API_KEY" {stack.gateway_url}/v1/models')
        print("ready; Ctrl-C stops everything", flush=True)
        while not stop.wait(1.0):  # woken by SIGINT/SIGTERM
            pass
    finally:
        stack.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
