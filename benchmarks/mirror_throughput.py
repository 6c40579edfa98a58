"""Mirror throughput: a 1 GB checkpoint from the (fake) Hub into S3 (moto), against `aws s3 cp`.

    python benchmarks/mirror_throughput.py [--size-mb 1024] [--rounds 1]

Both measurements run in the same invocation, against the same moto server, with the same bytes:

- baseline: boto3 `upload_file` of the checkpoint from local disk (what `aws s3 cp` does: managed
  multipart transfer, parts uploaded in parallel);
- mirror: `mirror_copy.mirror()` streaming the same file from the fake Hub over HTTP (redirect to
  its "CDN", real huggingface_hub session) through the hashing reader into the same managed
  transfer, verifying sha256 and writing the manifest.

moto and the fake Hub each run in their own process, and each measured transfer runs in a fresh
process so its peak RSS (ru_maxrss) is its own: the mirror's should stay near the in-flight parts,
not the file size. Prints MB/s (1 MB = 10^6 bytes), the ratio mirror / baseline of each
back-to-back round and their median, and the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
sys.path.insert(0, str(ROOT))

BUCKET = "bench-models"
REPO = "bench/checkpoint-1g"
KEYS = {"accessKeyId": "FAKEBENCHMARKKEY0001", "secretAccessKey": "benchmark-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError as exc:
            # an HTTP error status still means the server is up
            if getattr(exc, "code", None):
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


HUB_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from tests.fakes.hub_server import FakeHub
hub = FakeHub().start()
hub.add_repo(sys.argv[2])
sha = hub.commit(sys.argv[2], {"config.json": b'{"bench": true}', "model.safetensors": Path(sys.argv[3])})
print(hub.url, sha, flush=True)
while True:
    time.sleep(3600)
"""


def s3_client(endpoint: str) -> Any:
    from components.providers import s3_client as clients

    return clients.client(endpoint, "us-east-1", "default", {"s3": {"default": KEYS}})


def run_baseline(endpoint: str, path: str, queue: Any) -> None:
    from components.providers.mirror_copy import transfer_config

    client = s3_client(endpoint)
    size = os.path.getsize(path)
    start = time.perf_counter()
    client.upload_file(path, BUCKET, "baseline/model.safetensors", Config=transfer_config(size))
    seconds = time.perf_counter() - start
    queue.put({"seconds": seconds, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def run_mirror(endpoint: str, hub_url: str, sha: str, queue: Any) -> None:
    os.environ["HF_ENDPOINT"] = hub_url
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    from components.providers import mirror_copy

    dest = mirror_copy.Destination(s3_client(endpoint), BUCKET, mirror_copy.prefix_for(REPO, sha))
    start = time.perf_counter()
    result = mirror_copy.mirror(mirror_copy.HubSource(REPO, sha, None), dest)
    seconds = time.perf_counter() - start
    queue.put(
        {
            "seconds": seconds,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "copied": result.copied,
            "manifest": result.manifest["files"],
        }
    )


def measure(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get(timeout=1800)
    process.join(timeout=60)
    if process.exitcode not in (0, None):
        raise RuntimeError(f"{target.__name__} exited with {process.exitcode}")
    return result


def clear(client: Any) -> None:
    from components.providers.s3 import empty_bucket

    empty_bucket(client, BUCKET)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024, help="checkpoint size in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=1, help="alternating baseline/mirror rounds")
    args = parser.parse_args()

    from tests.fakes.checkpoints import write_checkpoint

    checkpoint = DATA / f"checkpoint-{args.size_mb}m.safetensors"
    if not checkpoint.exists():
        print(f"writing {checkpoint.relative_to(ROOT)} ...", flush=True)
        write_checkpoint(checkpoint, args.size_mb * 2**20)
    size = checkpoint.stat().st_size

    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hub = subprocess.Popen(
        [sys.executable, "-c", HUB_SCRIPT, str(ROOT), REPO, str(checkpoint)], stdout=subprocess.PIPE, text=True
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(f"{endpoint}/moto-api/")
        assert hub.stdout is not None
        hub_url, sha = hub.stdout.readline().split()
        client = s3_client(endpoint)
        client.create_bucket(Bucket=BUCKET)

        load_before = os.getloadavg()
        results: dict[str, list[dict[str, Any]]] = {"baseline": [], "mirror": []}
        for round_ in range(args.rounds):
            # Alternate which goes first, so a machine that gets busier or quieter does not
            # always favour the same side; each round is a back-to-back pair.
            order = ("baseline", "mirror") if round_ % 2 == 0 else ("mirror", "baseline")
            for side in order:
                if side == "baseline":
                    results["baseline"].append(measure(run_baseline, endpoint, str(checkpoint)))
                else:
                    mirrored = measure(run_mirror, endpoint, hub_url, sha)
                    assert "model.safetensors" in mirrored["copied"], "the mirror skipped the weights: not a measurement"
                    results["mirror"].append(mirrored)
                clear(client)

        def mbps(run: dict[str, Any]) -> float:
            return size / 1e6 / run["seconds"]

        ratios = [mbps(m) / mbps(b) for m, b in zip(results["mirror"], results["baseline"], strict=True)]
        report = {
            "checkpoint_bytes": size,
            "rounds": args.rounds,
            "baseline_upload_file_mb_s": [round(mbps(r), 1) for r in results["baseline"]],
            "mirror_mb_s": [round(mbps(r), 1) for r in results["mirror"]],
            "ratio_per_round": [round(r, 3) for r in ratios],
            "ratio_median": round(statistics.median(ratios), 3),
            "baseline_peak_rss_mb": max(round(r["maxrss_mb"]) for r in results["baseline"]),
            "mirror_peak_rss_mb": max(round(r["maxrss_mb"]) for r in results["mirror"]),
            "cpu_count": os.cpu_count(),
            "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        }
        print(json.dumps(report, indent=2))
    finally:
        hub.kill()
        moto.kill()
        hub.wait()
        moto.wait()


if __name__ == "__main__":
    main()
