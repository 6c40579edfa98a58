"""How many Modal RPCs, and how much time, each provider operation costs, against the fake.

    python benchmarks/modal_rpcs.py [--repeat 3]

Runs every operation of ModalSecret, ModalVolume and ModalApp (the real `modal` client, the provider
classes the engine runs) against the fake Modal control plane on 127.0.0.1 and prints, per
operation: RPC calls by method and wall milliseconds (best of --repeat). RPC counts are what a real
deploy sends to Modal (the fake answers instantly, so the times show our own and the client's
overhead, including the deploy subprocess, not Modal's latency). Compare times on the same machine only.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from components.providers.modal.app import AppProvider  # noqa: E402
from components.providers.modal.secret import SecretProvider  # noqa: E402
from components.providers.modal.volume import VolumeProvider  # noqa: E402
from inference import modal_settings  # noqa: E402
from tests.fakes.modal_server import FakeModal  # noqa: E402

Row = tuple[str, dict[str, int], float]


def configured(provider: Any, fake: FakeModal) -> Any:
    creds = {"modalTokenId": fake.token_id, "modalTokenSecret": fake.token_secret}
    provider.configure(SimpleNamespace(config={"modelstack:credentials": json.dumps(creds)}))
    return provider


def measure(fake: FakeModal, label: str, fn: Callable[[], Any], rows: list[Row]) -> Any:
    fake.reset_calls()
    started = time.perf_counter()
    result = fn()
    elapsed = (time.perf_counter() - started) * 1000
    rows.append((label, dict(collections.Counter(fake.methods())), elapsed))
    return result


def scenario(fake: FakeModal, work: Path) -> list[Row]:
    rows: list[Row] = []
    secret = configured(SecretProvider(), fake)
    inputs = secret.check({}, {"name": "bench-env", "environment": "main", "values": {"HF_TOKEN": "x" * 40}}).inputs
    outs = measure(fake, "Secret create", lambda: secret.create(inputs).outs, rows)
    measure(fake, "Secret diff (no-op)", lambda: secret.diff("main/bench-env", outs, inputs), rows)
    measure(fake, "Secret read", lambda: secret.read("main/bench-env", outs), rows)
    new = {**inputs, "values": {"HF_TOKEN": "y" * 40}}
    outs = measure(fake, "Secret update (re-create)", lambda: secret.update("main/bench-env", outs, new).outs, rows)
    measure(fake, "Secret delete", lambda: secret.delete("main/bench-env", outs), rows)

    seed = work / "seed"
    seed.mkdir()
    for i in range(20):
        (seed / f"shard-{i:02d}.json").write_text(json.dumps({"i": i}))
    (seed / "weights.bin").write_bytes(os.urandom(5 * 1024 * 1024))
    volume = configured(VolumeProvider(), fake)
    vinputs = volume.check({}, {"name": "bench-data", "environment": "main", "seedDir": str(seed), "seedPath": "/ckpt"}).inputs
    created = measure(fake, "Volume create + seed (21 files, 5 MiB)", lambda: volume.create(vinputs), rows)
    vid, vouts = created.id, created.outs
    measure(fake, "Volume diff (no-op)", lambda: volume.diff(vid, vouts, volume.check({}, vinputs).inputs), rows)
    measure(fake, "Volume read (seeded)", lambda: volume.read(vid, vouts), rows)
    (seed / "shard-00.json").write_text("changed")
    reseeded = volume.check({}, vinputs).inputs
    vouts = measure(fake, "Volume update (1 file changed)", lambda: volume.update(vid, vouts, reseeded).outs, rows)
    measure(fake, "Volume delete", lambda: volume.delete(vid, vouts), rows)

    app = configured(AppProvider(), fake)
    ainputs = app.check({}, {
        "name": "bench-app", "environment": "main", "gpu": ["T4"], "maxContainers": 1,
        "env": {"MODELSTACK_MODEL_ID": "org/model"}, "webEndpoints": ["Model.web"], "tag": "bench",
    }).inputs
    created = measure(fake, "App create (deploy inference/modal_app.py)", lambda: app.create(ainputs), rows)
    aid, aouts = created.id, created.outs
    measure(fake, "App diff (no-op)", lambda: app.diff(aid, aouts, app.check({}, ainputs).inputs), rows)
    measure(fake, "App read", lambda: app.read(aid, aouts), rows)
    changed = {**ainputs, "maxContainers": 2}
    aouts = measure(fake, "App update (redeploy)", lambda: app.update(aid, aouts, changed).outs, rows)
    measure(fake, "App delete (stop)", lambda: app.delete(aid, aouts), rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    best: dict[str, Row] = {}
    os.chdir(ROOT)
    for _ in range(args.repeat):
        with FakeModal() as fake, tempfile.TemporaryDirectory() as tmp:
            os.environ["MODAL_SERVER_URL"] = fake.url
            os.environ["MODAL_CONFIG_PATH"] = str(Path(tmp) / "none.toml")
            requirements = ROOT / "inference" / "worker" / "requirements.txt"
            if not requirements.is_file():
                stand_in = Path(tmp) / "requirements.txt"
                stand_in.write_text("huggingface_hub>=0.24,<2\n")
                os.environ[modal_settings.REQUIREMENTS] = str(stand_in)
            for label, calls, ms in scenario(fake, Path(tmp)):
                if label not in best or ms < best[label][2]:
                    best[label] = (label, calls, ms)

    width = max(len(label) for label in best)
    print(f"{'operation':<{width}}  {'RPCs':>4}  {'ms':>7}  calls")
    for label, calls, ms in best.values():
        detail = ", ".join(f"{m} x{n}" if n > 1 else m for m, n in sorted(calls.items()))
        print(f"{label:<{width}}  {sum(calls.values()):>4}  {ms:>7.1f}  {detail or '-'}")


if __name__ == "__main__":
    main()
